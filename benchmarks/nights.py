"""A year of nights in miniature: the hash store over many nights of a changing folder, with
compaction (the default) and without it (the baseline), side by side in the same run.

A folder of --photos noisy photos; each night --added new ones, --replaced overwritten with
another picture and --deleted removed, and one registry entry added for a stored photo (so that
every night matches stored hashes against a new entry). Both stores see the same folder and the
same registry each night. Printed per night and configuration: wall and CPU seconds, the store's
files and bytes; then per configuration night 3 against the last night, and the store's bytes
against those of a fresh scan of the last night's folder into a new store, and against its live
objects' rows alone.

    python -m benchmarks.nights [--nights 30] [--photos 1000] [--added 15] [--replaced 15] [--deleted 15]
"""
import argparse
import contextlib
import glob
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import scan
from tests.conftest import add_version, write
from tests.media import encode, pdq_of_rgb, photo

NEVER = ["--compact_share=1", "--compact_after_runs=1000000"]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def picture(seed: int) -> bytes:
    return encode(photo(seed, 320, 240), "JPEG", quality=85)


def live_bytes(hashes: str) -> int:
    """The bytes of the latest state's objects/ rows, written alone as one file."""
    runs = sorted(glob.glob(os.path.join(hashes, "run=*", "_COMMITTED")))
    state = pq.ParquetDataset(os.path.join(os.path.dirname(runs[-1]), "state")).read().to_pylist()
    wanted = {(r["uri"], r["object_version"], r["hashed_run"]) for r in state}
    rows = [t.filter([(u, v, r) in wanted for u, v, r in zip(t["uri"].to_pylist(), t["object_version"].to_pylist(),
                                                           t["run_id"].to_pylist())])
            for t in (pq.read_table(f) for f in glob.glob(os.path.join(hashes, "run=*", "objects", "*.parquet")))]
    sink = io.BytesIO()
    pq.write_table(pa.concat_tables(rows), sink)
    return sink.tell()


def store_size(hashes: str):
    files = [f for f in glob.glob(os.path.join(hashes, "**"), recursive=True) if os.path.isfile(f)]
    return len(files), sum(os.path.getsize(f) for f in files)


def night(media: str, registry: str, output: str, flags):
    """(wall s, CPU s, summary) of one scan, in this process."""
    start, cpu, out = time.perf_counter(), cpu_s(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}", *flags])
    assert status == 0, output
    return time.perf_counter() - start, cpu_s() - cpu, json.loads(out.getvalue())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--added", type=int, default=15)
    parser.add_argument("--replaced", type=int, default=15)
    parser.add_argument("--deleted", type=int, default=15)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="store-nights-")
    media, registry = os.path.join(base, "media"), os.path.join(base, "registry")
    rng = np.random.default_rng(5)
    seeds = {f"p{i:05d}.jpg": 10_000 + i for i in range(args.photos)}
    for name, seed in seeds.items():
        write(os.path.join(media, name), picture(seed))
    entries, next_seed, next_name = [], 20_000, args.photos
    times = {"compacting": [], "never": []}
    summaries = {}
    print(f"{args.nights} nights of {args.photos} photos, each night {args.added} added, {args.replaced} replaced, "
          f"{args.deleted} deleted, one entry for a stored photo")
    print(f"{'night':>5} | " + " | ".join(f"{c + ': wall s, CPU s, files, MB':<36}" for c in times))
    for n in range(args.nights):
        if n:
            names = sorted(seeds)
            for name in rng.choice(names, args.deleted + args.replaced, replace=False)[: args.deleted]:
                os.remove(os.path.join(media, name))
                del seeds[name]
            for name in rng.choice(sorted(seeds), args.replaced, replace=False):
                seeds[name] = next_seed = next_seed + 1
                write(os.path.join(media, name), picture(next_seed))
            for _ in range(args.added):
                name, next_name, next_seed = f"p{next_name:05d}.jpg", next_name + 1, next_seed + 1
                seeds[name] = next_seed
                write(os.path.join(media, name), picture(next_seed))
        stored = sorted(seeds.values())[n]  # a stored photo's entry arrives tonight
        entries.append((f"E-{n}", "pdq", pdq_of_rgb(np.asarray(photo(stored, 320, 240))).pdq.hex(), "tid", "m"))
        add_version(registry, f"v{n:03d}", entries)
        for config, flags in (("compacting", []), ("never", NEVER)):
            wall, cpu, summaries[config] = night(media, registry, os.path.join(base, config), flags)
            times[config].append((wall, cpu))
        print(f"{n + 1:>5} | " + " | ".join(
            f"{times[c][-1][0]:8.1f} {times[c][-1][1]:8.1f} {store_size(os.path.join(base, c, 'hashes'))[0]:8} "
            f"{store_size(os.path.join(base, c, 'hashes'))[1] / 1e6:8.2f}  " for c in times), flush=True)
    night(media, registry, os.path.join(base, "fresh"), [])
    fresh = store_size(os.path.join(base, "fresh", "hashes"))[1]
    third = min(2, args.nights - 1)
    for config in times:
        hashes = os.path.join(base, config, "hashes")
        files, size = store_size(hashes)
        live = live_bytes(hashes)
        (wall3, cpu3), (wall, cpu) = times[config][third], times[config][-1]
        print(f"  {config:10}: the last night {wall / wall3:.2f}x night {third + 1}'s wall, {cpu / cpu3:.2f}x its CPU; "
              f"the store {files} files, {size / 1e6:.2f} MB = {size / fresh:.2f}x a fresh scan's store "
              f"({fresh / 1e6:.2f} MB), {size / live:.1f}x the live rows alone; the last state pointed at "
              f"{summaries[config]['store_rows']} stored rows for {summaries[config]['store_live_rows']} objects")
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
