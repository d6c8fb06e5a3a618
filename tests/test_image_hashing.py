"""The pure image hasher: modes, animated images, guarded decoding, bad bytes."""
import io
import time

import numpy as np
import pytest
from PIL import Image

from tests.media import encode, photo, png_bomb, pdq_of_rgb
from transforms.media.images import decode_rgb, hash_image
from transforms.reasons import MediaError
from transforms.signals.pdq import PDQ

LIMIT = 100_000_000
ORIGINAL = photo(5)
REFERENCE = pdq_of_rgb(np.asarray(ORIGINAL))


def distance(a, b):
    return PDQ.distance(a.pdq, b.pdq)


def test_hash_is_hex_with_quality():
    (result,) = hash_image(encode(ORIGINAL, "PNG"), LIMIT)  # no border: one hash
    assert (result.pdq, result.quality) == (REFERENCE.pdq, REFERENCE.quality)  # bit-exact with pdqhash
    assert len(result.dihedral) == 7 and len(set(result.dihedral) | {result.pdq}) == 8
    assert len(result.pdq) == 32 and any(result.pdq) and result.quality >= 50 and result.time_s is None


def in_mode(mode):
    if mode in ("I", "F", "I;16"):
        return ORIGINAL.convert("L").convert(mode)
    return ORIGINAL.convert(mode)


@pytest.mark.parametrize(
    "mode, fmt, stored_mode",
    [
        ("1", "PNG", "1"), ("L", "PNG", "L"), ("LA", "PNG", "LA"), ("P", "PNG", "P"), ("RGBA", "PNG", "RGBA"),
        ("CMYK", "JPEG", "CMYK"), ("CMYK", "TIFF", "CMYK"), ("LAB", "TIFF", "LAB"), ("I", "TIFF", "I"),
        ("I;16", "PNG", "I;16"), ("I;16", "TIFF", "I;16"), ("F", "TIFF", "F"), ("RGB", "BMP", "RGB"),
        ("RGB", "GIF", "P"),
    ],
)
def test_every_stored_mode_hashes_close_to_the_original(mode, fmt, stored_mode):
    data = encode(in_mode(mode), fmt)
    assert Image.open(io.BytesIO(data)).mode == stored_mode
    result = hash_image(data, LIMIT)[0]
    bound = 40 if mode == "1" else 16  # 1-bit dithering changes a picture more than re-encoding
    assert result.quality >= 50 and distance(result, REFERENCE) <= bound, (mode, distance(result, REFERENCE))


@pytest.mark.parametrize("mode", ["PA", "HSV", "YCbCr", "La", "RGBa", "I;16B"])
def test_modes_that_only_exist_in_memory_hash_too(mode):
    image = ORIGINAL.convert("L").convert(mode) if mode == "I;16B" else ORIGINAL.convert(mode)
    result = pdq_of_rgb(decode_rgb(image))
    assert result.quality >= 50 and distance(result, REFERENCE) <= 16, mode


def test_16_bit_pictures_are_not_clipped_white():
    grey = np.asarray(ORIGINAL.convert("L"), dtype=np.uint16) * 257  # the full 16-bit range
    data = encode(Image.fromarray(grey), "PNG")
    result = hash_image(data, LIMIT)[0]
    assert result.quality >= 50
    assert distance(result, pdq_of_rgb(np.asarray(ORIGINAL.convert("L").convert("RGB")))) <= 2


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_images_hash_every_frame_with_its_time(fmt):
    frames = [photo(5, 320, 240), photo(6, 320, 240), photo(7, 320, 240)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=250, loop=0)
    hashes = hash_image(data, LIMIT)
    assert [h.time_s for h in hashes] == [0.0, 0.25, 0.5]
    for frame, found in zip(frames, hashes):
        assert distance(found, pdq_of_rgb(np.asarray(frame))) <= 16 and found.quality >= 50


def test_animations_with_too_many_frames_are_refused():
    frames = [photo(seed, 32, 24) for seed in range(5)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(MediaError, match="too_long"):
        hash_image(data, LIMIT, max_frames=4)


def test_decompression_bomb_is_refused_before_decoding():
    data = png_bomb(30000, 30000)
    assert len(data) < 200_000
    start = time.perf_counter()
    with pytest.raises(MediaError) as caught:
        hash_image(data, LIMIT)
    assert caught.value.reason == "too_many_pixels" and "900000000" in caught.value.detail
    assert time.perf_counter() - start < 1.0  # a decode of 900 megapixels takes far longer


def test_pixel_limit_is_an_option():
    data = encode(photo(5, 200, 100), "PNG")
    with pytest.raises(MediaError, match="too_many_pixels"):
        hash_image(data, 19_999)
    assert hash_image(data, 20_000)[0].quality >= 50


@pytest.mark.parametrize(
    "data, reason",
    [
        (encode(ORIGINAL, "JPEG")[:3000], "truncated"),
        (encode(ORIGINAL, "PNG")[:3000], "truncated"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "corrupt"),
        (b"\xff\xd8\xff" + np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes(), "corrupt"),
    ],
)
def test_broken_images_fail_with_a_reason(data, reason):
    with pytest.raises(MediaError) as caught:
        hash_image(data, LIMIT)
    assert caught.value.reason == reason and caught.value.stage == "decode"


@pytest.mark.parametrize("turn", [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270,
                                  Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM,
                                  Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE])
@pytest.mark.parametrize("size", [(640, 480), (2400, 1600)])  # hashed whole, and from a reduced decode
def test_a_turned_copy_hashes_to_one_of_the_dihedral_hashes(turn, size):
    picture = photo(9, *size)
    (original,) = hash_image(encode(picture, "JPEG", quality=92), LIMIT)
    (turned,) = hash_image(encode(picture.transpose(turn), "JPEG", quality=92), LIMIT)
    closest = min(PDQ.distance(turned.pdq, h) for h in original.dihedral)
    # PDQ's box filter is one pixel off-centre for even widths, so a flip is not exact: a few bits
    assert closest <= 16 and PDQ.distance(turned.pdq, original.pdq) > 31
