"""Peak memory and CPU of hashing one object, by its pixels: large photos, a thin strip, an
animation on a huge canvas, a multi-page TIFF with a huge page. Each object is hashed by
`hash_media` with the default budgets in a fresh process (peak resident memory by getrusage),
beside that process's memory before reading the object.

    python -m benchmarks.bomb_memory
"""
import io
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image

from tests.media import photo
from tests.test_bombs import gif_of_dots, strip, tiff_with_a_big_page

CHILD = """
import json, resource, sys, time
from transforms.media.hashing import HashSettings, hash_media
from transforms.reasons import MediaError
from transforms.storage.objects import MediaObject
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "rb") as f:
    data = f.read()
start = time.process_time()
try:
    outcome = len(hash_media(MediaObject(sys.argv[1], "v", len(data)), data, HashSettings()).hashes["pdq"])
except MediaError as e:
    outcome = e.reason
cpu = time.process_time() - start
print(json.dumps({"before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "cpu": cpu,
                  "outcome": outcome}))
"""


def jpeg(side_w: int, side_h: int) -> bytes:
    buffer = io.BytesIO()
    photo(5, 640, 480).resize((side_w, side_h), Image.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png(side_w: int, side_h: int) -> bytes:
    buffer = io.BytesIO()
    photo(6, 640, 480).resize((side_w, side_h), Image.BICUBIC).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def main() -> int:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cases = [
        ("JPEG 4000 x 3000", 12_000_000, lambda: jpeg(4000, 3000)),
        ("JPEG 8000 x 6000", 48_000_000, lambda: jpeg(8000, 6000)),
        ("JPEG 11500 x 8600", 98_900_000, lambda: jpeg(11500, 8600)),
        ("PNG 8000 x 6000", 48_000_000, lambda: png(8000, 6000)),
        ("PNG strip 767 x 123000", 94_341_000, lambda: strip(767, 123_000)),
        ("GIF 3 dots on 9999 x 9999", 299_940_003, lambda: gif_of_dots(9999, 9999, 3)),
        ("GIF 20 dots on 9999 x 9999", 1_999_600_020, lambda: gif_of_dots(9999, 9999, 20)),
        ("TIFF page of 12000 x 12000", 144_004_096, lambda: tiff_with_a_big_page(12000)),
    ]
    print(f"{'object':30} {'pixels':>13} {'file MB':>8} {'peak MB':>8} {'over start MB':>13} {'CPU s':>6}  outcome")
    with tempfile.TemporaryDirectory() as folder:
        for label, pixels, make in cases:
            path = os.path.join(folder, "object")
            with open(path, "wb") as f:
                f.write(make())
            out = subprocess.run([sys.executable, "-c", CHILD, path], cwd=here, capture_output=True, text=True,
                                 check=True).stdout
            m = json.loads(out.strip().splitlines()[-1])
            print(f"{label:30} {pixels:>13,} {os.path.getsize(path) / 1e6:>8.1f} {m['peak'] / 1024:>8.0f} "
                  f"{(m['peak'] - m['before']) / 1024:>13.0f} {m['cpu']:>6.2f}  {m['outcome']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
