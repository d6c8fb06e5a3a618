"""What a worker process needs to hold a registry: resident memory and time of loading a snapshot
and building its index (what MatchHashes does once per process, through Shared), measured in a
fresh process per size, beside the memory of the process before loading.

    python -m benchmarks.worker_memory [--rows 1000000 10000000] [--metadata 0]

Rows are PDQ hashes of a registry-like Parquet snapshot (entry ids like `ncmec:M-123456`), with
`--metadata` extra text columns (source, member id, classification, ...).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHILD = """
import json, resource, sys, time
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
from transforms.matching.matcher import RegistryIndex
from transforms.registry.snapshots import Snapshot, load_registry
before = rss()
start = time.perf_counter()
registry = load_registry(Snapshot("v", (sys.argv[1],)))
loaded = time.perf_counter()
index = RegistryIndex(registry)
built = time.perf_counter()
print(json.dumps({"rows": len(registry.entry_ids), "before": before, "after": rss(),
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "load_s": loaded - start, "index_s": built - loaded}))
"""


def snapshot(rows: int, metadata: int, folder: str) -> str:
    rng = np.random.default_rng(rows)
    values = rng.integers(0, 256, (rows, 32), dtype=np.uint8)
    columns = {
        "entry_id": pa.array([f"ncmec:M-{i // 2}" for i in range(rows)]),
        "signal_type": pa.array(["pdq"] * rows).dictionary_encode(),
        "signal_value": pa.array([v.tobytes().hex() for v in values]),
    }
    for m in range(metadata):
        columns[f"meta_{m}"] = pa.array([f"value-{i % 1000}" for i in range(rows)]).dictionary_encode()
    path = os.path.join(folder, f"registry-{rows}.parquet")
    pq.write_table(pa.table(columns), path, compression="zstd")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--metadata", type=int, default=0)
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"{'rows':>11} {'file MB':>8} {'RSS before MB':>13} {'RSS after MB':>12} {'peak MB':>8} "
          f"{'bytes/row':>9} {'load s':>7} {'index s':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.rows:
            path = snapshot(rows, args.metadata, folder)
            out = subprocess.run([sys.executable, "-c", CHILD, path], cwd=here, capture_output=True, text=True,
                                 check=True).stdout
            m = json.loads(out.strip().splitlines()[-1])
            print(f"{rows:>11,} {os.path.getsize(path) / 1e6:>8.0f} {m['before'] / 1e6:>13.0f} {m['after'] / 1e6:>12.0f} "
                  f"{m['peak'] / 1e6:>8.0f} {(m['after'] - m['before']) / rows:>9.0f} {m['load_s']:>7.1f} "
                  f"{m['index_s']:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
