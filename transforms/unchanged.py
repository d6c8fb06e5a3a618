"""Skip objects whose current version the hash store already holds (same hasher version).

A join, not a side input: listing and hash store can both hold billions of rows. Its shuffle
also spreads the listed objects across workers before the reads (listing adds no reshuffle).
"""
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.hashing import HASHER_VERSION


def hash_store_pattern(hashes_uri: str) -> str:
    return FileSystems.join(hashes_uri, "run=*", "*.parquet")


class SkipUnchanged(beam.PTransform):
    """MediaObjects -> those to hash (main output `changed`) and those already hashed (`unchanged`)."""

    def __init__(self, hashes_uri: str):
        super().__init__()
        self._hashes_uri = hashes_uri

    def expand(self, objects):
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
