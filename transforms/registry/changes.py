"""What changed between two registry versions: the entries added (or given new rows), the entries
removed, and the snapshot of the added entries that stored hashes are matched against."""
from dataclasses import dataclass
from typing import FrozenSet, Optional

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.registry.snapshots import REQUIRED_COLUMNS, Registry, Snapshot
from transforms.registry.versions import parquet_bytes, write_bytes


@dataclass(frozen=True)
class RegistryChanges:
    added: FrozenSet[str]  # entries with a row the previous version lacks (new entries, or new rows)
    removed: FrozenSet[str]  # entries of the previous version that the current one lacks


def registry_changes(previous: Optional[Registry], current: Registry) -> RegistryChanges:
    """The changes from `previous` (None: unknown, so every entry counts as added) to `current`."""
    if previous is None:
        return RegistryChanges(frozenset(current.entry_ids), frozenset())
    before = set(zip(previous.entry_ids, previous.signal_types, previous.signal_values))
    rows = zip(current.entry_ids, current.signal_types, current.signal_values)
    added = {entry for entry, signal_type, value in rows if (entry, signal_type, value) not in before}
    return RegistryChanges(frozenset(added), frozenset(previous.entry_ids) - frozenset(current.entry_ids))


def write_entries(registry: Registry, entries: FrozenSet[str], path: str) -> Snapshot:
    """Write every row of `entries` (with their metadata) as a Parquet snapshot file; the snapshot
    keeps the registry's version, which match rows record."""
    rows = [i for i, entry in enumerate(registry.entry_ids) if entry in entries]
    columns = {
        name: pa.array([values[i] for i in rows], pa.string())
        for name, values in zip(REQUIRED_COLUMNS[:2], (registry.entry_ids, registry.signal_types))
    }
    values = [registry.signal_values[i] for i in rows]
    if any(isinstance(v, bytes) for v in values):  # raw TMK+PDQF values: a binary column, as registries send them
        columns["signal_value"] = pa.array([v if isinstance(v, bytes) else v.encode() for v in values], pa.binary())
    else:
        columns["signal_value"] = pa.array(values, pa.string())
    columns.update((name, pa.array([values[i] for i in rows], pa.string())) for name, values in registry.metadata.items())
    write_bytes(path, parquet_bytes(pa.table(columns)))
    return Snapshot(registry.version, (path,))


def added_snapshot(registry: Registry, added: FrozenSet[str], run_dir: str) -> Optional[Snapshot]:
    """The snapshot of the added entries, written to RUN_DIR/new_entries/entries.parquet for the
    workers to match stored hashes with; None when nothing was added."""
    if not added:
        return None
    return write_entries(registry, added, FileSystems.join(run_dir, "new_entries", "entries.parquet"))
