"""What loading a registry costs: time, CPU and memory, each in a fresh process, beside Arrow
merely reading the same file (the floor, in the same run):

- `load`: `load_registry` alone (validation into arrays, no cache);
- `first`: the first process on a machine (`mapped_index` with an empty cache: load, write the
  cache, build the index, write its tables), what the launcher and one worker process pay;
- `next`: every other worker process (the cache written: map it), with every page of the
  values and index tables touched, as queries would; those pages are the page cache's, shared
  by all the processes (resident in each, held once), so its own (anonymous) memory is what each
  process adds.

    python -m benchmarks.registry_load [--rows 1000000 10000000] [--metadata 3] [--formats parquet csv]

Rows are PDQ hashes shaped like NCMEC's: three rows an entry (ids like `ncmec:M-123456`), with
`--metadata` extra text columns of a thousand distinct values each (source, member, class, ...).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from transforms.signals.hex_arrays import hex_column

CHILD = """
import json, resource, sys, time
import numpy as np
def memory():
    with open("/proc/self/smaps_rollup") as f:
        fields = {l.split()[0].rstrip(":"): int(l.split()[1]) * 1024 for l in f if l.split()[-1] == "kB"}
    return fields["Rss"], fields["Anonymous"]
import pyarrow.csv, pyarrow.parquet
from transforms.matching.matcher import mapped_index
from transforms.registry.snapshots import Snapshot, load_registry
mode, path = sys.argv[1:]
before, start, cpu = memory(), time.perf_counter(), time.process_time()
if mode == "arrow":
    kept = pyarrow.parquet.read_table(path) if path.endswith(".parquet") else pyarrow.csv.read_csv(path)
elif mode == "load":
    kept = load_registry(Snapshot("v", (path,)))
else:
    kept = mapped_index(Snapshot("v", (path,)), 0.001)
    if mode == "next":
        arrays = [kept.registry.values["pdq"], kept.registry.rows["pdq"], *kept.indexes["pdq"].tables.values()]
        touched = sum(int(np.asarray(a).reshape(-1)[::512].sum()) for a in arrays)
        kept.registry.columns.to_batches()
after = memory()
print(json.dumps({"rss": after[0] - before[0], "own": after[1] - before[1],
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""
MODES = ("arrow", "load", "first", "next")


def snapshot(rows: int, metadata: int, folder: str, form: str) -> str:
    rng = np.random.default_rng(rows)
    entries = pa.array(np.arange(rows) // 3).cast(pa.string())
    columns = {
        "entry_id": pc.binary_join_element_wise("ncmec:M-", entries, ""),
        "signal_type": pa.DictionaryArray.from_arrays(np.zeros(rows, np.int32), pa.array(["pdq"])),
        "signal_value": hex_column(rng.integers(0, 256, (rows, 32), dtype=np.uint8)),
    }
    for m in range(metadata):
        words = pa.array([f"value-{m}-{i}" for i in range(1000)])
        columns[f"meta_{m}"] = pa.DictionaryArray.from_arrays(rng.integers(0, 1000, rows).astype(np.int32), words)
    table = pa.table(columns)
    path = os.path.join(folder, f"registry-{rows}.{form}")
    if form == "parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        pacsv.write_csv(pa.table({n: c.cast(pa.string()) for n, c in zip(table.column_names, table.columns)}), path)
    return path


def measure(mode: str, path: str, here: str, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, path], cwd=here, capture_output=True, text=True,
                         check=True, env={**os.environ, "TAKEDOWN_SCAN_CACHE": cache}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--metadata", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"{'rows':>11} {'format':>7} {'file MB':>8} {'process':>8} {'wall s':>7} {'CPU s':>6} {'x arrow':>7} "
          f"{'RSS MB':>7} {'B/row':>6} {'own MB':>7} {'B/row':>6} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.rows:
            for form in args.formats:
                path = snapshot(rows, args.metadata, folder, form)
                cache = tempfile.mkdtemp(dir=folder)
                floor = None
                for mode in MODES:
                    m = measure(mode, path, here, cache)
                    floor = floor or m["cpu"]
                    print(f"{rows:>11,} {form:>7} {os.path.getsize(path) / 1e6:>8.0f} {mode:>8} {m['wall']:>7.1f} "
                          f"{m['cpu']:>6.1f} {m['cpu'] / floor:>7.1f} {m['rss'] / 1e6:>7.0f} {m['rss'] / rows:>6.0f} "
                          f"{m['own'] / 1e6:>7.0f} {m['own'] / rows:>6.0f} {m['peak'] / 1e6:>8.0f}", flush=True)
                os.remove(path)
                shutil.rmtree(cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
