"""A backfill killed half-way, and the run after it: how much of the killed run's work is adopted.

A folder of --photos noisy photos is scanned once to the end (the baseline: its wall and CPU time),
then into a new store a scan is started and killed (SIGKILL, as a preempted machine would be) once
the files it has closed in the store hold --kill_share of the photos, and the next run is timed.
Printed: what the killed run left in the store, what the next run hashed and adopted, and its CPU
time, alone and with the killed run's, against the baseline's.

    python -m benchmarks.resume [--photos 2000] [--kill_share 0.5] [--store_file_rows 50]
"""
import argparse
import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

from benchmarks.image_hashing import HERE
from tests.conftest import add_version, write
from tests.media import encode, photo


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def closed_rows(output: str) -> int:
    """The rows of the objects/ files a run has closed so far (an open one has no footer yet)."""
    rows = 0
    for path in glob.glob(os.path.join(output, "hashes", "run=*", "objects", "**", "*.parquet"), recursive=True):
        try:
            rows += pq.read_metadata(path).num_rows
        except Exception:
            pass
    return rows


def scan(media: str, registry: str, output: str, flags, kill_at_rows: int = 0):
    """(wall s, CPU s, summary or None) of one scan in a child process, killed once the store's
    closed files hold kill_at_rows rows if > 0."""
    command = [sys.executable, "-m", "pipelines.scan", f"--media={media}", f"--registry={registry}", f"--output={output}",
               *flags]
    start, cpu = time.perf_counter(), children_cpu_s()
    child = subprocess.Popen(command, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    while kill_at_rows and child.poll() is None:
        if closed_rows(output) >= kill_at_rows:
            os.killpg(child.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    out, _ = child.communicate()
    summary = json.loads(out) if child.returncode == 0 else None
    return time.perf_counter() - start, children_cpu_s() - cpu, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--kill_share", type=float, default=0.5)
    parser.add_argument("--store_file_rows", type=int, default=50,
                        help="small, so that a run of a few hundred photos closes files as it goes")
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="resume-")
    media, registry = os.path.join(base, "media"), os.path.join(base, "registry")
    for i in range(args.photos):
        write(os.path.join(media, f"p{i:05d}.jpg"), encode(photo(30_000 + i), "JPEG", quality=85))
    add_version(registry, "v1", [("E-1", "md5", "0" * 32, "tid", "m")])
    flags = [f"--store_file_rows={args.store_file_rows}"]
    wall, cpu, full = scan(media, registry, os.path.join(base, "full"), flags)
    output = os.path.join(base, "resumed")
    killed_wall, killed_cpu, killed = scan(media, registry, output, flags, kill_at_rows=int(args.photos * args.kill_share))
    left = glob.glob(os.path.join(output, "hashes", "run=*", "objects", "**", "*.parquet"), recursive=True)
    left_rows = closed_rows(output)
    next_wall, next_cpu, resumed = scan(media, registry, output, flags)
    print(f"{args.photos} photos, --store_file_rows={args.store_file_rows}; the full scan: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU, {full['hashed']} hashed")
    print(f"killed after {killed_wall:.1f} s, {killed_cpu:.1f} s CPU ({'finished first' if killed else 'killed'}), "
          f"leaving {len(left)} objects/ file(s) of {left_rows} rows in the store")
    print(f"the next run: {resumed['hashed']} hashed ({resumed['hashed'] / args.photos:.0%} of all), "
          f"{resumed['adopted']} adopted; {next_wall:.1f} s wall ({next_wall / wall:.2f}x the full scan), "
          f"{next_cpu:.1f} s CPU ({next_cpu / cpu:.2f}x); with the killed run's: {killed_cpu + next_cpu:.1f} s CPU "
          f"({(killed_cpu + next_cpu) / cpu:.2f}x)")
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
