"""Image bytes in, PDQ hashes out: guarded decoding, mode handling, PDQ and its quality, and the
border-trimmed variant of pictures that have a uniform border (see borders.py). Animated images
(GIF, WebP, APNG) are hashed frame by frame, like a video.

EXIF orientation is not applied: the PDQ reference hashers (the C++ and Python implementations
that registries use) hash the stored pixels, so a registry hash of a file describes the file as
stored. See README ("EXIF orientation").
"""
import io
import warnings
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pdqhash
from PIL import Image

from transforms.borders import trim_border
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
    time_s: Optional[float] = None  # None for a still image
    variant: str = "original"  # "original", or "trimmed": the picture without its uniform border


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


def pdq_of_rgb(rgb: np.ndarray, time_s: Optional[float] = None, variant: str = "original") -> FrameHash:
    """PDQ hash and quality of an H x W x 3 uint8 picture."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return FrameHash(np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality), time_s, variant)


def picture_hashes(rgb: np.ndarray, time_s: Optional[float] = None) -> List[FrameHash]:
    """The picture's PDQ, and its border-trimmed PDQ when it has a uniform border."""
    hashes = [pdq_of_rgb(rgb, time_s)]
    trimmed = trim_border(rgb)
    if trimmed is not None:
        hashes.append(pdq_of_rgb(trimmed, time_s, "trimmed"))
    return hashes


def hash_image(data: bytes, max_pixels: int, max_frames: int = 1000) -> List[FrameHash]:
    """PDQ hashes of an image file's bytes: its picture (and trimmed variant), or for an animated
    image each frame's, timed by the frame durations. Raises MediaError with a reason code."""
    image = open_image(data, max_pixels)
    frame_count = getattr(image, "n_frames", 1)
    if frame_count <= 1:
        return picture_hashes(decode_rgb(image))
    if frame_count > max_frames:
        raise MediaError("too_long", f"{frame_count} frames > limit {max_frames}")
    hashes, time_s = [], 0.0
    for index in range(frame_count):
        try:
            image.seek(index)
        except EOFError as e:
            raise MediaError("truncated", f"frame {index} of {frame_count} is missing: {e}") from None
        hashes.extend(picture_hashes(decode_rgb(image), round(time_s, 3)))
        time_s += image.info.get("duration", 0) / 1000.0
    return hashes
