"""Regenerate the bundled sample (pipelines/sample/): `python -m tests.make_sample`.

Three registry entries (Take It Down and StopNCII style) and a small media folder holding copies
of them, unrelated pictures and one truncated file.
"""
import hashlib
import os
import shutil

import numpy as np

from pipelines.scan import SAMPLE
from tests.media import encode, photo, pdq_of_rgb

VERSION = "2026-11-01T0300Z"
SIZE = (480, 360)


def main() -> None:
    shutil.rmtree(SAMPLE, ignore_errors=True)
    media = os.path.join(SAMPLE, "media")
    version = os.path.join(SAMPLE, "registry", VERSION)
    for folder in (os.path.join(media, "uploads", "2025"), os.path.join(media, "uploads", "2026"), version):
        os.makedirs(folder)
    originals = {seed: photo(seed, *SIZE) for seed in (101, 102, 103)}
    exact_original = encode(originals[103], "JPEG", quality=85)
    files = {
        "uploads/2026/holiday.jpg": encode(originals[101], "JPEG", quality=60),
        "uploads/2026/profile-small.png": encode(originals[102].resize((240, 180)), "PNG"),
        "uploads/2025/beach.jpg": exact_original,
        "uploads/2025/cat.jpg": encode(photo(201, *SIZE), "JPEG", quality=85),
        "uploads/2025/sunset.webp": encode(photo(202, *SIZE), "WEBP", quality=80),
        "uploads/2026/broken.jpg": encode(photo(203, *SIZE), "JPEG", quality=85)[:9000],
    }
    for name, data in files.items():
        with open(os.path.join(media, name), "wb") as f:
            f.write(data)
    pdq = {seed: pdq_of_rgb(np.asarray(image)).pdq.hex() for seed, image in originals.items()}
    rows = [
        "entry_id,signal_type,signal_value,source,classification,added_at",
        f"TID-0001,pdq,{pdq[101]},take_it_down,self_reported,2026-10-02T11:00:00Z",
        f"TID-0002,pdq,{pdq[102]},take_it_down,self_reported,2026-10-15T08:30:00Z",
        f"NCII-77,pdq,{pdq[103]},stopncii,self_reported,2026-09-20T17:45:00Z",
        f"NCII-77,md5,{hashlib.md5(exact_original).hexdigest()},stopncii,self_reported,2026-09-20T17:45:00Z",
        "NCII-78,pdna,ZmVhdHVyZXMgb2YgYW4gaW1hZ2U=,stopncii,self_reported,2026-09-21T09:00:00Z",
    ]
    with open(os.path.join(version, "hashes.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    open(os.path.join(version, "_SUCCESS"), "w").close()


if __name__ == "__main__":
    main()
