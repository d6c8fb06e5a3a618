"""The hash store's rows: every hash a match needs, per object, in binary; and reading them back.

Under the store (`--hashes`), each committed run R holds (see store/commits.py for the protocol):
- `run=R/objects/`: one row per object hashed in R (schemas.hash_schema): for each signal type
  its hashes (binary), variants, qualities and frame times; the rotated and mirrored PDQ variants
  too, so that a stored turned or letterboxed copy matches a new entry as a fresh scan would.
- `run=R/state/`: one row per object known after R (schemas.STATE_SCHEMA): its version, hasher
  version and the run whose `objects/` holds its hashes. A night reads the last committed state
  (one row per object), not every row ever written.
- `run=R/active/`: the matches standing after R (store/standing.py).
"""
from typing import Dict, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.records import MediaHashes
from transforms.parquet_folder import WriteParquetFolder
from transforms.schemas import STATE_SCHEMA, hash_schema
from transforms.signals import SIGNALS, hasher_version
from transforms.signals.base import SignalHash


def run_folder(hashes_uri: str, run_id: str, part: str) -> str:
    return FileSystems.join(hashes_uri, f"run={run_id}", part)


def object_row(media: MediaHashes, run_id: str, hashed_at) -> Dict:
    """A row of objects/: the object and all its hashes."""
    row = {
        "uri": media.uri,
        "object_version": media.object_version,
        "media_type": media.media_type,
        "hasher_version": hasher_version(media.media_type),
        "hashed_at": hashed_at,
        "run_id": run_id,
        "partial": media.partial,
    }
    for name in SIGNALS:
        hashes = media.hashes.get(name, ())
        row[name] = [h.value for h in hashes]
        row[f"{name}_variant"] = [h.variant for h in hashes]
        row[f"{name}_quality"] = [h.quality for h in hashes]
        row[f"{name}_time_s"] = [h.time_s for h in hashes]
    return row


def media_of_row(row: Dict) -> MediaHashes:
    """The MediaHashes an objects/ row holds: what a fresh hashing of the object gave."""
    hashes = {}
    for name in SIGNALS:
        values = row.get(name) or ()
        hashes[name] = tuple(
            SignalHash(value, variant, quality, time_s)
            for value, variant, quality, time_s in zip(
                values, row[f"{name}_variant"], row[f"{name}_quality"], row[f"{name}_time_s"]
            )
        )
    return MediaHashes(row["uri"], row["object_version"], row["media_type"], hashes, bool(row.get("partial")))


def state_row(media: MediaHashes, run_id: str) -> Dict:
    return {
        "uri": media.uri,
        "object_version": media.object_version,
        "hasher_version": hasher_version(media.media_type),
        "media_type": media.media_type,
        "hashed_run": run_id,
    }


class WriteHashStore(beam.PTransform):
    """This run's part of the store, from (hashed MediaHashes, adopted ones, carried state rows,
    rewritten objects/ rows): objects/ for the hashed and adopted objects and the rewritten rows (a
    compacting run's), each written as it comes (a killed run leaves the files of what it hashed),
    and state/ for every object known after the run: the hashed ones', then the rewritten ones'
    pointing here when compacting, else the carried state rows as they were (unchanged objects,
    and those under a prefix that could not be listed)."""

    def __init__(self, hashes_uri: str, run_id: str, hashed_at, compact: bool = False,
                 roll: Optional[Tuple[int, float]] = None):
        super().__init__()
        self._hashes_uri = hashes_uri
        self._run_id = run_id
        self._hashed_at = hashed_at
        self._compact = compact
        self._roll = roll  # (rows, seconds): objects/ files closed as they fill, for a later run to adopt

    def expand(self, inputs):
        hashed, adopted, carried, rewritten = inputs
        rows = dict(run_id=self._run_id, hashed_at=self._hashed_at)
        objects = (
            hashed | "ObjectRows" >> beam.Map(object_row, **rows),
            adopted | "AdoptedRows" >> beam.Map(object_row, **rows),
            rewritten,
        ) | "WriteObjects" >> WriteParquetFolder(run_folder(self._hashes_uri, self._run_id, "objects"), hash_schema(),
                                                 self._roll)
        kept = rewritten | "StateOfRewritten" >> beam.Map(rewritten_state) if self._compact else carried
        state = (
            (hashed | "StateRows" >> beam.Map(state_row, run_id=self._run_id),
             adopted | "AdoptedState" >> beam.Map(state_row, run_id=self._run_id), kept)
            | "AllState" >> beam.Flatten()
            | "WriteState" >> WriteParquetFolder(run_folder(self._hashes_uri, self._run_id, "state"), STATE_SCHEMA)
        )
        return objects, state


def rewritten_state(row: Dict) -> Dict:
    """The state row of an objects/ row: it points at the run whose objects/ holds it."""
    return {"uri": row["uri"], "object_version": row["object_version"], "hasher_version": row["hasher_version"],
            "media_type": row["media_type"], "hashed_run": row["run_id"]}


def objects_pattern(run_id: str, hashes_uri: str) -> str:
    """The objects/ files of one run."""
    return FileSystems.join(run_folder(hashes_uri, run_id, "objects"), "*.parquet")


def _current(joined):
    """The object's row from the run its state names (an older run may hold an older version)."""
    _, groups = joined
    runs = set(groups["state"])
    for row in groups["rows"]:
        if row["run_id"] in runs:
            yield row
            return


def _key(row: Dict):
    return row["uri"], row["object_version"]


def _hashed_run(row: Dict) -> str:
    return row["hashed_run"]


class ReadStored(beam.PTransform):
    """State rows -> the objects/ rows they point to: each run's files read once, whatever number
    of objects it holds, and joined with the state by object and version."""

    def __init__(self, hashes_uri: str):
        super().__init__()
        self._hashes_uri = hashes_uri

    def expand(self, state):
        rows = (
            state
            | "Runs" >> beam.Map(_hashed_run)
            | "DistinctRuns" >> beam.Distinct()
            | "Patterns" >> beam.Map(objects_pattern, self._hashes_uri)
            | "ReadObjects" >> beam.io.ReadAllFromParquet()
            | "KeyRows" >> beam.Map(lambda row: (_key(row), row))
        )
        return (
            {"state": state | "KeyState" >> beam.Map(lambda row: (_key(row), _hashed_run(row))), "rows": rows}
            | "Join" >> beam.CoGroupByKey()
            | "Current" >> beam.FlatMap(_current)
        )
