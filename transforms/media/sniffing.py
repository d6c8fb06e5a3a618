"""Tell an object's media type from its first bytes (magic numbers), never from its name."""
from typing import NamedTuple, Optional

# How many leading bytes `sniff` needs.
HEAD_BYTES = 32

# ISO base media (ftyp) brands that are still images, not videos: HEIF/HEIC/AVIF.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
# Top-level QuickTime atoms that can open a .mov without an ftyp atom.
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# Sizes of the BMP information headers Pillow knows.
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


class Kind(NamedTuple):
    media_type: str  # "image" | "video"
    format: str  # "jpeg", "png", ..., "mp4", "webm", "avi"
    decodable: bool = True  # False: recognised, but this project does not decode it


def sniff(head: bytes) -> Optional[Kind]:
    """The media kind of bytes that start with `head`, or None when it is not a known media type."""
    if head.startswith(b"\xff\xd8\xff"):
        return Kind("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind("image", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Kind("image", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind("image", "webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Kind("video", "avi")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Kind("image", "tiff")
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return Kind("image", "bmp")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Kind("video", "matroska")
    if head[4:8] == b"ftyp":
        if head[8:12] in _HEIF_BRANDS:
            return Kind("image", "heif", decodable=False)
        return Kind("video", "quicktime" if head[8:12] == b"qt  " else "mp4")
    if head[4:8] in _QUICKTIME_ATOMS:
        return Kind("video", "quicktime")
    return None
