"""A year of nights in miniature: the hash store over many nights of a changing folder, with
compaction (the default) and without it (the baseline), side by side in the same run.

A folder of --photos noisy photos; each night --added new ones, --replaced overwritten with
another picture and --deleted removed, and one registry entry added for a stored photo (so that
every night matches stored hashes against a new entry). Both stores see the same folder and the
same registry each night. Printed per configuration: the store's files and bytes after the last
night against its live objects' bytes (the objects/ rows a fresh store of tonight's objects
would hold), and the wall and CPU time of the first nights after the first and of the last nights.

    python -m benchmarks.store_nights [--nights 25] [--photos 300]
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
from tests.conftest import registry_csv, write
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=25)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--added", type=int, default=10)
    parser.add_argument("--replaced", type=int, default=5)
    parser.add_argument("--deleted", type=int, default=5)
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
        write(os.path.join(registry, f"v{n:03d}", "entries.csv"), registry_csv(entries))
        write(os.path.join(registry, f"v{n:03d}", "_SUCCESS"), b"")
        for config, flags in (("compacting", []), ("never", NEVER)):
            start, cpu, out = time.perf_counter(), cpu_s(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                status = scan.main([f"--media={media}", f"--registry={registry}",
                                    f"--output={os.path.join(base, config)}", *flags])
            assert status == 0, config
            times[config].append((time.perf_counter() - start, cpu_s() - cpu))
            summaries[config] = json.loads(out.getvalue())
        print(f"night {n + 1}: " + ", ".join(f"{c} {store_size(os.path.join(base, c, 'hashes'))[0]} files"
                                           for c in times), file=sys.stderr)
    print(f"{args.nights} nights of {args.photos} photos, each night {args.added} added, {args.replaced} replaced, "
          f"{args.deleted} deleted, one entry for a stored photo")
    early, late = slice(1, 6), slice(-5, None)
    for config in times:
        hashes = os.path.join(base, config, "hashes")
        files, size = store_size(hashes)
        live = live_bytes(hashes)
        wall = [np.mean([t[0] for t in times[config][part]]) for part in (early, late)]
        cpu = [np.mean([t[1] for t in times[config][part]]) for part in (early, late)]
        print(f"  {config:10}: {files:4} files, {size / 1e6:6.2f} MB = {size / live:4.1f}x the live rows' "
              f"{live / 1e6:.2f} MB; a night: wall {wall[0]:.1f} s -> {wall[1]:.1f} s, "
              f"CPU {cpu[0]:.1f} s -> {cpu[1]:.1f} s (nights 2-6 -> last 5); the last night's state pointed at "
              f"{summaries[config]['store_rows']} stored rows for {summaries[config]['store_live_rows']} objects")
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
