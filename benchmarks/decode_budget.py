"""What the decode-time limits cost honest media: `hash_media` on the same files in this tree and
in a baseline revision (a git worktree, default the landing before them), alternating, in child
processes, CPU time (all threads) and wall time: the median of the runs' totals, and the sum over
the files of each file's least CPU time in any run (video decoding's CPU varies by 10-15% from
one run to the next here, which the least of several runs of each file sees through).

    ./dev.sh bench decode_budget [--images 1000] [--rounds 3] [--baseline 6f2631f]

Images: the PDQ authors' photos (and generated ones) at the sizes and formats of
benchmarks/scan_end_to_end.py's mix. Videos: the vPDQ and TMK authors' clips from ../shared.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchmarks.image_hashing import HERE
from benchmarks.scan_end_to_end import make_folder

CHILD = """
import glob, json, os, resource, sys, time
from transforms.media.hashing import HashSettings, hash_media
from transforms.storage.objects import MediaObject
paths = sorted(glob.glob(os.path.join(sys.argv[1], "*")))
blobs = [open(p, "rb").read() for p in paths]
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
files, wall = [], time.perf_counter()
for path, data in zip(paths, blobs):
    start = cpu()
    hash_media(MediaObject(path, "v", len(data)), data, HashSettings())
    files.append(cpu() - start)
print(json.dumps({"cpu_s": sum(files), "wall_s": time.perf_counter() - wall, "files": files}))
"""


def make_videos() -> str:
    folder = tempfile.mkdtemp(prefix="bench-budget-videos-")
    for path in glob.glob(os.path.join(HERE, "..", "shared", "conformance", "video", "*.mp4")):
        shutil.copy(path, folder)
    return folder


def measure(tree: str, folder: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    done = subprocess.run([sys.executable, "-c", CHILD, folder], cwd=tree, env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="6f2631f", help="The revision measured beside this tree.")
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="bench-budget-base-")
    subprocess.run(["git", "worktree", "add", "--detach", base, args.baseline], cwd=HERE, check=True,
                   capture_output=True)
    folders = {"images": make_folder(args.images), "videos": make_videos()}
    counts = {kind: len(os.listdir(folder)) for kind, folder in folders.items()}
    try:
        results = {(kind, tree): [] for kind in folders for tree in ("baseline", "this")}
        for round_ in range(args.rounds):
            for kind, folder in folders.items():
                for tree, where in (("baseline", base), ("this", HERE)) if round_ % 2 == 0 else \
                        (("this", HERE), ("baseline", base)):
                    results[kind, tree].append(measure(where, folder))
            print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", base], cwd=HERE, capture_output=True)
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    print(f"| hash_media, {args.rounds} alternating runs | baseline ({args.baseline}) CPU s | this CPU s "
          "| CPU ratio | least CPU s a file, summed: baseline / this | ratio | baseline wall s | this wall s "
          "| wall ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in folders:
        row = []
        for measure_ in ("cpu_s", "least", "wall_s"):
            if measure_ == "least":
                old, new = (sum(min(per_file) for per_file in zip(*(r["files"] for r in results[kind, tree])))
                            for tree in ("baseline", "this"))
                row += [f"{old:.2f} / {new:.2f}", f"{new / old:.3f}"]
                continue
            old = statistics.median(r[measure_] for r in results[kind, "baseline"])
            new = statistics.median(r[measure_] for r in results[kind, "this"])
            row += [f"{old:.2f}", f"{new:.2f}", f"{new / old:.3f}"]
        print(f"| {counts[kind]} {kind} | " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
