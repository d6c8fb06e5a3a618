"""Image bytes in, PDQ hashes out: guarded decoding, mode handling, PDQ and its quality, the
border-trimmed variant of pictures that have a uniform border (see borders.py), and for still
pictures the regions likely to be a picture of their own (see regions.py: a photo in a
screenshot, a collage's cell), variants "region:X,Y,W,H" in the stored picture's pixels. Animated images
(GIF, WebP, APNG) are hashed frame by frame, like a video. Still pictures are hashed from their
luma by PDQ's arithmetic in NumPy (signals/pdq.py: bit-exact with pdqhash, the reference C++, on
whole pictures), large ones from a reduced decode.

EXIF orientation is not applied: the PDQ reference hashers (the C++ and Python implementations
that registries use) hash the stored pixels, so a registry hash of a file describes the file as
stored. See README ("EXIF orientation").
"""
import contextlib
import threading
import warnings
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
from PIL import Image

from transforms.media.borders import trims
from transforms.media.costs import BudgetedBytes, CpuBudget, check_jpeg_scans, gif_frame_count
from transforms.media.regions import propose
from transforms.reasons import MediaError
from transforms.signals.base import SignalHash
from transforms.signals.pdq import DIHEDRAL, pdq_of_luma

# This module enforces its own pixel limit before decoding (`max_pixels`), so Pillow's global
# bomb check, which would refuse large images with an exception of its own, is switched off.
Image.MAX_IMAGE_PIXELS = None

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

# Pictures whose shortest side is at least twice this are decoded at reduced scale (signals/pdq.py).
REDUCED_SIDE = 384
# A region is hashed from its luma resampled to this square (PDQ's own filters reduce any picture
# to 64 x 64; one size keeps their operators cached), if it spans at least REGION_MIN_SIDE
# pixels each way in the stored picture (smaller, PDQ's bits are mostly JPEG's noise).
REGION_GRID = 128
REGION_MIN_SIDE = 96
# Thinner pictures of more pixels than this are reduced along their long axis (see _reduction).
THIN_PIXELS = 16_000_000
# Decodes of pictures over THIN_PIXELS at once per process: each may take up to about 1.1 GB.
LARGE_DECODES = 2
_LARGE_DECODES = threading.BoundedSemaphore(LARGE_DECODES)

# Modes whose samples are wider than 8 bits: scaled to 0..255 before hashing (see _rgb_array).
_WIDE_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


@dataclass(frozen=True)
class FrameHash:
    """The PDQ of one picture: an image, or a video frame at `time_s` seconds."""

    pdq: bytes  # 32 bytes
    quality: int  # 0..100; below the quality threshold a hash is stored but never matched
    time_s: Optional[float] = None  # None for a still image
    variant: str = "original"  # "original", or "trimmed": the picture without its uniform border
    dihedral: Tuple[bytes, ...] = ()  # PDQ of its rotations and mirrors (signals.pdq.DIHEDRAL order)

    def signal_hashes(self) -> Iterator[SignalHash]:
        """This picture's PDQ hashes: as it is, then its rotations and mirrors ("trimmed/rotate90")."""
        yield SignalHash(self.pdq, self.variant, self.quality, self.time_s)
        for name, value in zip(DIHEDRAL, self.dihedral):
            yield SignalHash(value, f"{self.variant}/{name}", self.quality, self.time_s)


def open_image(data: bytes, max_pixels: int, budget: Optional[CpuBudget] = None) -> Image.Image:
    """Open image bytes and check their size from the header alone, before any pixel is decoded.
    With a budget, every block the decoder reads later checks it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(BudgetedBytes(data, budget))
    except Image.UnidentifiedImageError as e:
        raise MediaError("corrupt", f"not a decodable image: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MediaError("corrupt", f"unreadable image header: {e}") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaError("corrupt", f"image of {width} x {height} pixels")
    check_pixels(width, height, max_pixels)
    return image


def check_pixels(width: int, height: int, limit: int, what: str = "") -> None:
    """A picture or frame (`what`, when it is one of several) of more than `limit` pixels fails."""
    if width * height > limit:
        raise MediaError("too_many_pixels", f"{what + ': ' if what else ''}{width} x {height} = {width * height} "
                                            f"pixels > limit {limit}")


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except EOFError as e:
        raise MediaError("truncated", f"image data ends early: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        reason = "truncated" if "truncated" in str(e) else "corrupt"
        raise MediaError(reason, f"{type(e).__name__}: {e}") from None


def decode_rgb(image: Image.Image) -> np.ndarray:
    """The current frame of an opened image as an H x W x 3 uint8 array."""
    _load(image)
    return _rgb_array(image)


def _stretched_grey(image: Image.Image) -> np.ndarray:
    # Pillow's conversion of 16-bit and float pictures clips at 255 (a 16-bit scan turns
    # white). PDQ is invariant to an affine change of brightness, so stretch the range
    # actually used onto 0..255 instead.
    samples = np.nan_to_num(np.asarray(image, dtype=np.float32))
    low, high = float(samples.min()), float(samples.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.rint((samples - low) * scale).astype(np.uint8)


def _convertible(image: Image.Image) -> Image.Image:
    """The picture in a mode that Pillow converts to RGB and L faithfully."""
    if image.mode in _WIDE_MODES:
        return Image.fromarray(_stretched_grey(image))
    if image.mode == "La":  # premultiplied: Pillow converts it only through LA
        return image.convert("LA")
    return image


def _rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode == "RGB":
        return np.asarray(image)
    return np.asarray(_convertible(image).convert("RGB"))


def _reduction(width: int, height: int) -> Optional[Tuple[int, int]]:
    """(x, y) factors of a reduced decode, or None to hash the picture whole. Pictures whose
    shortest side is at least 2 * REDUCED_SIDE are reduced evenly; a thin strip of more than
    THIN_PIXELS is reduced along its long axis alone (decoding it whole in colour costs gigabytes)."""
    if min(width, height) >= 2 * REDUCED_SIDE:
        factor = min(width, height) // REDUCED_SIDE
        return factor, factor
    if width * height > THIN_PIXELS:
        return (max(1, width // REDUCED_SIDE) if width >= 2 * REDUCED_SIDE else 1,
                max(1, height // REDUCED_SIDE) if height >= 2 * REDUCED_SIDE else 1)
    return None


def _reduced_luma(image: Image.Image) -> Optional[np.ndarray]:
    """Luma of a large picture (the current frame), decoded at reduced scale (sides kept >=
    REDUCED_SIDE): JPEGs decode only their luma at 1/2, 1/4 or 1/8 scale; others are reduced by an
    integer box after decoding. None for a picture too small to gain from it (hashed whole)."""
    width, height = image.size
    factors = _reduction(width, height)
    if factors is None:
        return None
    even = factors[0] == factors[1]
    if image.format == "JPEG" and image.mode in ("RGB", "L", "YCbCr"):
        shortest = min(width, height)
        scale = REDUCED_SIDE / shortest if even else 1
        image.draft("L", (max(1, int(width * scale)), max(1, int(height * scale))))
    _load(image)
    grey = _convertible(image).convert("L")
    if even:
        factor = min(grey.size) // REDUCED_SIDE
        factors = (factor, factor)
    if max(factors) >= 2:
        grey = grey.reduce(factors)
    return np.asarray(grey, dtype=np.float32)


def _frame_hashes(image: Image.Image, time_s: Optional[float] = None, regions: int = 0) -> List[FrameHash]:
    """PDQ hashes of the current frame (and of up to `regions` of its regions): from a reduced
    decode when it is large, else whole.
    Frames of more than THIN_PIXELS wait for one of LARGE_DECODES (a process's threads decode
    at most that many at once, so that objects in flight cannot add up past a worker's memory)."""
    width, height = image.size
    with _LARGE_DECODES if width * height > THIN_PIXELS else contextlib.nullcontext():
        luma = _reduced_luma(image)
        if luma is None:
            return picture_hashes(decode_rgb(image), time_s, regions=regions)
    return luma_hashes(luma, height, width, time_s, regions)


def luma_hashes(luma: np.ndarray, full_height: int, full_width: int, time_s: Optional[float] = None,
                regions: int = 0) -> List[FrameHash]:
    """PDQ of a picture's luma, whole or reduced (see signals/pdq.py), of its border-trimmed
    part if it has one, and of up to `regions` of its regions."""
    pdq, quality, dihedral = pdq_of_luma(luma, full_height, full_width)
    hashes = [FrameHash(pdq, quality, time_s, "original", dihedral)]
    height, width = luma.shape
    for variant, (top, bottom, left, right) in trims(luma):
        trimmed_height = max(1, round((bottom - top) * full_height / height))
        trimmed_width = max(1, round((right - left) * full_width / width))
        pdq, quality, dihedral = pdq_of_luma(luma[top:bottom, left:right], trimmed_height, trimmed_width)
        hashes.append(FrameHash(pdq, quality, time_s, variant, dihedral))
    return hashes + region_hashes(luma, full_height, full_width, time_s, regions)


def region_hashes(luma: np.ndarray, full_height: int, full_width: int, time_s: Optional[float], limit: int) -> List[FrameHash]:
    """PDQ of the picture's proposed regions, each resampled to REGION_GRID square, as variants
    "region:X,Y,W,H" (in the stored picture's pixels)."""
    height, width = luma.shape
    hashes = []
    for top, bottom, left, right in propose(luma, limit):
        x, y = round(left * full_width / width), round(top * full_height / height)
        w, h = round((right - left) * full_width / width), round((bottom - top) * full_height / height)
        if min(w, h) < REGION_MIN_SIDE:
            continue
        crop = Image.fromarray(np.ascontiguousarray(luma[top:bottom, left:right], dtype=np.float32))
        grid = np.asarray(crop.resize((REGION_GRID, REGION_GRID), Image.BOX), dtype=np.float32)
        pdq, quality, dihedral = pdq_of_luma(grid, REGION_GRID, REGION_GRID)
        hashes.append(FrameHash(pdq, quality, time_s, f"region:{x},{y},{w},{h}", dihedral))
    return hashes


def picture_hashes(rgb: np.ndarray, time_s: Optional[float] = None, full_size=None, regions: int = 0) -> List[FrameHash]:
    """The picture's PDQ, its border-trimmed PDQ when it has a uniform border, and its regions'.
    `full_size` (height, width): the size it stands for when it was reduced, by default its own."""
    luma = (rgb @ LUMA_WEIGHTS).astype(np.float32)  # as pdqhash computes it
    return luma_hashes(luma, *(full_size or luma.shape), time_s, regions)


# Animated formats whose every frame is drawn on the whole canvas: a frame's size is the canvas's.
_CANVAS_FORMATS = {"GIF", "PNG", "WEBP"}


def _frame_sizes(image: Image.Image, data: bytes, max_frames: int) -> List[Tuple[int, int]]:
    """Every frame's (or page's) size, without decoding any, counted no further than max_frames
    + 1: the canvas for animations (a GIF's frames counted from its blocks, PNG's and WebP's from
    their headers), each page's header for multi-page files (TIFF), read a page at a time."""
    if image.format == "GIF":
        return [image.size] * gif_frame_count(data, max_frames + 1)
    if image.format in _CANVAS_FORMATS:
        return [image.size] * getattr(image, "n_frames", 1)
    sizes = [image.size]
    while len(sizes) <= max_frames:
        try:
            image.seek(len(sizes))
        except EOFError:
            break
        except (OSError, SyntaxError, ValueError) as e:
            raise MediaError("corrupt", f"frame {len(sizes)}: {type(e).__name__}: {e}") from None
        sizes.append(image.size)
    image.seek(0)
    return sizes


def hash_image(data: bytes, max_pixels: int, max_frames: int = 1000, max_total_pixels: Optional[int] = None,
               budget: Optional[CpuBudget] = None, regions: int = 0) -> List[FrameHash]:
    """PDQ hashes of an image file's bytes: its picture (its trimmed variant, up to `regions` of
    its regions), or for an animated
    or multi-page image each frame's, timed by the frame durations. Every frame is checked against
    `max_pixels`, and all of them together against `max_total_pixels`, before any is decoded; a
    progressive JPEG's scans are counted first too. The decode stops when it runs over its CPU
    budget (costs.py; the default one when none is given). Raises MediaError with a reason code."""
    budget = budget or CpuBudget()
    image = open_image(data, max_pixels, budget)
    if image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        check_jpeg_scans(data)
    sizes = _frame_sizes(image, data, max_frames) if getattr(image, "is_animated", False) else [image.size]
    if len(sizes) > max_frames:
        raise MediaError("too_long", f"more than {max_frames} frames")
    for index, (width, height) in enumerate(sizes):
        check_pixels(width, height, max_pixels, f"frame {index}")
    total = sum(width * height for width, height in sizes)
    if max_total_pixels is not None and total > max_total_pixels:
        raise MediaError("too_many_pixels", f"{len(sizes)} frames of {total} pixels in all > limit {max_total_pixels}")
    budget.claim(megapixels=total / 1e6)
    if len(sizes) == 1:
        return _frame_hashes(image, regions=regions)
    hashes, time_s = [], 0.0
    for index in range(len(sizes)):
        budget.check(f"frame {index}")
        try:
            image.seek(index)
        except EOFError as e:
            raise MediaError("truncated", f"frame {index} of {len(sizes)} is missing: {e}") from None
        hashes.extend(_frame_hashes(image, round(time_s, 3)))
        time_s += image.info.get("duration", 0) / 1000.0
    return hashes
