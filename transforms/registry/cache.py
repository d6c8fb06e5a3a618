"""One copy of a loaded registry per machine, not one per process.

A Dataflow worker runs a process per vCPU, and each would load, validate and index the same
snapshot. Here the first process on a machine to need a snapshot loads it and writes its arrays
(Arrow columns, packed values, the indexes' tables: PDQ's, TMK's unit averages) to a local folder; every other process,
and the next run of the same snapshot, memory-maps those files. Their pages live once in the
page cache, shared by every process, and a process is ready in well under a second.

The folder is `$TAKEDOWN_SCAN_CACHE`, else `takedown-scan-cache` in the temp directory; an entry is
keyed by the snapshot's files (path, size, modification time), the reject share and the format,
and is written under a lock into a temporary folder renamed into place, so a reader never sees
half of one. Entries unused for a day are removed. Where the folder cannot be written, the
registry is loaded in memory, as before.
"""
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from typing import Callable, Dict

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.registry.loaded import Registry, Reject
from transforms.registry.snapshots import Snapshot, load_registry

LOG = logging.getLogger("takedown_scan")
FORMAT = 3  # of the files below: a change makes new keys (3: the published time in facts.json)
_UNUSED_FOR_S = 24 * 3600
Tables = Dict[str, Dict[str, np.ndarray]]  # signal type -> an index's tables


def cache_root() -> str:
    return os.environ.get("TAKEDOWN_SCAN_CACHE") or os.path.join(tempfile.gettempdir(), "takedown-scan-cache")


def _key(snapshot: Snapshot, max_reject_share: float) -> str:
    files = []
    for path in snapshot.files:
        found = FileSystems.match([path])[0].metadata_list
        files.append([path] + ([found[0].size_in_bytes, found[0].last_updated_in_seconds] if found else []))
    facts = {"format": FORMAT, "version": snapshot.version, "files": files, "max_reject_share": max_reject_share}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _once(folder: str, write: Callable[[str], None]) -> bool:
    """Make `folder` with `write(temporary folder)` unless it exists: one process per machine
    writes it while the others wait on the lock. Whether this process wrote it."""
    if os.path.isdir(folder):
        return False
    parent, name = os.path.split(folder)
    os.makedirs(parent, exist_ok=True)
    with open(folder + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isdir(folder):  # written while this process waited
            return False
        part = tempfile.mkdtemp(dir=parent, prefix=name + ".part-")
        try:
            write(part)
            os.rename(part, folder)
        finally:
            shutil.rmtree(part, ignore_errors=True)
    return True


def _save(folder: str, name: str, array: np.ndarray) -> None:
    np.save(os.path.join(folder, name + ".npy"), np.ascontiguousarray(array))


def _map(folder: str, name: str) -> np.ndarray:
    path = os.path.join(folder, name + ".npy")
    array = np.load(path, mmap_mode="r") if os.path.getsize(path) > 128 else None  # empty: nothing to map
    return array if array is not None and array.size else np.load(path)


def _write_registry(registry: Registry, folder: str) -> None:
    with pa.OSFile(os.path.join(folder, "columns.arrows"), "wb") as sink:
        with pa.ipc.new_stream(sink, registry.columns.schema) as writer:
            writer.write_table(registry.columns)
    for name in registry.values:
        _save(folder, f"values.{name}", registry.values[name])
        _save(folder, f"rows.{name}", registry.rows[name])
    with open(os.path.join(folder, "facts.json"), "w") as f:
        json.dump({"version": registry.version, "types": list(registry.values), "entries": registry.entries,
                   "rejects": [asdict(r) for r in registry.rejects], "skipped": dict(registry.skipped_by_type),
                   "published_at": registry.published_at}, f)


def _read_registry(folder: str) -> Registry:
    with open(os.path.join(folder, "facts.json")) as f:
        facts = json.load(f)
    columns = pa.ipc.open_stream(pa.memory_map(os.path.join(folder, "columns.arrows"))).read_all()
    return Registry(facts["version"], columns,
                    {name: _map(folder, f"values.{name}") for name in facts["types"]},
                    {name: _map(folder, f"rows.{name}") for name in facts["types"]},
                    [Reject(**r) for r in facts["rejects"]], Counter(facts["skipped"]), facts["entries"],
                    facts.get("published_at"))


class CachedRegistry:
    """A snapshot's registry as mapped from this machine's cache (see the module's docstring)."""

    def __init__(self, snapshot: Snapshot, max_reject_share: float, root: str = ""):
        self._folder = os.path.join(root or cache_root(), _key(snapshot, max_reject_share))
        self.built = True  # whether this process loaded the snapshot (else it mapped another's)
        try:
            self.built = _once(self._folder, lambda part: _write_registry(load_registry(snapshot, max_reject_share), part))
            self.registry = _read_registry(self._folder)
            os.utime(self._folder)
            _prune(os.path.dirname(self._folder))
        except OSError as e:  # a read-only or full disk: this process's own copy, as without a cache
            LOG.warning("registry cache %s unusable (%s): loading the registry in memory", self._folder, e)
            self._folder = ""
            self.registry = load_registry(snapshot, max_reject_share)

    def index_tables(self, build: Callable[[], Tables]) -> Tables:
        """The index tables of this registry: built once per machine by `build`, then mapped."""
        if not self._folder:
            return build()
        index = os.path.join(self._folder, "index")

        def write(part: str) -> None:
            for name, tables in build().items():
                if all(array.size for array in tables.values()):  # an empty index is rebuilt for nothing
                    for table, array in tables.items():
                        _save(part, f"{name}.{table}", array)

        try:
            _once(index, write)
        except OSError as e:
            LOG.warning("registry cache %s unusable (%s): building the index in memory", index, e)
            return build()
        tables: Tables = {}
        for file in sorted(os.listdir(index)):
            name, table, _ = file.split(".")
            tables.setdefault(name, {})[table] = _map(index, f"{name}.{table}")
        return tables


def _prune(root: str) -> None:
    """Remove the entries (and their locks) no process has used for a day."""
    now = time.time()
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isdir(path) and now - os.path.getmtime(path) > _UNUSED_FOR_S:
            shutil.rmtree(path, ignore_errors=True)
            if os.path.exists(path + ".lock"):
                os.remove(path + ".lock")
