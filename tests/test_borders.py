"""Border detection: real bars are found exactly, dark or plain pictures are left alone."""
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from tests.media import encode, pdq_of_rgb, photo, with_bars
from transforms.media.borders import content_box
from transforms.media.images import LUMA_WEIGHTS, hash_image
from transforms.signals.pdq import PDQ

PICTURE = photo(21, 400, 300)


def box_of(rgb: np.ndarray):
    """content_box of an RGB picture's luma, computed as the hashers compute it."""
    return content_box((np.asarray(rgb) @ LUMA_WEIGHTS).astype(np.float32))


@pytest.mark.parametrize(
    "size, colour, box",
    [
        ((400, 400), (0, 0, 0), (50, 350, 0, 400)),  # letterbox to a square
        ((600, 300), (0, 0, 0), (0, 300, 100, 500)),  # pillarbox
        ((500, 500), (255, 255, 255), (62, 437, 0, 500)),  # letterbox, white
        ((480, 300), (128, 128, 128), (0, 300, 40, 440)),  # grey
    ],
)
def test_bars_are_found(size, colour, box):
    framed = np.asarray(with_bars(PICTURE, *size, colour))
    assert box_of(framed) == box


def test_padding_on_all_sides_is_found():
    canvas = Image.new("RGB", (500, 420), (20, 20, 20))
    canvas.paste(PICTURE, (60, 50))
    assert box_of(np.asarray(canvas)) == (50, 350, 60, 460)


def test_trimmed_hash_of_a_barred_copy_is_the_original_hash():
    framed = encode(with_bars(PICTURE, 600, 300), "JPEG", quality=90)
    as_is, trimmed, *others = hash_image(framed, 10**8)
    assert all(other.variant.startswith("trimmed-") for other in others)  # the other trims, if they differ
    original = pdq_of_rgb(np.asarray(PICTURE))
    assert trimmed.variant == "trimmed" and PDQ.distance(trimmed.pdq, original.pdq) <= 8
    assert PDQ.distance(as_is.pdq, original.pdq) > 31  # what the trim is for


@pytest.mark.parametrize("seed", range(8))
def test_dark_scenes_have_no_border(seed):
    dark = ImageEnhance.Brightness(photo(seed, 400, 300)).enhance(0.15)
    assert box_of(np.asarray(dark)) is None
    night = np.asarray(photo(seed, 400, 300)).astype(np.float32) * 0.08 + 2
    assert box_of(np.clip(night, 0, 255).astype(np.uint8)) is None


def test_plain_pictures_thin_lines_and_blank_frames_have_no_border():
    assert box_of(np.asarray(PICTURE)) is None
    lined = np.asarray(PICTURE).copy()
    lined[:3] = 0  # a 3-pixel line is not a bar
    assert box_of(lined) is None
    assert box_of(np.zeros((300, 400, 3), np.uint8)) is None
    assert box_of(np.zeros((8, 8, 3), np.uint8)) is None


def with_dark_margins(seed: int) -> Image.Image:
    """A photo whose top and bottom eighths are a near-black of its own (a night sky, a backdrop)."""
    pixels = np.asarray(photo(seed)).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, 1, pixels.shape[:2] + (1,))
    margin = pixels.shape[0] // 8
    pixels[:margin] = 3 + noise[:margin]
    pixels[-margin:] = 3 + noise[-margin:]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("size, kept_by", [((640, 640), "trimmed-strict"), ((900, 480), "trimmed-pair")])
def test_a_photo_with_dark_margins_of_its_own_matches_through_another_trim(size, kept_by):
    original = with_dark_margins(31)
    entry = pdq_of_rgb(np.asarray(original)).pdq
    frames = hash_image(encode(with_bars(original, *size), "JPEG", quality=90), 10**9)
    hashes = {h.variant: PDQ.distance(h.value, entry) for frame in frames for h in frame.signal_hashes()}
    assert hashes["trimmed"] > 31  # the bars and the photo's own margins cut together
    assert hashes[kept_by] <= 8 and min(hashes.values()) == hashes[kept_by]
