"""Media types come from magic bytes, whatever the name says."""
import numpy as np
import pytest

from tests.media import encode, mp4_clip, photo
from transforms.media.sniffing import HEAD_BYTES, sniff

PICTURE = photo(1, 64, 48)


@pytest.mark.parametrize(
    "fmt, expected",
    [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tiff")],
)
def test_images_are_recognised_by_their_bytes(fmt, expected):
    kind = sniff(encode(PICTURE, fmt)[:HEAD_BYTES])
    assert (kind.media_type, kind.format, kind.decodable) == ("image", expected, True)


def test_videos_are_recognised():
    assert sniff(mp4_clip(0.3)[:HEAD_BYTES]).media_type == "video"
    assert sniff(b"\x1a\x45\xdf\xa3" + b"\x00" * 28).format == "matroska"
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST").format == "avi"
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00").format == "quicktime"
    assert sniff(b"\x00\x00\x00\x08moov").format == "quicktime"


def test_heif_is_an_image_that_is_not_decoded():
    kind = sniff(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    assert (kind.media_type, kind.decodable) == ("image", False)


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, this is text with a .jpg name",
        b"%PDF-1.7\n",
        b"BM" + b"\x00" * 30,  # "BM" alone, without a plausible header, is not a bitmap
        np.random.default_rng(3).integers(0, 256, 64, dtype=np.uint8).tobytes(),
    ],
)
def test_anything_else_is_unknown(head):
    assert sniff(head[:HEAD_BYTES]) is None
