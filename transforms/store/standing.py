"""Standing matches: what earlier runs reported and still holds, and what ends them.

Each committed run keeps, in `HASHES/run=R/active/`, every match that stands after it: the ones it
reported, and the earlier ones whose object is unchanged. On the next night a standing match ends
in one of two ways, settled against tonight's listing (store/split.py):
- its object is gone: deleted, or replaced by another version. It is written to `deleted/` (with
  the version that matched), whatever happened to its entry: there is nothing to reinstate;
- its object is still there but its entry left the registry (withdrawn or deleted upstream): a
  withdrawal, written to `withdrawn/` so that the takedown team can reinstate the content.
The rest stand on.
"""
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_folder import WriteParquetFolder
from transforms.schemas import ACTIVE_SCHEMA, DELETED_SCHEMA, WITHDRAWN_SCHEMA
from transforms.storage.files import small_parquet
from transforms.store.commits import Commit, StoreRefused
from transforms.store.hash_store import run_folder

MatchKey = Tuple[str, str, str, str]  # uri, object_version, entry_id, signal_type


def match_key(row: Dict) -> MatchKey:
    return row["uri"], row["object_version"], row["entry_id"], row["signal_type"]


def active_row(match: Dict) -> Dict:
    """The standing match a match row of this run becomes."""
    return {
        "uri": match["uri"],
        "object_version": match["object_version"],
        "entry_id": match["entry_id"],
        "signal_type": match["signal_type"],
        "reported_run": match["run_id"],
        "reported_registry_version": match["registry_version"],
    }


def read_active(hashes_uri: str, commit: Commit) -> List[Dict]:
    """The matches standing after a committed run (read on the launcher: matches are few)."""
    pattern = FileSystems.join(run_folder(hashes_uri, commit.run_id, "active"), "*.parquet")
    rows = []
    try:
        for metadata in FileSystems.match([pattern])[0].metadata_list:
            with FileSystems.open(metadata.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                rows.extend(small_parquet(f.read()))
    except Exception as e:
        raise StoreRefused(f"hash store {pattern} cannot be read: {type(e).__name__}: {e}") from None
    return rows


_ENDED_COLUMNS = ("uri", "object_version", "entry_id", "signal_type", "reported_run", "reported_registry_version")


def withdrawn_keys(active: Iterable[Dict], current_entries: FrozenSet[str]) -> FrozenSet[MatchKey]:
    """The standing matches whose entry left the registry: withdrawals, if their object is still there."""
    return frozenset(match_key(row) for row in active if row["entry_id"] not in current_entries)


def withdrawn_row(row: Dict, run_id: str, registry_version: str) -> Dict:
    """A standing match whose entry left the registry, as a row of withdrawn/."""
    return {"run_id": run_id, **{k: row[k] for k in _ENDED_COLUMNS}, "registry_version": registry_version}


def deleted_row(row: Dict, run_id: str) -> Dict:
    """A standing match whose object is gone (`listed_version`: None, or the version that replaced
    it), as a row of deleted/."""
    return {"run_id": run_id, **{k: row[k] for k in _ENDED_COLUMNS}, "listed_version": row["listed_version"]}


class ReadPreviousRun(beam.PTransform):
    """The last committed run's state rows and standing matches; empty PCollections for a new store."""

    def __init__(self, hashes_uri: str, commit: Optional[Commit]):
        super().__init__()
        self._hashes_uri = hashes_uri
        self._commit = commit

    def _files(self, part: str) -> str:
        return FileSystems.join(run_folder(self._hashes_uri, self._commit.run_id, part), "*.parquet")

    def expand(self, pbegin):
        if self._commit is None:
            return pbegin | "NoState" >> beam.Create([]), pbegin | "NoMatches" >> beam.Create([])
        state = pbegin | "ReadState" >> beam.io.ReadFromParquet(self._files("state"))
        active = pbegin | "ReadActive" >> beam.io.ReadFromParquet(self._files("active"))
        return state, active


def _earliest(rows: Iterable[Dict]) -> Dict:
    return min(rows, key=lambda row: row["reported_run"])


class WriteActive(beam.PTransform):
    """(standing match rows, this run's match rows) -> HASHES/run=R/active/, one row per match."""

    def __init__(self, hashes_uri: str, run_id: str):
        super().__init__()
        self._folder = run_folder(hashes_uri, run_id, "active")

    def expand(self, inputs):
        standing, matches = inputs
        return (
            (standing, matches | "ActiveRows" >> beam.Map(active_row))
            | "AllActive" >> beam.Flatten()
            | "Key" >> beam.Map(lambda row: (match_key(row), row))
            | "Earliest" >> beam.CombinePerKey(_earliest)
            | "Rows" >> beam.Values()
            | "Write" >> WriteParquetFolder(self._folder, ACTIVE_SCHEMA)
        )


class WriteEnded(beam.PTransform):
    """(withdrawn, deleted standing match rows) -> RUN_DIR/withdrawn/ and RUN_DIR/deleted/."""

    def __init__(self, run_dir: str, run_id: str, registry_version: str):
        super().__init__()
        self._run_dir = run_dir
        self._run_id = run_id
        self._registry_version = registry_version

    def expand(self, inputs):
        withdrawn, deleted = inputs
        return (
            withdrawn
            | "WithdrawnRows" >> beam.Map(withdrawn_row, self._run_id, self._registry_version)
            | "WriteWithdrawn" >> WriteParquetFolder(FileSystems.join(self._run_dir, "withdrawn"), WITHDRAWN_SCHEMA),
            deleted
            | "DeletedRows" >> beam.Map(deleted_row, self._run_id)
            | "WriteDeleted" >> WriteParquetFolder(FileSystems.join(self._run_dir, "deleted"), DELETED_SCHEMA),
        )
