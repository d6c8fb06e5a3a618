"""Resuming a run that did not commit: the hashes its finished bundles wrote are adopted by the
next run, which then hashes only what is left.

Each scan writes, before any media is read, `HASHES/run=R/_HASH_SETTINGS.json`: the hasher
versions and the settings that change what hashing outputs. The next run looks at the runs that
began after the last commit and never committed; from those whose settings equal its own, every
objects/ file that is whole (one a finished bundle closed: its Parquet footer reads, with tonight's
schema) is moved into the new run's `adopted/` folder, so that a run killed in its turn hands
them on again. In the pipeline (store/split.py) a listed object that would be hashed takes an
adopted row instead when the row is of the same object version and the current hasher version;
it is then matched against the whole registry and written to the store exactly as a freshly
hashed object. Nothing is skipped, matched or reported on the word of an uncommitted run alone:
its rows only stand in for reading and hashing the same bytes again.
"""
import json
import logging
from typing import Dict, List, Optional

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_folder import TEMP_PREFIX
from transforms.schemas import hash_schema
from transforms.signals import hasher_version
from transforms.store.commits import SETTINGS_FILE, Commit, run_parts
from transforms.store.hash_store import media_of_row, run_folder

LOG = logging.getLogger("takedown_scan")


def _read_json(path: str) -> Optional[Dict]:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return json.loads(f.read())
    except Exception:  # absent or unreadable: nothing to adopt from that run
        return None


def _whole(path: str) -> bool:
    """Whether a bundle's file was closed: its footer reads and its schema is tonight's."""
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return pq.ParquetFile(f).schema_arrow.equals(hash_schema())
    except Exception:
        return False


def _files(hashes_uri: str, run: str) -> List[str]:
    patterns = [FileSystems.join(run_folder(hashes_uri, run, "objects"), "*.parquet"),
                FileSystems.join(run_folder(hashes_uri, run, "objects"), f"{TEMP_PREFIX}*", "*.parquet"),
                FileSystems.join(run_folder(hashes_uri, run, "adopted"), "*.parquet")]
    return sorted(m.path for pattern in patterns for m in FileSystems.match([pattern])[0].metadata_list)


def adopt(hashes_uri: str, run_id: str, settings: Dict, latest: Optional[Commit]) -> List[str]:
    """Write this run's settings, and move the whole objects/ files of the uncommitted runs since
    the last commit that hashed with the same settings into RUN/adopted/; their new paths."""
    with FileSystems.create(FileSystems.join(hashes_uri, f"run={run_id}", SETTINGS_FILE)) as f:
        f.write(json.dumps(settings, sort_keys=True).encode())
    runs = sorted(run for run, parts in run_parts(hashes_uri).items()
                  if "_COMMITTED" not in parts and run != run_id and (latest is None or run > latest.run_id))
    sources = []
    for run in runs:
        if _read_json(FileSystems.join(hashes_uri, f"run={run}", SETTINGS_FILE)) == settings:
            sources += [path for path in _files(hashes_uri, run) if _whole(path)]
    targets = [FileSystems.join(run_folder(hashes_uri, run_id, "adopted"), f"part-{i:05d}.parquet")
               for i in range(len(sources))]
    if sources:
        try:
            FileSystems.mkdirs(run_folder(hashes_uri, run_id, "adopted"))  # a local folder; object stores have none
        except IOError:
            pass
        FileSystems.rename(sources, targets)
        LOG.info("adopting the hashes of %d file(s) of %d run(s) that did not commit", len(sources), len(runs))
    return targets


def _current(row: Dict) -> bool:
    return row["hasher_version"] == hasher_version(row["media_type"])


class ReadAdopted(beam.PTransform):
    """Adopted objects/ files -> the MediaHashes of their rows of the current hasher version."""

    def __init__(self, paths: List[str]):
        super().__init__()
        self._paths = list(paths)

    def expand(self, pbegin):
        if not self._paths:
            return pbegin | "NoneAdopted" >> beam.Create([])
        return (
            pbegin
            | "Files" >> beam.Create(self._paths)
            | "Read" >> beam.io.ReadAllFromParquet()
            | "Current" >> beam.Filter(_current)
            | "Hashes" >> beam.Map(media_of_row)
        )
