"""Standing matches: what earlier runs reported and still holds, and the withdrawals among them.

Each committed run keeps, in `HASHES/run=R/active/`, every match that stands after it: the ones it
reported, and the earlier ones whose object is unchanged. On the next night a standing match whose
entry is no longer in the registry (withdrawn or deleted upstream) is a withdrawal, written to
`withdrawn/` so that the takedown team can reinstate the content; the rest stand on.
"""
import io
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_folder import WriteParquetFolder
from transforms.schemas import ACTIVE_SCHEMA
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
                rows.extend(pq.read_table(io.BytesIO(f.read())).to_pylist())
    except Exception as e:
        raise StoreRefused(f"hash store {pattern} cannot be read: {type(e).__name__}: {e}") from None
    return rows


def withdrawn_rows(active: Iterable[Dict], current_entries: FrozenSet[str], run_id: str, registry_version: str) -> List[Dict]:
    """The standing matches whose entry left the registry, as rows of withdrawn/."""
    return [
        {"run_id": run_id, **{k: row[k] for k in ("uri", "object_version", "entry_id", "signal_type",
                                                  "reported_run", "reported_registry_version")},
         "registry_version": registry_version}
        for row in active
        if row["entry_id"] not in current_entries
    ]


def _standing(row: Dict, withdrawn: FrozenSet[MatchKey]) -> bool:
    return match_key(row) not in withdrawn


class ReadPreviousRun(beam.PTransform):
    """The last committed run's state rows and standing matches (less the withdrawn ones); empty
    PCollections for a new store."""

    def __init__(self, hashes_uri: str, commit: Optional[Commit], withdrawn: FrozenSet[MatchKey]):
        super().__init__()
        self._hashes_uri = hashes_uri
        self._commit = commit
        self._withdrawn = withdrawn

    def _files(self, part: str) -> str:
        return FileSystems.join(run_folder(self._hashes_uri, self._commit.run_id, part), "*.parquet")

    def expand(self, pbegin):
        if self._commit is None:
            return pbegin | "NoState" >> beam.Create([]), pbegin | "NoMatches" >> beam.Create([])
        state = pbegin | "ReadState" >> beam.io.ReadFromParquet(self._files("state"))
        active = (
            pbegin
            | "ReadActive" >> beam.io.ReadFromParquet(self._files("active"))
            | "LessWithdrawn" >> beam.Filter(_standing, self._withdrawn)
        )
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
