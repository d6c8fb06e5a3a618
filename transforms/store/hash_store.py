"""The hash store's rows: every hash a match needs, per object, in binary; and reading them back.

Under the store (`--hashes`), each committed run R holds (see store/commits.py for the protocol):
- `run=R/objects/`: one row per object hashed in R (schemas.hash_schema): for each signal type
  its hashes (binary), variants, qualities and frame times; the rotated and mirrored PDQ variants
  too, so that a stored turned or letterboxed copy matches a new entry as a fresh scan would.
- `run=R/state/`: one row per object known after R (schemas.STATE_SCHEMA): its version, hasher
  version and the run whose `objects/` holds its hashes. A night reads the last committed state
  (one row per object), not every row ever written.
- `run=R/active/`: the matches standing after R (store/matches.py).
"""
from typing import Dict

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
    """This run's part of the store: objects/ for the hashed objects, and state/ for every object
    known after the run (the hashed ones', and the carried state rows of the others: unchanged, or
    under a prefix that could not be listed)."""

    def __init__(self, hashes_uri: str, run_id: str, hashed_at):
        super().__init__()
        self._hashes_uri = hashes_uri
        self._run_id = run_id
        self._hashed_at = hashed_at

    def expand(self, inputs):
        hashes, *carried = inputs  # carried: state rows of objects not hashed again
        objects = (
            hashes
            | "ObjectRows" >> beam.Map(object_row, run_id=self._run_id, hashed_at=self._hashed_at)
            | "WriteObjects" >> WriteParquetFolder(run_folder(self._hashes_uri, self._run_id, "objects"), hash_schema())
        )
        state = (
            (hashes | "StateRows" >> beam.Map(state_row, run_id=self._run_id), *carried)
            | "AllState" >> beam.Flatten()
            | "WriteState" >> WriteParquetFolder(run_folder(self._hashes_uri, self._run_id, "state"), STATE_SCHEMA)
        )
        return objects, state


def objects_pattern(run_id: str, hashes_uri: str) -> str:
    """The objects/ files of one run."""
    return FileSystems.join(run_folder(hashes_uri, run_id, "objects"), "*.parquet")
