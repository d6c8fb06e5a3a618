"""Pictures inside pictures, generated from photos: the five kinds of re-upload that hold a
registered photo without being it (issue 28), each built around a photo (a positive, when the photo
is registered) or around unrelated photos only (a negative of the same kind).

- screenshot: an app's screen (status bar, title bar, lines of text, buttons) showing the photo;
- caption: the photo with a text band above, below or both, as memes have;
- collage: two to four pictures in a grid with gutters (or none), one of them the photo;
- frame: the photo inside a decorative frame (a pattern, not a flat border), with a watermark;
- pip: the photo pasted, smaller, over another photo.

Each maker takes the photo and a random generator (for sizes, places, colours and the other
pictures) and gives the composite and the photo's rectangle in it (x, y, w, h).
"""
from typing import Callable, Dict, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.media import photo

Box = Tuple[int, int, int, int]
WORDS = ("when", "you", "the", "finally", "see", "this", "me", "every", "morning", "nobody", "literally",
         "weekend", "mood", "look", "at", "what", "found", "today", "best", "ever")


def _text(rng: np.random.Generator, words: int) -> str:
    return " ".join(str(rng.choice(WORDS)) for _ in range(words))


def _other(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """An unrelated photo (seeds far from the registered ones)."""
    return photo(int(rng.integers(100_000, 1_000_000)), width, height)


def _fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    return picture.resize((max(1, width), max(1, height)), Image.BICUBIC)


def screenshot(picture: Image.Image, rng: np.random.Generator) -> Tuple[Image.Image, Box]:
    dark = rng.random() < 0.4
    width = int(rng.choice([720, 750, 828, 1080]))
    height = int(width * rng.uniform(1.7, 2.2))
    background, ink = ((18, 18, 20), (230, 230, 230)) if dark else ((255, 255, 255), (20, 20, 20))
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    small = ImageFont.load_default(size=width // 30)
    status = int(height * 0.03)
    draw.rectangle((0, 0, width, status), fill=(0, 0, 0) if dark else (245, 245, 245))
    draw.text((width * 0.05, status * 0.2), f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}", fill=ink, font=small)
    header = int(height * 0.06)
    draw.rectangle((0, status, width, status + header), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw.text((width * 0.2, status + header * 0.3), _text(rng, 2), fill=(255, 255, 255), font=small)
    y = status + header + int(height * 0.02)
    for _ in range(int(rng.integers(1, 4))):  # the post's text above the photo
        draw.text((width * 0.05, y), _text(rng, 6), fill=ink, font=small)
        y += int(width / 30 * 1.6)
    margin = int(width * rng.choice([0.0, 0.03, 0.05]))
    shown_w = width - 2 * margin
    shown_h = int(shown_w * picture.height / picture.width)
    canvas.paste(_fit(picture, shown_w, shown_h), (margin, y))
    box = (margin, y, shown_w, shown_h)
    y += shown_h + int(height * 0.015)
    for _ in range(int(rng.integers(2, 6))):  # buttons and comments below
        draw.rounded_rectangle((width * 0.05, y, width * 0.3, y + height * 0.03), radius=8, outline=ink)
        draw.text((width * 0.35, y), _text(rng, 5), fill=ink, font=small)
        y += int(height * 0.05)
    return canvas, box


def caption(picture: Image.Image, rng: np.random.Generator) -> Tuple[Image.Image, Box]:
    width = int(rng.choice([500, 640, 800]))
    shown_h = int(width * picture.height / picture.width)
    where = rng.choice(["top", "bottom", "both"])
    band = int(shown_h * rng.uniform(0.15, 0.3))
    top = band if where in ("top", "both") else 0
    bottom = band if where in ("bottom", "both") else 0
    colour, ink = ((255, 255, 255), (0, 0, 0)) if rng.random() < 0.7 else ((0, 0, 0), (255, 255, 255))
    canvas = Image.new("RGB", (width, shown_h + top + bottom), colour)
    canvas.paste(_fit(picture, width, shown_h), (0, top))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(14, band // 3))
    for y0 in ([0] if top else []) + ([top + shown_h] if bottom else []):
        draw.text((width * 0.05, y0 + band * 0.1), _text(rng, 4), fill=ink, font=font)
        draw.text((width * 0.05, y0 + band * 0.5), _text(rng, 4), fill=ink, font=font)
    return canvas, (0, top, width, shown_h)


def collage(picture: Image.Image, rng: np.random.Generator) -> Tuple[Image.Image, Box]:
    layout = rng.choice(["2x1", "1x2", "2x2", "1+2"])
    gutter = int(rng.choice([0, 4, 8, 16]))
    cell = int(rng.choice([320, 400, 480]))
    colour = tuple(int(c) for c in (rng.choice([0, 255]),) * 3)
    if layout == "2x1":
        cells = [(0, 0, cell, cell), (cell + gutter, 0, cell, cell)]
    elif layout == "1x2":
        cells = [(0, 0, cell, cell), (0, cell + gutter, cell, cell)]
    elif layout == "2x2":
        cells = [(x * (cell + gutter), y * (cell + gutter), cell, cell) for y in range(2) for x in range(2)]
    else:
        half = (cell - gutter) // 2
        cells = [(0, 0, cell, cell), (cell + gutter, 0, cell, half), (cell + gutter, half + gutter, cell, cell - half - gutter)]
    width = max(x + w for x, _, w, _ in cells)
    height = max(y + h for _, y, _, h in cells)
    canvas = Image.new("RGB", (width, height), colour)
    chosen = int(rng.integers(len(cells)))
    for i, (x, y, w, h) in enumerate(cells):
        canvas.paste(_fit(picture, w, h) if i == chosen else _other(rng, w, h), (x, y))
    return canvas, cells[chosen]


def _pattern(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A decorative frame's texture: stripes, a checker or a wood-like grain, in colour."""
    kind = rng.choice(["stripes", "checker", "grain"])
    y, x = np.mgrid[0:height, 0:width]
    if kind == "stripes":
        period = rng.uniform(6, 20)
        value = (np.sin((x + y) * 2 * np.pi / period) + 1) / 2
    elif kind == "checker":
        size = int(rng.integers(6, 18))
        value = ((x // size + y // size) % 2).astype(np.float64)
    else:
        value = (np.sin(x / rng.uniform(3, 8) + 3 * np.sin(y / rng.uniform(20, 60))) + 1) / 2
    low, high = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
    pixels = low + value[..., None] * (high - low)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def frame(picture: Image.Image, rng: np.random.Generator) -> Tuple[Image.Image, Box]:
    shown_w = int(rng.choice([480, 560, 640]))
    shown_h = int(shown_w * picture.height / picture.width)
    border = int(shown_w * rng.uniform(0.06, 0.14))
    canvas = _pattern(rng, shown_w + 2 * border, shown_h + 2 * border)
    inner = _fit(picture, shown_w, shown_h).convert("RGBA")
    overlay = Image.new("RGBA", inner.size, (0, 0, 0, 0))
    font = ImageFont.load_default(size=max(14, shown_h // 20))
    ImageDraw.Draw(overlay).text((shown_w * rng.uniform(0.05, 0.6), shown_h * rng.uniform(0.75, 0.9)),
                                 "@" + _text(rng, 1), fill=(255, 255, 255, 150), font=font)
    canvas.paste(Image.alpha_composite(inner, overlay).convert("RGB"), (border, border))
    return canvas, (border, border, shown_w, shown_h)


def pip(picture: Image.Image, rng: np.random.Generator) -> Tuple[Image.Image, Box]:
    width = int(rng.choice([800, 960, 1200]))
    height = int(width * rng.uniform(0.6, 0.8))
    canvas = _other(rng, width, height)
    shown_w = int(width * rng.uniform(0.4, 0.6))
    shown_h = min(int(shown_w * picture.height / picture.width), height - 8)
    x, y = int(rng.integers(0, width - shown_w)), int(rng.integers(0, height - shown_h))
    if rng.random() < 0.5:  # a thin white border, as picture-in-picture editors draw
        ImageDraw.Draw(canvas).rectangle((x - 3, y - 3, x + shown_w + 2, y + shown_h + 2), fill=(255, 255, 255))
    canvas.paste(_fit(picture, shown_w, shown_h), (x, y))
    return canvas, (x, y, shown_w, shown_h)


KINDS: Dict[str, Callable[[Image.Image, np.random.Generator], Tuple[Image.Image, Box]]] = {
    "screenshot": screenshot, "caption": caption, "collage": collage, "frame": frame, "pip": pip,
}
