"""Images hashed per second, ours beside python-threatexchange's `pdq_from_bytes`, and the bit
difference of our hashes from full-resolution hashing. One process, one thread, same bytes.

    ./dev.sh bench image_hashing [CONFORMANCE_FOLDER]   (default ../shared/conformance)

Pictures: the PDQ authors' photos from the conformance folder when it is there (real photos),
and generated ones, scaled and encoded as each case says.
"""
import glob
import io
import os
import sys
import time

import numpy as np
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from tests.media import photo, pdq_of_rgb
from transforms.media.images import decode_rgb, hash_image, open_image
from transforms.signals.pdq import PDQ

LIMIT = 200_000_000
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sources(conformance: str):
    found = sorted(glob.glob(os.path.join(conformance, "pdq", "reg-test-input", "labelme-subset", "q[1-9]*.jpg")))
    found += [os.path.join(conformance, "pdq", "bridge-mods", "aaa-orig.jpg"), os.path.join(conformance, "pdq", "misc-images", "c.png")]
    pictures = [Image.open(p).convert("RGB") for p in found if os.path.exists(p)]
    return pictures + [photo(seed, 1600, 1200) for seed in (1, 2, 3)]


def encoded(picture: Image.Image, long_side: int, fmt: str, mode: str = "RGB") -> bytes:
    scale = long_side / max(picture.size)
    resized = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.BICUBIC)
    out = io.BytesIO()
    resized.convert(mode).save(out, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return out.getvalue()


def rate(hasher, inputs, seconds=3.0) -> float:
    """Images per second over repeated passes, at least `seconds` long."""
    done, start = 0, time.perf_counter()
    while True:
        for data in inputs:
            hasher(data)
        done += len(inputs)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def ours(data: bytes):
    return hash_image(data, LIMIT)[0]


def full_resolution(data: bytes):
    return pdq_of_rgb(decode_rgb(open_image(data, LIMIT)))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pictures = sources(argv[0] if argv else os.path.join(HERE, "..", "shared", "conformance"))
    base = pictures[len(pictures) // 2 - 1]
    mix = [encoded(p, side, fmt) for p in pictures for side, fmt in ((320, "PNG"), (1080, "JPEG"), (1920, "JPEG"), (4000, "JPEG"), (800, "WEBP"))]
    cases = {
        "12 MP JPEG (4000 x 3000)": [encoded(base, 4000, "JPEG")],
        "1080p JPEG (1920 x 1080)": [encoded(base, 1920, "JPEG")],
        "small PNG (320 px)": [encoded(base, 320, "PNG")],
        f"mix ({len(mix)} images: PNG 320, JPEG 1080/1920/4000, WebP 800)": mix,
    }
    print(f"{'images per second, one thread':56} {'ours':>9} {'threatexchange':>15} {'speed-up':>9}")
    for label, inputs in cases.items():
        mine, theirs = rate(ours, inputs), rate(pdq_from_bytes, inputs)
        print(f"{label:56} {mine:>9.1f} {theirs:>15.1f} {mine / theirs:>8.1f}x")
    print("\nbits of difference from full-resolution hashing (pdqhash on the whole decoded picture), quality >= 50:")
    rows, cmyk = [], []
    for picture in pictures:
        for side in (64, 256, 512, 1024, 2048, 4000, 8000):
            for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGB"), ("WEBP", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK")):
                if side == 8000 and fmt != "JPEG" or side >= 4000 and fmt == "PNG":
                    continue
                data = encoded(picture, side, fmt, mode)
                reference = full_resolution(data)
                if reference.quality >= 50:
                    rows.append((side, fmt, mode, PDQ.distance(ours(data).pdq, reference.pdq)))
                if mode == "CMYK":
                    cmyk.append(PDQ.distance(bytes.fromhex(pdq_from_bytes(data)[0]), reference.pdq))
    bits = np.array([r[3] for r in rows])
    print(f"  {len(bits)} pictures from 64 px to 48 MP: median {np.median(bits):.0f}, 95th percentile "
          f"{np.percentile(bits, 95):.0f}, worst {bits.max()}; 0 bits on {np.mean(bits == 0):.0%} of them")
    for side in (64, 256, 512, 1024, 2048, 4000, 8000):
        part = np.array([r[3] for r in rows if r[0] == side])
        print(f"  long side {side:>5} px: {len(part):>3} pictures, median {np.median(part):.0f}, worst {part.max()}")
    print(f"  (threatexchange hashes CMYK JPEGs as if C, M, Y were R, G, B: {np.median(cmyk):.0f} bits from the "
          f"picture's hash at the median, over {len(cmyk)} of them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
