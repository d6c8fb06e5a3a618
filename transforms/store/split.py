"""Tonight's listing against the last committed state: which objects to hash, which are unchanged,
and how each standing match fares.

A join by URI, not a side input: listing and state can both hold billions of rows. Its shuffle
also spreads the listed objects across workers before the reads (listing adds no reshuffle). An
object is unchanged when the state holds its listed version hashed by the current hasher; its
state row is carried forward. Anything else (new, replaced, hashed by an older hasher, or every
object under `rescan`) is hashed; an object in the state but no longer listed drops out, unless it
lies under a prefix that could not be listed tonight: then nothing is known of it, and its state
row (`unlisted`) and standing matches are carried forward as they were.

An object that would be hashed takes instead its `adopted` hashes (store/adoption.py: written by
a run that did not commit) of its listed version, when there are some.

A standing match whose object version is no longer listed (deleted, or replaced) is `deleted`,
whatever happened to its entry; one whose object is there but whose entry left the registry is
`withdrawn`; one whose object is unchanged stands on; the rest (objects hashed again) are found
again, or not, by tonight's hashing.
"""
from typing import Dict, FrozenSet, Iterator, Sequence

import apache_beam as beam

from transforms.signals import hasher_version
from transforms.store.standing import MatchKey, match_key


def _ended(match: Dict, listed: Dict[str, object], withdrawn: FrozenSet[MatchKey]):
    """The output a standing match goes to, if it ends tonight (`listed`: version -> itself)."""
    if match["object_version"] not in listed:
        versions = sorted(listed)
        return beam.pvalue.TaggedOutput("deleted", {**match, "listed_version": versions[0] if versions else None})
    if match_key(match) in withdrawn:
        return beam.pvalue.TaggedOutput("withdrawn", match)
    return None


def split_object(joined, rescan: bool = False, withdrawn: FrozenSet[MatchKey] = frozenset(),
                 unlistable: Sequence[str] = ()) -> Iterator:
    """(uri, {listed, state, active, adopted}) -> objects to hash (main), `adopted` MediaHashes
    that stand in for hashing them, `unchanged` and `unlisted` state rows, and the standing
    matches: `standing`, `withdrawn` or `deleted` (`unlistable`: the prefixes that could not be
    listed)."""
    uri, groups = joined
    state = list(groups["state"])
    listed = {obj.version: obj for obj in groups["listed"]}
    adoptable = {media.object_version: media for media in groups["adopted"]}
    if not listed and any(uri.startswith(prefix) for prefix in unlistable):  # unknown tonight: kept as it was
        yield from (beam.pvalue.TaggedOutput("unlisted", row) for row in state)
        yield from (beam.pvalue.TaggedOutput("standing", match) for match in groups["active"])
        return
    unchanged = set()
    for obj in listed.values():
        current = [
            row for row in state
            if row["object_version"] == obj.version and row["hasher_version"] == hasher_version(row["media_type"])
        ]
        if rescan or not current:
            adopted = adoptable.get(obj.version)
            yield obj if adopted is None else beam.pvalue.TaggedOutput("adopted", adopted)
            continue
        unchanged.add(obj.version)
        yield beam.pvalue.TaggedOutput("unchanged", current[0])
    for match in groups["active"]:
        ended = _ended(match, listed, withdrawn)
        if ended is not None:
            yield ended
        elif match["object_version"] in unchanged:
            yield beam.pvalue.TaggedOutput("standing", match)


def _by_uri(row: Dict):
    return row["uri"], row


def _uri_of(error) -> str:
    return error.uri


class SplitListing(beam.PTransform):
    """(listed MediaObjects, previous state rows, previous standing match rows, unlistable prefix
    errors, adopted MediaHashes) -> objects to hash (main output `changed`), `adopted` MediaHashes,
    `unchanged` and `unlisted` state rows, and `standing`, `withdrawn` and `deleted` match rows
    (`withdrawn`: the keys of standing matches whose entry left the registry)."""

    def __init__(self, rescan: bool = False, withdrawn: FrozenSet[MatchKey] = frozenset()):
        super().__init__()
        self._rescan = rescan
        self._withdrawn = withdrawn

    def expand(self, inputs):
        objects, state, active, unlistable, adopted = inputs
        prefixes = beam.pvalue.AsList(unlistable | "Prefixes" >> beam.Map(_uri_of))
        return (
            {
                "listed": objects | "KeyListed" >> beam.Map(lambda obj: (obj.uri, obj)),
                "state": state | "KeyState" >> beam.Map(_by_uri),
                "active": active | "KeyActive" >> beam.Map(_by_uri),
                "adopted": adopted | "KeyAdopted" >> beam.Map(lambda media: (media.uri, media)),
            }
            | "Join" >> beam.CoGroupByKey()
            | "Split" >> beam.FlatMap(split_object, self._rescan, self._withdrawn, prefixes).with_outputs(
                "adopted", "unchanged", "unlisted", "standing", "withdrawn", "deleted", main="changed")
        )
