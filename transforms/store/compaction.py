"""Compaction of the hash store: after many nights, a night's state points at the objects/ files of
every run since the store began, and those files hold rows of objects since replaced or deleted.

A compacting run writes, in its own `objects/`, the rows of every object it carries forward
(unchanged, or under a prefix that could not be listed) beside the ones it hashed, and a state
that points only at itself; its commit says `compacted`. It is atomic by the commit protocol: a
reader of the store starts from the last commit, so it never sees a half-compacted state, and a
compacting run killed before its commit leaves the last one valid. Runs older than the last
compaction are then read by no one; they are deleted once a later run has committed too (so that
a reader still on the compaction's predecessor, such as a rematch, has a night to finish); so are the state/ and
active/ folders of older runs, and the folders of runs that never committed.

A nightly scan compacts when the superseded share of the rows its state may point at passes a
threshold, or after a number of runs (the files a night adds); `takedown-scan compact` does it
on demand. The facts are read from Parquet footers and commit markers, not from the rows.
"""
import logging
import shutil
from dataclasses import dataclass
from typing import Dict, List, Sequence

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.storage.objects import is_remote
from transforms.store.commits import SETTINGS_FILE, Commit, StoreRefused, all_commits, run_parts
from transforms.store.hash_store import ReadStored, run_folder

LOG = logging.getLogger("takedown_scan")


@dataclass(frozen=True)
class CompactionSettings:
    max_superseded_share: float = 0.25  # of the stored rows the state may point at
    max_runs: int = 30  # committed runs since the last compaction (each adds files)


@dataclass(frozen=True)
class StoreFacts:
    """How much the last committed state may read, against what it needs."""

    runs: int  # committed runs whose objects/ the state may point at (since the last compaction)
    stored_rows: int  # the rows of their objects/
    live_rows: int  # the rows of the last state: one per object

    @property
    def superseded_share(self) -> float:
        return 1 - self.live_rows / self.stored_rows if self.stored_rows else 0.0

    def summary(self) -> Dict:
        return {"store_runs": self.runs, "store_rows": self.stored_rows, "store_live_rows": self.live_rows,
                "store_superseded_share": round(self.superseded_share, 4)}


def _row_count(pattern: str) -> int:
    """The rows of the Parquet files matching `pattern`, from their footers."""
    total = 0
    for metadata in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(metadata.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            total += pq.ParquetFile(f).metadata.num_rows  # seeks to the footer: the rows are not read
    return total


def since_compaction(commits: Sequence[Commit]) -> List[Commit]:
    """The commits the last state may point into: from the last compacting one on (all without one)."""
    starts = [i for i, commit in enumerate(commits) if commit.compacted]
    return list(commits[starts[-1]:] if starts else commits)


def store_facts(hashes_uri: str, commits: Sequence[Commit]) -> StoreFacts:
    """The facts of a store with at least one commit."""
    runs = since_compaction(commits)
    try:
        stored = sum(_row_count(FileSystems.join(run_folder(hashes_uri, c.run_id, "objects"), "*.parquet")) for c in runs)
        live = _row_count(FileSystems.join(run_folder(hashes_uri, commits[-1].run_id, "state"), "*.parquet"))
    except Exception as e:
        raise StoreRefused(f"hash store {hashes_uri} cannot be read: {type(e).__name__}: {e}") from None
    return StoreFacts(len(runs), stored, live)


def should_compact(facts: StoreFacts, settings: CompactionSettings) -> bool:
    return facts.superseded_share >= settings.max_superseded_share or facts.runs >= settings.max_runs


def _delete_folder(folder: str) -> None:
    """A folder and all below it: gs:// and s3:// by prefix ("folder/"), a local one as a tree."""
    if is_remote(folder):
        FileSystems.delete([folder + "/"])
    else:
        shutil.rmtree(folder)


def collect_garbage(hashes_uri: str, commits: Sequence[Commit]) -> int:
    """Delete what no later run reads, keeping the last two commits whole (a reader, such as a
    rematch, may still be on the one before the last): the run folders older than the last
    compaction that a later run committed after; the folders of runs that never committed, older
    than those two; the state/ and active/ of older committed runs (only objects/ rows are
    read from them); and what only an uncommitted run is read for (adopted/, whose rows the run
    wrote again into its objects/, and the settings file). How many folders and files were deleted."""
    compactions = [commit for commit in commits[:-1] if commit.compacted]
    oldest_kept = compactions[-1].run_id if compactions else ""
    recent = {commit.run_id for commit in commits[-2:]}
    committed = {commit.run_id for commit in commits}
    folders, files = [], []
    for run, parts in sorted(run_parts(hashes_uri).items()):
        folder = FileSystems.join(hashes_uri, f"run={run}")
        if run < oldest_kept or (run not in committed and run < min(recent)):
            folders.append(folder)
        elif run in committed:
            done = ("adopted",) + (("state", "active") if run not in recent else ())
            folders += [FileSystems.join(folder, part) for part in done if part in parts]
            files += [FileSystems.join(folder, SETTINGS_FILE)] if SETTINGS_FILE in parts else []
    for folder in folders:
        _delete_folder(folder)
    if files:
        FileSystems.delete(files)
    if folders or files:
        LOG.info("hash store: %d folder(s) and %d file(s) no later run reads deleted", len(folders), len(files))
    return len(folders) + len(files)


def plan_compaction(hashes_uri: str, settings: CompactionSettings, force: bool = False):
    """(whether tonight's run compacts, the store's facts or None for a new store), after deleting
    what the last compaction left behind."""
    commits = all_commits(hashes_uri)
    if not commits:
        return False, None
    collect_garbage(hashes_uri, commits)
    facts = store_facts(hashes_uri, commits)
    return force or should_compact(facts, settings), facts


def compacted_row(row: Dict, run_id: str) -> Dict:
    """A stored objects/ row, rewritten into the compacting run's objects/."""
    return {**row, "run_id": run_id}


class CarryForward(beam.PTransform):
    """The state rows of the objects not hashed tonight -> (their stored objects/ rows, read when
    `read` or `compact`; the rows a compacting run rewrites into its own objects/, else none)."""

    def __init__(self, hashes_uri: str, run_id: str, read: bool, compact: bool):
        super().__init__()
        self._hashes_uri = hashes_uri
        self._run_id = run_id
        self._read = read or compact
        self._compact = compact

    def expand(self, carried):
        p = carried.pipeline
        if not self._read:
            return p | "NothingRead" >> beam.Create([]), p | "NothingRewritten" >> beam.Create([])
        stored = carried | "ReadStored" >> ReadStored(self._hashes_uri)
        if not self._compact:
            return stored, p | "NothingRewritten" >> beam.Create([])
        return stored, stored | "Rewrite" >> beam.Map(compacted_row, self._run_id)
