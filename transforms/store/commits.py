"""The commit protocol: a run counts only once it committed, by a marker written after all its writes.

A run writes its part of the hash store (`HASHES/run=R/objects|state|active/`) and its reports
(`OUTPUT/run=R/...`); only then `HASHES/run=R/_COMMITTED` (a JSON document: store format, registry
version and files matched against) and `OUTPUT/run=R/_SUCCESS`. A run killed half-way, or one
whose writes failed, leaves no marker: later runs ignore what it wrote and hash its objects again.
"""
import json
import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Set, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_folder import TEMP_PREFIX, delete_files

COMMIT_MARKER = "_COMMITTED"
REPORT_MARKER = "_SUCCESS"
SETTINGS_FILE = "_HASH_SETTINGS.json"  # a run's hash settings, by which a later run adopts its files (store/adoption.py)
STORE_FORMAT = 2  # 1: takedown-scan 0.1's run=R/*.parquet, one row per frame, no commits


class StoreRefused(Exception):
    """The hash store cannot be used; str() is a one-line reason that says what to do."""


@dataclass(frozen=True)
class Commit:
    """What a committed run recorded for the next one."""

    run_id: str
    registry_version: str
    registry_files: Tuple[str, ...]
    compacted: bool = False  # its state points only at its own objects/ (store/compaction.py)


def _matching(pattern: str) -> List[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception as e:  # a missing bucket, no credentials
        raise StoreRefused(f"hash store {pattern} cannot be listed: {type(e).__name__}: {e}") from None


def _run_id(path: str) -> str:
    return posixpath.basename(posixpath.dirname(path)).removeprefix("run=")


def latest_commit(hashes_uri: str) -> Optional[Commit]:
    """The last committed run of the store, or None for a new (or empty) store."""
    markers = _matching(FileSystems.join(hashes_uri, "run=*", COMMIT_MARKER))
    if not markers:
        if _matching(FileSystems.join(hashes_uri, "run=*", "*.parquet")):
            raise StoreRefused(
                f"hash store {hashes_uri} is in the format of takedown-scan 0.1 (one row per frame, no "
                f"committed runs): give --hashes a new folder, or delete this one, to hash everything again"
            )
        return None
    return read_commit(hashes_uri, max(markers, key=_run_id))


def read_commit(hashes_uri: str, path: str) -> Commit:
    """The commit a marker records; StoreRefused when it cannot be read or is of another format."""
    try:
        with FileSystems.open(path) as f:
            document = json.loads(f.read())
        if document["format"] != STORE_FORMAT:
            raise StoreRefused(f"hash store {hashes_uri}: run {_run_id(path)} has store format "
                               f"{document['format']}, this version reads {STORE_FORMAT}")
        return Commit(document["run_id"], document["registry_version"], tuple(document["registry_files"]),
                      bool(document.get("compacted")))
    except StoreRefused:
        raise
    except Exception as e:
        raise StoreRefused(f"hash store commit {path} cannot be read: {type(e).__name__}: {e}") from None


def all_commits(hashes_uri: str) -> List[Commit]:
    """Every committed run of the store, oldest first."""
    markers = _matching(FileSystems.join(hashes_uri, "run=*", COMMIT_MARKER))
    return [read_commit(hashes_uri, path) for path in sorted(markers, key=_run_id)]


def run_parts(hashes_uri: str) -> Dict[str, Set[str]]:
    """Every run folder of the store, committed or not, and the parts it holds (objects, state,
    active, adopted, the commit marker, ...)."""
    parts: Dict[str, Set[str]] = {}
    for depth, pattern in ((2, FileSystems.join(hashes_uri, "run=*", "*")),
                           (3, FileSystems.join(hashes_uri, "run=*", "*", "*"))):
        for path in _matching(pattern):
            run, part = path.split("/")[-depth:][:2]
            parts.setdefault(run.removeprefix("run="), set()).add(part)
    return parts


def clear_leftovers(root: str) -> int:
    """Remove the temporary files (`beam-temp-*`) that runs killed while writing left under
    ROOT/run=*/PART/; returns how many. A finished write removes its own."""
    leftovers = _matching(FileSystems.join(root, "run=*", "*", f"{TEMP_PREFIX}*", "*"))
    delete_files(leftovers)
    return len(leftovers)


def commit_document(run_id: str, registry_version: str, registry_files: Sequence[str], compacted: bool = False) -> Dict:
    return {
        "format": STORE_FORMAT,
        "run_id": run_id,
        "registry_version": registry_version,
        "registry_files": list(registry_files),
        "compacted": compacted,
        "committed_at": datetime.now(timezone.utc).isoformat(),
    }


def report_marker(run_dir: str, run_id: str) -> Tuple[str, bytes]:
    # Not empty: Beam's S3 filesystem cannot write an empty object (a multipart upload of no parts).
    return FileSystems.join(run_dir, REPORT_MARKER), json.dumps({"run_id": run_id}).encode() + b"\n"


def commit_marker(hashes_uri: str, document: Dict) -> Tuple[str, bytes]:
    path = FileSystems.join(hashes_uri, f"run={document['run_id']}", COMMIT_MARKER)
    return path, json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def _moved_on(hashes_uri: str, expected_run: str) -> bool:
    """Whether the store's last commit is no longer the run a run started from (and say so)."""
    latest = latest_commit(hashes_uri)
    if latest is not None and latest.run_id == expected_run:
        return False
    logging.getLogger("takedown_scan").warning(
        "the hash store moved on to run %s while this run read run %s: this run is not committed to it",
        latest.run_id if latest else None, expected_run)
    return True


def _write_markers(_, markers: Sequence[Tuple[str, bytes]], unless_moved: Optional[Tuple[str, str]], *written) -> bool:
    if unless_moved and _moved_on(*unless_moved):
        return False
    for path, content in markers:  # in order: the store's marker last
        with FileSystems.create(path) as f:
            f.write(content)
    return True


class WriteMarkers(beam.PTransform):
    """Once every PCollection of `after` (the run's writes) is complete, write `markers` (path,
    content) in order: a scan's report marker, then its commit marker. With `unless_moved`
    (hashes_uri, run_id), only if the store's last commit is still that run: a run that read the
    store while another committed (a rematch beside a nightly scan) must not set the state back."""

    def __init__(self, markers: Sequence[Tuple[str, bytes]], after: Sequence[beam.PCollection],
                 unless_moved: Optional[Tuple[str, str]] = None):
        super().__init__()
        self._markers = tuple(markers)
        self._after = after
        self._unless_moved = unless_moved

    def expand(self, pbegin):
        waits = [beam.pvalue.AsList(pcoll) for pcoll in self._after]
        return pbegin | "Once" >> beam.Impulse() | "WriteMarkers" >> beam.Map(
            _write_markers, self._markers, self._unless_moved, *waits)
