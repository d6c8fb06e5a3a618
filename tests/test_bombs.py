"""Decompression bombs of every container: each is refused before decoding or hashed from a
reduced decode, within the pixel budgets, and the peak memory of a worker stays under 3 GB
(measured by getrusage in a child process, not timed)."""
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, write
from transforms.media.images import hash_image
from transforms.reasons import MediaError

MAX_PIXELS, MAX_TOTAL = 100_000_000, 1_000_000_000


def gif_of_dots(width: int, height: int, frames: int) -> bytes:
    """A GIF whose frames are single pixels on a width x height canvas: tiny on disk, a full
    canvas in memory for every frame."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff")
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 0.1 s
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return bytes(out + b"\x3b")


def tiff_with_a_big_page(side: int) -> bytes:
    small = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8))
    big = Image.new("L", (side, side))
    buffer = io.BytesIO()
    small.save(buffer, "TIFF", save_all=True, append_images=[big], compression="tiff_deflate")
    return buffer.getvalue()


def strip(width: int, height: int) -> bytes:
    rng = np.random.default_rng(2)
    rows = np.repeat(rng.integers(0, 255, (height // 100 + 1, width), dtype=np.uint8), 100, axis=0)[:height]
    buffer = io.BytesIO()
    Image.fromarray(rows).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    files = {
        "dots-20.gif": gif_of_dots(9999, 9999, 20),  # 2e9 pixels in all
        "dots-3.gif": gif_of_dots(9999, 9999, 3),  # 3e8: decoded, reduced
        "pages.tif": tiff_with_a_big_page(12000),  # page 1: 144 MP
        "strip.png": strip(767, 123_000),  # 94 MP, thin
    }
    for name, data in files.items():
        write(str(folder / name), data)
    return folder


def test_every_frame_and_page_is_checked_before_decoding(bombs):
    with open(bombs / "pages.tif", "rb") as f:
        with pytest.raises(MediaError) as page:
            hash_image(f.read(), MAX_PIXELS, 20_000, MAX_TOTAL)
    assert page.value.reason == "too_many_pixels" and "frame 1" in page.value.detail
    with open(bombs / "dots-20.gif", "rb") as f:
        with pytest.raises(MediaError) as total:
            hash_image(f.read(), MAX_PIXELS, 20_000, MAX_TOTAL)
    assert total.value.reason == "too_many_pixels" and "in all" in total.value.detail


CHILD = """
import json, resource, sys
from transforms.media.hashing import HashSettings, hash_media
from transforms.reasons import MediaError
from transforms.storage.objects import MediaObject
outcomes = {}
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    try:
        media = hash_media(MediaObject(path, "v", len(data)), data, HashSettings())
        outcomes[path] = len(media.hashes["pdq"])
    except MediaError as e:
        outcomes[path] = e.reason
print(json.dumps({"outcomes": outcomes, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_the_bombs_cost_a_worker_less_than_3_gb(bombs):
    paths = sorted(str(p) for p in bombs.iterdir())
    result = subprocess.run([sys.executable, "-c", CHILD, *paths], cwd=REPO, capture_output=True, text=True,
                            timeout=600, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    outcomes = {os.path.basename(p): o for p, o in report["outcomes"].items()}
    assert outcomes["dots-20.gif"] == "too_many_pixels" and outcomes["pages.tif"] == "too_many_pixels"
    assert isinstance(outcomes["dots-3.gif"], int) and isinstance(outcomes["strip.png"], int)
    assert report["peak_kb"] * 1024 < 3 * 2**30, report["peak_kb"]
