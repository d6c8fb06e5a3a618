"""False matches with and without dihedral matching (rotations and mirrors, --dihedral), and
with the regions of pictures and keyframes (--regions N, media/regions.py) among the hashes.

Hashes pictures that are all different from each other (generated photos, the PDQ authors'
distinct photos, and frames of the distinct vPDQ reference clips, whose own frames form one
group), then counts pairs from different groups within the PDQ threshold, quality >= 50: as is,
and when every rotation and mirror of one side is tried too.

    python -m benchmarks.dihedral_false_matches [--photos 400] [--regions 0] [CONFORMANCE_FOLDER]
"""
import argparse
import glob
import os
import sys

import numpy as np

from tests.media import encode, photo
from transforms.media.images import hash_image
from transforms.signals.pdq import PDQ
from transforms.signals.pdq_index import PdqIndex
from transforms.media.videos import VideoSettings, hash_video

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIPS = ("chair-orig-22-sd-bar", "pattern-hd-no-bar", "doorknob-hd-no-bar", "test-padded-dimensions")


def groups(photos: int, conformance: str, regions: int):
    for seed in range(photos):
        yield f"photo-{seed}", hash_image(encode(photo(10_000 + seed), "JPEG", quality=90), 10**9, regions=regions)
    pdq = os.path.join(conformance, "pdq")
    distinct = sorted(glob.glob(os.path.join(pdq, "reg-test-input", "labelme-subset", "*.jpg")))
    distinct += [os.path.join(pdq, p) for p in ("bridge-mods/aaa-orig.jpg", "misc-images/c.png", "misc-images/wee.jpg")]
    for path in distinct:
        if os.path.exists(path):
            with open(path, "rb") as f:
                yield os.path.basename(path), hash_image(f.read(), 10**9, regions=regions)
    for clip in CLIPS:
        path = os.path.join(conformance, "video", clip + ".mp4")
        if os.path.exists(path):
            with open(path, "rb") as f:
                yield clip, hash_video(f.read(), VideoSettings(sample_seconds=0.5), regions=regions).frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=os.path.join(HERE, "..", "shared", "conformance"))
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--regions", type=int, default=0, help="regions of each picture and keyframe hashed too")
    args = parser.parse_args(argv)
    owner, plain, turned = [], [], []
    for group, hashes in groups(args.photos, args.folder, args.regions):
        for h in hashes:
            if h.quality >= 50:
                owner.append(group)
                plain.append(h.pdq)
                turned.append(h.dihedral)
    owner = np.array(owner)
    index = PdqIndex(PDQ.pack(plain), np.arange(len(plain)))
    print(f"{len(plain)} hashes of quality >= 50 from {len(set(owner))} different pictures and clips "
          f"(regions: {args.regions} at most per picture and keyframe)")
    for threshold in (31,):
        q, rows, _ = index.query(PDQ.pack(plain), threshold)
        as_is = {(min(a, b), max(a, b)) for a, b in zip(owner[q], owner[rows]) if a != b}
        variants = [h for t in turned for h in t]
        q, rows, _ = index.query(PDQ.pack(variants), threshold)
        dihedral = {(min(a, b), max(a, b)) for a, b in zip(owner[q // 7], owner[rows]) if a != b}
        print(f"pairs of different pictures within {threshold}: as is {len(as_is)}, "
              f"with rotations and mirrors {len(as_is | dihedral)}")
        for pair in sorted(as_is | dihedral):
            print("   ", *pair)
    return 0


if __name__ == "__main__":
    sys.exit(main())
