"""Synthetic media for tests and the bundled sample: photo-like pictures and their altered copies.

`photo(seed)` draws a deterministic picture with the structure PDQ needs (smooth colour fields,
shapes, fine texture): different seeds give unrelated pictures, far apart in PDQ.
"""
import io

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from transforms.media.images import FrameHash


def photo(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 200, (6, 8, 3), dtype=np.uint8)  # mid tones, as most photos
    image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(c) for c in rng.integers(30, 200, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1 + 8, y1 + 8), fill=colour)
    texture = rng.normal(0, 6, (height, width, 1))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + texture, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def watermarked(image: Image.Image) -> Image.Image:
    """A semi-transparent handle in the lower right corner, as reposting accounts add."""
    copy = image.convert("RGBA")
    overlay = Image.new("RGBA", copy.size, (0, 0, 0, 0))
    w, h = copy.size
    font = ImageFont.load_default(size=max(12, h // 24))
    ImageDraw.Draw(overlay).text((int(w * 0.70), int(h * 0.90)), "@reposter", fill=(255, 255, 255, 160), font=font)
    return Image.alpha_composite(copy, overlay).convert("RGB")


def altered_copies(image: Image.Image) -> dict:
    """name -> bytes of copies a re-upload typically is (all must still match the original)."""
    w, h = image.size
    return {
        "reencoded.jpg": encode(image, "JPEG", quality=80),
        "quality35.jpg": encode(image, "JPEG", quality=35),
        "half.jpg": encode(image.resize((w // 2, h // 2), Image.LANCZOS), "JPEG", quality=90),
        "brighter.jpg": encode(ImageEnhance.Brightness(image).enhance(1.25), "JPEG", quality=90),
        "watermarked.jpg": encode(watermarked(image), "JPEG", quality=90),
        "grey.png": encode(image.convert("L"), "PNG"),
        "copy.webp": encode(image, "WEBP", quality=80),
        "upscaled-12mp.jpg": encode(image.resize((4000, 3000), Image.BICUBIC), "JPEG", quality=92),
    }


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height pixels, all black, compressed to a few hundred KB at most
    (a decompression bomb: tiny on disk, huge once decoded). Built row by row, never in memory."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def clip_frames(seed: int, seconds: float = 3.0, fps: int = 10, size=(320, 180)):
    """The frames of a synthetic clip: a slow pan across a wide photo-like picture."""
    width, height = size
    base = photo(seed, width * 2, height)
    count = int(seconds * fps)
    return [base.crop((i * width // count, 0, i * width // count + width, height)) for i in range(count)]


def with_bars(frame: Image.Image, width: int, height: int, colour=(0, 0, 0)) -> Image.Image:
    """The frame scaled into width x height, centred on bars of `colour` (letterbox/pillarbox)."""
    scale = min(width / frame.width, height / frame.height)
    inner = frame.resize((int(frame.width * scale), int(frame.height * scale)), Image.BICUBIC)
    canvas = Image.new("RGB", (width, height), colour)
    canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return canvas


def _mux(container, frames_per_stream, fps: int, codec: str = "libx264", options=None, gop: int = 0,
         rotation: int = 0) -> None:
    """Encode each list of frames (PIL images of one size) as a video stream of the container."""
    import av

    streams = []
    for frames in frames_per_stream:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        if rotation:
            stream.set_display_rotation(rotation)
        streams.append((stream, frames))
    for stream, frames in streams:
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def encode_clip(frames, fps: int = 10, fmt: str = "mp4", codec: str = "libx264", crf: int = 23,
                rotation: int = 0, gop: int = 0) -> bytes:
    """Frames (PIL images of one size) -> video bytes, made in memory with PyAV."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        _mux(container, [frames], fps, codec, {"crf": str(crf)} if codec == "libx264" else {}, gop, rotation)
    return out.getvalue()


def two_streams(first, second, fps: int = 10) -> bytes:
    """An MP4 with two video streams: `first` in stream 0, `second` in stream 1."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        _mux(container, [first, second], fps)
    return out.getvalue()


def faststart(frames, path) -> bytes:
    """An MP4 with its index (moov) before the media data, as web uploads are (ffmpeg moves it
    there by rewriting the file, so it is made on disk at `path`)."""
    import av

    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as container:
        _mux(container, [frames], 10)
    return path.read_bytes()


def mp4_clip(seconds: float = 1.0, fps: int = 10, size=(160, 120), seed: int = 0) -> bytes:
    """A small H.264 MP4 of a synthetic clip."""
    return encode_clip(clip_frames(seed, seconds, fps, size), fps)


def pdq_of_rgb(rgb: np.ndarray) -> FrameHash:
    """PDQ hash and quality of an H x W x 3 uint8 picture by pdqhash, the reference C++ code: what
    the tests and benchmarks compare the project's hashes with."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return FrameHash(np.packbits(bits.astype(np.uint8)).tobytes(), int(quality))
