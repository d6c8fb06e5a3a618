"""The registry cache: one load per machine, mapped by every other process, keyed by the files."""
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO
from transforms.matching.matcher import RegistryIndex, mapped_index
from transforms.registry.cache import CachedRegistry
from transforms.registry.snapshots import RegistryRefused, Snapshot

PROCESS = """
import json, sys
import numpy as np
from transforms.matching.matcher import mapped_index
from transforms.registry.cache import CachedRegistry
from transforms.registry.snapshots import Snapshot
cached = CachedRegistry(Snapshot("v", (sys.argv[1],)), 0.001, sys.argv[2])
index = mapped_index(Snapshot("v", (sys.argv[1],)), 0.001)
print(json.dumps({"built": cached.built, "rows": len(cached.registry),
                  "mapped": isinstance(cached.registry.values["pdq"], np.memmap)}))
"""


def pdq_registry(path, rows: int, seed: int = 5) -> np.ndarray:
    values = np.random.default_rng(seed).integers(0, 256, (rows, 32), dtype=np.uint8)
    pq.write_table(pa.table({"entry_id": [f"E-{i // 2}" for i in range(rows)], "signal_type": ["pdq"] * rows,
                             "signal_value": [v.tobytes().hex() for v in values],
                             "source": ["ncmec" if i % 3 else "" for i in range(rows)]}), str(path))
    return values


def test_processes_started_together_load_the_snapshot_once_and_map_it(tmp_path):
    path = tmp_path / "r.parquet"
    pdq_registry(path, 5000)
    env = {**os.environ, "TAKEDOWN_SCAN_CACHE": str(tmp_path / "cache")}
    started = [subprocess.Popen([sys.executable, "-c", PROCESS, str(path), str(tmp_path / "cache")], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    answers = [__import__("json").loads(p.communicate(timeout=120)[0]) for p in started]
    assert sorted(a["built"] for a in answers) == [False, False, True]
    assert all(a["rows"] == 5000 and a["mapped"] for a in answers)
    entries = sorted(os.listdir(tmp_path / "cache"))
    assert len([e for e in entries if not e.endswith(".lock")]) == 1  # one folder: no part left behind
    assert sorted(os.listdir(tmp_path / "cache" / entries[0] / "index")) == ["pdq.order.npy", "pdq.starts.npy"]


def test_a_mapped_registry_and_index_answer_as_a_freshly_loaded_one(tmp_path):
    path = tmp_path / "r.parquet"
    values = pdq_registry(path, 6000)
    snapshot = Snapshot("v", (str(path),))
    first = CachedRegistry(snapshot, 0.001, str(tmp_path / "c"))
    again = CachedRegistry(snapshot, 0.001, str(tmp_path / "c"))
    assert first.built and not again.built
    assert again.registry.row_metadata(1) == {"source": "ncmec"} and again.registry.row_metadata(0) == {"source": None}
    assert again.registry.entries == 3000 and again.registry.entries_of([5999]) == ["E-2999"]
    fresh = RegistryIndex(first.registry)
    mapped = RegistryIndex(again.registry, again.index_tables(lambda: fresh.tables()))
    queries = values[:50].copy()
    queries[:, 0] ^= 0xFF  # 8 bits off each
    found = [index.indexes["pdq"].query(queries, 31) for index in (fresh, mapped)]
    assert all(np.array_equal(a, b) for a, b in zip(*found)) and len(found[0][0]) >= 50
    assert isinstance(mapped_index(snapshot, 0.001).indexes["pdq"].tables["order"], np.memmap)


def test_a_rewritten_file_is_a_new_entry(tmp_path):
    path = tmp_path / "r.parquet"
    pdq_registry(path, 10)
    snapshot = Snapshot("v", (str(path),))
    assert len(CachedRegistry(snapshot, 0.001, str(tmp_path / "c")).registry) == 10
    pdq_registry(path, 12)
    again = CachedRegistry(snapshot, 0.001, str(tmp_path / "c"))
    assert again.built and len(again.registry) == 12


def test_an_unwritable_cache_loads_in_memory_and_a_refused_snapshot_leaves_nothing(tmp_path):
    path = tmp_path / "r.parquet"
    pdq_registry(path, 10)
    (tmp_path / "file").write_text("not a folder")
    cached = CachedRegistry(Snapshot("v", (str(path),)), 0.001, str(tmp_path / "file"))
    assert len(cached.registry) == 10 and cached.built
    assert len(cached.index_tables(lambda: {"pdq": {"order": np.zeros(3)}})["pdq"]["order"]) == 3
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet PAR1")
    with pytest.raises(RegistryRefused, match="not readable Parquet"):
        CachedRegistry(Snapshot("v", (str(tmp_path / "bad.parquet"),)), 0.001, str(tmp_path / "c"))
    assert [e for e in os.listdir(tmp_path / "c") if not e.endswith(".lock")] == []
