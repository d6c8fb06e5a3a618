"""Print our PDQ's bit difference from the PDQ authors' reference hash, image by image.

    python -m benchmarks.pdq_conformance [CONFORMANCE_FOLDER]   (default ../shared/conformance)
"""
import csv
import os
import sys

from transforms.media.images import hash_image, open_image
from transforms.signals.pdq import PDQ

LIMIT = 100_000_000


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pdq = os.path.join(argv[0] if argv else os.path.join(here, "..", "shared", "conformance"), "pdq")
    with open(os.path.join(pdq, "expected.csv")) as f:
        rows = list(csv.DictReader(f))
    print(f"{'image':48} {'reference':16} {'size':>11} {'quality':>7} {'bits':>4}")
    worst_small = worst_large = 0
    for row in rows:
        with open(os.path.join(pdq, row["path"]), "rb") as f:
            data = f.read()
        ours = hash_image(data, LIMIT)[0]
        width, height = open_image(data, LIMIT).size
        bits = PDQ.distance(ours.pdq, bytes.fromhex(row["pdq_hex"]))
        print(f"{row['path']:48} {row['source']:16} {width:>5}x{height:<5} {ours.quality:>7} {bits:>4}")
        if ours.quality >= 50:
            if max(width, height) <= 512:
                worst_small = max(worst_small, bits)
            else:
                worst_large = max(worst_large, bits)
    print(f"\nquality >= 50: at most {worst_small} bits on images <= 512 px, {worst_large} bits above 512 px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
