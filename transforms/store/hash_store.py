"""The hash store: what the scan keeps of every object it hashed, and the split of a listing into
objects to hash and objects whose current version the store already holds (same hasher version).

The split is a join, not a side input: listing and hash store can both hold billions of rows. Its
shuffle also spreads the listed objects across workers before the reads (listing adds no reshuffle).
"""
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.media.hashing import HASHER_VERSION, MediaHashes
from transforms.reports.writers import WriteParquetFolder
from transforms.schemas import HASH_SCHEMA
from transforms.signals import SIGNALS
from transforms.signals.pdq import PDQ


def hash_store_pattern(hashes_uri: str) -> str:
    return FileSystems.join(hashes_uri, "run=*", "*.parquet")


def hash_store_rows(media: MediaHashes, hashed_at, hasher_version: str = HASHER_VERSION):
    """Rows of the hash store: one per PDQ hash (as is, or trimmed) of the object, with the object's
    exact hashes beside it."""
    exact = {name: hashes[0].value for name, hashes in media.hashes.items() if SIGNALS[name].exact}
    for frame in media.hashes.get(PDQ.name, ()):
        if frame.derived:
            continue
        yield {
            "uri": media.uri,
            "object_version": media.object_version,
            "media_type": media.media_type,
            "frame_time_s": frame.time_s,
            "pdq": frame.value,
            "pdq_variant": frame.variant,
            "quality": frame.quality,
            **exact,
            "hashed_at": hashed_at,
            "hasher_version": hasher_version,
        }


class WriteHashStore(beam.PTransform):
    """MediaHashes -> HASHES/run=RUN_ID/*.parquet."""

    def __init__(self, hashes_uri: str, run_id: str, hashed_at):
        super().__init__()
        self._folder = FileSystems.join(hashes_uri, f"run={run_id}")
        self._hashed_at = hashed_at

    def expand(self, hashes):
        return (
            hashes
            | "Rows" >> beam.FlatMap(hash_store_rows, hashed_at=self._hashed_at)
            | "Write" >> WriteParquetFolder(self._folder, HASH_SCHEMA)
        )


class SkipUnchanged(beam.PTransform):
    """MediaObjects -> those to hash (main output `changed`) and those already hashed (`unchanged`).
    With `rescan`, every object is to hash."""

    def __init__(self, hashes_uri: str, rescan: bool = False):
        super().__init__()
        self._hashes_uri = hashes_uri
        self._rescan = rescan

    def expand(self, objects):
        if self._rescan:
            return objects | "Spread" >> beam.Reshuffle(), objects.pipeline | "NothingSkipped" >> beam.Create([])
        stored = (
            objects.pipeline
            | "HashStore" >> beam.Create([hash_store_pattern(self._hashes_uri)])
            | "ReadStored" >> beam.io.ReadAllFromParquet(columns=["uri", "object_version", "hasher_version"])
            | "CurrentHasher" >> beam.Filter(lambda row: row["hasher_version"] == HASHER_VERSION)
            | "KeyStored" >> beam.Map(lambda row: ((row["uri"], row["object_version"]), None))
        )
        listed = objects | "KeyListed" >> beam.Map(lambda obj: ((obj.uri, obj.version), obj))
        return (
            {"listed": listed, "stored": stored}
            | "Join" >> beam.CoGroupByKey()
            | "Split" >> beam.FlatMap(_split).with_outputs("unchanged", main="changed")
        )


def _split(joined):
    _, groups = joined
    already_hashed = any(True for _ in groups["stored"])
    for obj in groups["listed"]:
        yield beam.pvalue.TaggedOutput("unchanged", obj) if already_hashed else obj
