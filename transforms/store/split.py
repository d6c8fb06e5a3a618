"""Tonight's listing against the last committed state: which objects to hash, which are unchanged.

A join by URI, not a side input: listing and state can both hold billions of rows. Its shuffle
also spreads the listed objects across workers before the reads (listing adds no reshuffle). An
object is unchanged when the state holds its listed version hashed by the current hasher; its
state row is carried forward, with its standing matches. Anything else (new, replaced, hashed by
an older hasher, or every object under `rescan`) is hashed; an object in the state but no longer
listed (deleted) drops out, and so do its standing matches.
"""
from typing import Dict, Iterator

import apache_beam as beam

from transforms.signals import hasher_version


def split_object(joined, rescan: bool = False) -> Iterator:
    """(uri, {listed, state, active}) -> objects to hash (main), and `unchanged` state rows and
    `standing` match rows of the objects that are unchanged."""
    _, groups = joined
    state = list(groups["state"])
    for obj in groups["listed"]:
        current = [
            row for row in state
            if row["object_version"] == obj.version and row["hasher_version"] == hasher_version(row["media_type"])
        ]
        if rescan or not current:
            yield obj
            continue
        yield beam.pvalue.TaggedOutput("unchanged", current[0])
        for match in groups["active"]:
            if match["object_version"] == obj.version:
                yield beam.pvalue.TaggedOutput("standing", match)


def _by_uri(row: Dict):
    return row["uri"], row


class SplitListing(beam.PTransform):
    """(listed MediaObjects, previous state rows, previous standing match rows) -> objects to hash
    (main output `changed`), `unchanged` state rows, `standing` match rows."""

    def __init__(self, rescan: bool = False):
        super().__init__()
        self._rescan = rescan

    def expand(self, inputs):
        objects, state, active = inputs
        return (
            {
                "listed": objects | "KeyListed" >> beam.Map(lambda obj: (obj.uri, obj)),
                "state": state | "KeyState" >> beam.Map(_by_uri),
                "active": active | "KeyActive" >> beam.Map(_by_uri),
            }
            | "Join" >> beam.CoGroupByKey()
            | "Split" >> beam.FlatMap(split_object, self._rescan).with_outputs("unchanged", "standing", main="changed")
        )
