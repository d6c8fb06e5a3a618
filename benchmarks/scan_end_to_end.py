"""The whole scan of a generated folder beside python-threatexchange hashing it in a plain loop.

Writes a folder of mixed images (12 MP and 1080p JPEGs, small PNGs, WebP), then times, in wall
and CPU seconds (this process's threads and its finished children)
- the baseline: read each file and `pdq_from_bytes` it, one after the other;
- `hash_media` alone on the same files, one after the other (what the scan's CPU is compared with);
- `python -m pipelines.scan` on the same folder (DirectRunner: the default, and a worker per core):
  listing, reading, PDQ + MD5/SHA-1/SHA-256, matching, Parquet reports, all of it.

    ./dev.sh bench scan_end_to_end [--images 300]
"""
import argparse
import glob
import json
import os
import resource
import sys
import tempfile
import time

from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from benchmarks.image_hashing import HERE, encoded, sources
from pipelines import scan
from transforms.media.hashing import HashSettings, hash_media
from transforms.storage.objects import MediaObject

MIX = ((4000, "JPEG"), (1920, "JPEG"), (1920, "JPEG"), (1080, "JPEG"), (480, "PNG"), (320, "PNG"), (800, "WEBP"),
       (640, "JPEG"), (1280, "JPEG"), (4000, "JPEG"))


def make_folder(count: int) -> str:
    folder = tempfile.mkdtemp(prefix="bench-media-")
    pictures = sources(os.path.join(HERE, "..", "shared", "conformance"))
    for i in range(count):
        side, fmt = MIX[i % len(MIX)]
        with open(os.path.join(folder, f"{i:05d}.{fmt.lower()}"), "wb") as f:
            f.write(encoded(pictures[i % len(pictures)].rotate(i % 7), side, fmt))
    return folder


def cpu_now() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function, *args):
    """(wall seconds, CPU seconds) of a call."""
    cpu, start = cpu_now(), time.perf_counter()
    function(*args)
    return time.perf_counter() - start, cpu_now() - cpu


def baseline(folder: str) -> None:
    for path in sorted(glob.glob(os.path.join(folder, "*"))):
        with open(path, "rb") as f:
            pdq_from_bytes(f.read())


def hashing_alone(folder: str) -> None:
    settings = HashSettings()
    for path in sorted(glob.glob(os.path.join(folder, "*"))):
        with open(path, "rb") as f:
            hash_media(MediaObject(path, "v", os.path.getsize(path)), f.read(), settings)


def ours(folder: str, *flags) -> None:
    output = tempfile.mkdtemp(prefix="bench-out-")
    registry = os.path.join(os.path.dirname(scan.__file__), "sample", "registry")
    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
    try:
        assert scan.main([f"--media={folder}", f"--registry={registry}", f"--output={output}", *flags]) == 0
    finally:
        sys.stdout = stdout
    with open(glob.glob(os.path.join(output, "run=*", "summary.json"))[0]) as f:
        summary = json.load(f)
    assert summary["hashed"] == len(os.listdir(folder)), summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args(argv)
    folder = make_folder(args.images)
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(folder, "*"))) / 1e6
    print(f"{args.images} images ({size:.0f} MB: 12 MP, 1080p and smaller JPEGs, PNGs, WebP), {os.cpu_count()} cores")
    print(f"{'':52} {'wall s':>7} {'CPU s':>7} {'images/s':>9} {'x loop':>7} {'per CPU-s':>9} {'x loop':>7} {'CPU/hash_media':>14}")
    wall, cpu = timed(baseline, folder)
    theirs = (wall, cpu)
    alone = timed(hashing_alone, folder)

    def line(label, wall, cpu):
        print(f"{label:52} {wall:7.1f} {cpu:7.1f} {args.images / wall:9.1f} {theirs[0] / wall:7.1f} "
              f"{args.images / cpu:9.1f} {theirs[1] / cpu:7.1f} {cpu / alone[1]:14.2f}")

    line("threatexchange pdq_from_bytes, plain loop", *theirs)
    line("hash_media alone, plain loop", *alone)
    for label, flags in (
        ("takedown-scan, default (1 worker, a thread per core)", ()),
        ("takedown-scan, a worker per core, threads", ("--direct_num_workers=0",)),
        ("takedown-scan, a worker per core, processes", ("--direct_num_workers=0", "--direct_running_mode=multi_processing")),
    ):
        line(label, *timed(ours, folder, *flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
