"""Image bytes in, PDQ hash out: guarded decoding, mode handling, PDQ and its quality.

EXIF orientation is not applied: the PDQ reference hashers (the C++ and Python implementations
that registries use) hash the stored pixels, so a registry hash of a file describes the file as
stored. See README ("EXIF orientation").
"""
import io
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pdqhash
from PIL import Image

from transforms.reasons import MediaError

# This module enforces its own pixel limit before decoding (`max_pixels`), so Pillow's global
# bomb check, which would refuse large images with an exception of its own, is switched off.
Image.MAX_IMAGE_PIXELS = None

# Modes whose samples are wider than 8 bits: scaled to 0..255 before hashing (see _rgb_array).
_WIDE_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


@dataclass(frozen=True)
class FrameHash:
    """The PDQ of one picture: an image, or a video frame at `time_s` seconds."""

    pdq: str  # 64 lowercase hex digits
    quality: int  # 0..100; below the quality threshold a hash is stored but never matched
    time_s: Optional[float] = None


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open image bytes and check their size from the header alone, before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError as e:
        raise MediaError("corrupt", f"not a decodable image: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MediaError("corrupt", f"unreadable image header: {e}") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaError("corrupt", f"image of {width} x {height} pixels")
    if width * height > max_pixels:
        raise MediaError(
            "too_many_pixels", f"{width} x {height} = {width * height} pixels > limit {max_pixels}"
        )
    return image


def decode_rgb(image: Image.Image) -> np.ndarray:
    """The first frame of an opened image as an H x W x 3 uint8 array."""
    try:
        image.load()
    except EOFError as e:
        raise MediaError("truncated", f"image data ends early: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        reason = "truncated" if "truncated" in str(e) else "corrupt"
        raise MediaError(reason, f"{type(e).__name__}: {e}") from None
    return _rgb_array(image)


def _rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode == "RGB":
        return np.asarray(image)
    if image.mode in _WIDE_MODES:
        # Pillow's conversion of 16-bit and float pictures clips at 255 (a 16-bit scan turns
        # white). PDQ is invariant to an affine change of brightness, so stretch the range
        # actually used onto 0..255 instead.
        samples = np.nan_to_num(np.asarray(image, dtype=np.float32))
        low, high = float(samples.min()), float(samples.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = np.rint((samples - low) * scale).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    try:
        return np.asarray(image.convert("RGB"))
    except ValueError:  # modes Pillow cannot turn into RGB directly (premultiplied La)
        return np.asarray(image.convert("LA").convert("RGB"))


def pdq_of_rgb(rgb: np.ndarray) -> FrameHash:
    """PDQ hash and quality of an H x W x 3 uint8 picture."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return FrameHash(pdq=np.packbits(bits.astype(np.uint8)).tobytes().hex(), quality=int(quality))


def hash_image(data: bytes, max_pixels: int) -> FrameHash:
    """PDQ of the first frame of an image file's bytes. Raises MediaError with a reason code."""
    return pdq_of_rgb(decode_rgb(open_image(data, max_pixels)))
