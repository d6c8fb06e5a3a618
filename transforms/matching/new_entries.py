"""Stored hashes against the entries added to the registry since they were last matched: the
nightly case (millions of stored hashes, thousands of new entries), with no media read.

Stored objects arrive in large batches (about `batch_hashes` hashes each). For each signal type
the batch's hashes are matched against the new entries' in one call of `Signal.pairs`, which
indexes the larger side (the batch) and queries it with the smaller (the entries): exact, and far
cheaper than querying an index of the entries once per stored hash. Only the objects with a pair
go on to `match_media`, the same rules a freshly hashed object meets (best distance per entry,
video shares), so a stored copy matches a new entry exactly as a fresh scan would.
"""
from typing import Dict, FrozenSet, List, Optional, Set

import apache_beam as beam
import numpy as np

from transforms.matching.matcher import MatchHashes, MatchPlan, MatchSettings, RegistryIndex
from transforms.registry.snapshots import Snapshot
from transforms.signals import SIGNALS
from transforms.store.hash_store import media_of_row
from transforms.store.standing import MatchKey, match_key

BATCH_HASHES = 1 << 20


def candidates(rows: List[Dict], index: RegistryIndex, settings: MatchSettings) -> Set[int]:
    """Positions of the stored object rows with at least one queried hash within the threshold of
    an indexed value (the prefilter: exact, so no object that would match is left out)."""
    found: Set[int] = set()
    for name, signal in SIGNALS.items():
        if not len(index.indexes[name]):
            continue
        values, owners = [], []
        for position, row in enumerate(rows):
            for value, variant, quality in zip(row[name] or (), row[f"{name}_variant"], row[f"{name}_quality"]):
                if settings.queried(quality, variant):
                    values.append(value)
                    owners.append(position)
        if not values:
            continue
        packed = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, signal.value_bytes)
        in_batch, _, _ = signal.pairs(packed, index.registry.values[name], settings.threshold(signal))
        found.update(np.asarray(owners)[in_batch].tolist())
    return found


class MatchStoredBatch(MatchHashes):
    """A batch of objects/ rows -> match rows against a snapshot (the new entries, or a whole
    registry for rematch)."""

    def process(self, rows: List[Dict], snapshot: Snapshot):
        index = self._index_of(snapshot)
        for position in sorted(candidates(rows, index, self._settings)):
            yield from self._rows(media_of_row(rows[position]), index)


def _not_standing(match: Dict, standing: FrozenSet[MatchKey]) -> bool:
    return match_key(match) not in standing


def _hash_count(row: Dict) -> int:
    return max(1, sum(len(row[name] or ()) for name in SIGNALS))


class MatchStored(beam.PTransform):
    """Stored objects/ rows (store.hash_store.ReadStored) -> (match rows against the new entries,
    the rows compared); with no new entries (`snapshot` None), neither."""

    def __init__(self, snapshot: Optional[Snapshot], plan: MatchPlan, found_by: str = "new_entry",
                 batch_hashes: int = BATCH_HASHES, standing: FrozenSet[MatchKey] = frozenset()):
        super().__init__()
        self._snapshot = snapshot
        self._standing = standing  # matches reported before (by a rematch, say): not reported again
        self._match = MatchStoredBatch(plan, found_by)
        self._batch_hashes = batch_hashes

    def expand(self, stored):
        p = stored.pipeline
        if self._snapshot is None:
            return p | "NoMatches" >> beam.Create([]), p | "NoneCompared" >> beam.Create([])
        snapshot = p | "Snapshot" >> beam.Create([self._snapshot])
        matches = (
            stored
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch_hashes, max_batch_size=self._batch_hashes,
                                            element_size_fn=_hash_count)
            | "Match" >> beam.ParDo(self._match, beam.pvalue.AsSingleton(snapshot))
            | "NotStanding" >> beam.Filter(_not_standing, self._standing)
        )
        return matches, stored
