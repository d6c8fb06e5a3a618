"""What changed between two registry versions: the entries added (or given new rows), the entries
removed, and the snapshot of the added entries that stored hashes are matched against."""
from dataclasses import dataclass
from typing import FrozenSet, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from transforms.registry.loaded import Registry
from transforms.registry.snapshots import Snapshot
from transforms.registry.versions import parquet_bytes, write_bytes
from transforms.signals import SIGNALS
from transforms.signals.hex_arrays import hex_column


@dataclass(frozen=True)
class RegistryChanges:
    added: FrozenSet[str]  # entries with a row the previous version lacks (new entries, or new rows)
    removed: FrozenSet[str]  # entries of the previous version that the current one lacks


def _keyed_rows(registry: Registry, name: str) -> pa.Table:
    """(entry_id, value) of every row of one signal type: values as fixed-width bytes, for joins."""
    rows = registry.rows[name]
    return pa.table({"entry_id": registry.entry_ids.take(pa.array(rows)).cast(pa.string()),
                     "value": _fixed_width(registry.values[name])})


def _fixed_width(packed: np.ndarray) -> pa.Array:
    packed = np.ascontiguousarray(packed)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(packed.shape[1]), len(packed), [None, pa.py_buffer(packed)])


def registry_changes(previous: Optional[Registry], current: Registry) -> RegistryChanges:
    """The changes from `previous` (None: unknown, so every entry counts as added) to `current`."""
    entries = current.unique_entries()
    if previous is None:
        return RegistryChanges(frozenset(entries.to_pylist()), frozenset())
    added = set()
    for name, rows in current.rows.items():  # a join per type: values differ in width
        if not len(rows):
            continue
        mine, theirs = _keyed_rows(current, name), _keyed_rows(previous, name)
        new = mine.join(theirs, keys=["entry_id", "value"], join_type="left anti") if theirs.num_rows else mine
        added.update(new.column("entry_id").unique().to_pylist())
    earlier = previous.unique_entries()
    removed = earlier.filter(pc.invert(pc.is_in(earlier, value_set=entries)))
    return RegistryChanges(frozenset(added), frozenset(removed.to_pylist()))


def write_entries(registry: Registry, entries: FrozenSet[str], path: str) -> Snapshot:
    """Write every row of `entries` (with their metadata) as a Parquet snapshot file; the snapshot
    keeps the registry's version, which match rows record. Raw TMK+PDQF values make the value
    column binary (as registries send them), hex text otherwise."""
    wanted = pc.is_in(registry.entry_ids, value_set=pa.array(sorted(entries), pa.string()))
    binary = any(SIGNALS[name].binary_values and len(rows) for name, rows in registry.rows.items())
    tables = []
    for name, rows in registry.rows.items():
        chosen = np.flatnonzero(pc.take(wanted, pa.array(rows)).to_numpy(zero_copy_only=False))
        if not len(chosen):
            continue
        packed = registry.values[name][chosen]
        values = _fixed_width(packed).cast(pa.binary()) if SIGNALS[name].binary_values else hex_column(packed)
        table = registry.columns.take(pa.array(rows[chosen]))
        columns = {"entry_id": table.column("entry_id").cast(pa.string()),
                   "signal_type": table.column("signal_type").cast(pa.string()),
                   "signal_value": values.cast(pa.binary()) if binary else values}
        columns.update((c, table.column(c).cast(pa.string())) for c in registry.metadata_columns)
        tables.append(pa.table(columns))
    write_bytes(path, parquet_bytes(pa.concat_tables(tables)))
    return Snapshot(registry.version, (path,), registry.published_at)


def added_snapshot(registry: Registry, added: FrozenSet[str], run_dir: str) -> Optional[Snapshot]:
    """The snapshot of the added entries, written to RUN_DIR/new_entries/entries.parquet for the
    workers to match stored hashes with; None when nothing was added."""
    if not added:
        return None
    return write_entries(registry, added, FileSystems.join(run_dir, "new_entries", "entries.parquet"))
