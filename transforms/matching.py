"""Hashes in, matches out: the registry index a worker builds once, and the DoFn around it.

`match_media` is the pure core: PDQ frames of quality >= the minimum against every registry PDQ
within the distance threshold, exact hashes by equality; one Match per (entry, signal), the best.
A timed item (a video, an animated image) matches an entry only when enough of its frames matched
(`matched_frame_share`, of its frames of sufficient quality) and enough of the entry's frames were
found (`registry_frame_share`), the two shares vPDQ defines. A frame counts once, whichever of its
variants (as is, border-trimmed, and their rotations and mirrors) matched.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional

import apache_beam as beam
import numpy as np
from apache_beam.utils import shared

from transforms.hashing import MediaHashes
from transforms.pdq_index import PdqIndex, hashes_from_hex
from transforms.pdq_reduced import DIHEDRAL
from transforms.registry import Registry, Snapshot, load_registry
from transforms.signals import EXACT_SIGNALS


@dataclass(frozen=True)
class MatchSettings:
    pdq_threshold: int = 31
    min_quality: int = 50
    min_matched_frame_share: float = 0.0  # of the video's frames that matched the entry
    min_registry_frame_share: float = 0.1  # of the entry's frames found in the video
    dihedral: bool = True  # also match the rotations and mirrors of each picture


@dataclass(frozen=True)
class Match:
    signal_type: str
    item_hash: str
    entry_id: str
    registry_hash: str
    distance: int
    quality: Optional[int]
    frame_time_s: Optional[float]
    registry_row: int  # row of the Registry, for the entry's metadata
    item_variant: str = "original"  # which of the item's hashes matched, e.g. "trimmed/rotate90"
    matched_frame_share: Optional[float] = None  # timed items only
    registry_frame_share: Optional[float] = None


class RegistryIndex:
    """What a worker matches against: a PDQ index and exact-hash lookups over one Registry."""

    def __init__(self, registry: Registry):
        self.registry = registry
        pdq_rows = [i for i, t in enumerate(registry.signal_types) if t == "pdq"]
        self.pdq = PdqIndex(
            hashes_from_hex(registry.signal_values[i] for i in pdq_rows), np.array(pdq_rows, dtype=np.int64)
        )
        self.pdq_rows_of_entry = Counter(registry.entry_ids[i] for i in pdq_rows)
        self.exact: Dict[str, Dict[str, List[int]]] = {s.name: defaultdict(list) for s in EXACT_SIGNALS}
        for row, (signal_type, value) in enumerate(zip(registry.signal_types, registry.signal_values)):
            if signal_type in self.exact:
                self.exact[signal_type][value].append(row)


def match_media(media: MediaHashes, index: RegistryIndex, settings: MatchSettings) -> List[Match]:
    """Every (entry, signal) the object matches, each with its best distance."""
    return _pdq_matches(media, index, settings) + _exact_matches(media, index)


def _pdq_matches(media: MediaHashes, index: RegistryIndex, settings: MatchSettings) -> List[Match]:
    registry = index.registry
    frames = [f for f in media.frames if f.quality >= settings.min_quality]
    if not frames or not len(index.pdq):
        return []
    queries = []  # (frame, variant name, hash): every hash of every usable frame
    for f in frames:
        queries.append((f, f.variant, f.pdq))
        if settings.dihedral:
            queries.extend((f, f"{f.variant}/{name}", h) for name, h in zip(DIHEDRAL, f.dihedral))
    found = index.pdq.query(hashes_from_hex(h for _, _, h in queries), settings.pdq_threshold)
    best = {}  # entry -> (distance, query, registry row): the closest pair, earliest query first
    frames_of_entry = defaultdict(set)  # entry -> times of the frames that matched it
    rows_of_entry = defaultdict(set)  # entry -> its registry rows that were found
    for query, row, distance in zip(*found):
        entry = registry.entry_ids[row]
        candidate = (int(distance), int(query), int(row))
        if entry not in best or candidate < best[entry]:
            best[entry] = candidate
        frames_of_entry[entry].add(queries[query][0].time_s)
        rows_of_entry[entry].add(int(row))
    timed = any(f.time_s is not None for f in media.frames)
    frame_count = len({f.time_s for f in frames})
    matches = []
    for entry, (distance, query, row) in sorted(best.items()):
        shares = (None, None)
        if timed:
            shares = (len(frames_of_entry[entry]) / frame_count, len(rows_of_entry[entry]) / index.pdq_rows_of_entry[entry])
            if shares[0] < settings.min_matched_frame_share or shares[1] < settings.min_registry_frame_share:
                continue
        f, variant, item_hash = queries[query]
        matches.append(
            Match("pdq", item_hash, entry, registry.signal_values[row], distance, f.quality, f.time_s, row, variant, *shares)
        )
    return matches


def _exact_matches(media: MediaHashes, index: RegistryIndex) -> List[Match]:
    registry = index.registry
    matches = []
    for signal in EXACT_SIGNALS:
        value = getattr(media, signal.name)
        first_row_of_entry = {}
        for row in index.exact[signal.name].get(value, ()):
            first_row_of_entry.setdefault(registry.entry_ids[row], row)
        for entry, row in sorted(first_row_of_entry.items()):
            matches.append(Match(signal.name, value, entry, value, 0, None, None, row))
    return matches


def match_row(match: Match, media: MediaHashes, registry: Registry, run_id: str, scanned_at) -> dict:
    """A row of matches/ (see schemas.match_schema)."""
    row = {
        "run_id": run_id,
        "scanned_at": scanned_at,
        "uri": media.uri,
        "object_version": media.object_version,
        "media_type": media.media_type,
        "signal_type": match.signal_type,
        "item_hash": match.item_hash,
        "item_variant": match.item_variant,
        "entry_id": match.entry_id,
        "registry_hash": match.registry_hash,
        "distance": match.distance,
        "quality": match.quality,
        "frame_time_s": match.frame_time_s,
        "matched_frame_share": match.matched_frame_share,
        "registry_frame_share": match.registry_frame_share,
        "registry_version": registry.version,
    }
    row.update(registry.row_metadata(match.registry_row))
    return row


class MatchHashes(beam.DoFn):
    """MediaHashes -> match rows. The snapshot arrives as a side input; each worker process loads
    it and builds its index once (Shared, keyed by version), not once per element or thread."""

    def __init__(self, settings: MatchSettings, max_reject_share: float, run_id: str, scanned_at):
        self._settings = settings
        self._max_reject_share = max_reject_share
        self._run_id = run_id
        self._scanned_at = scanned_at
        self._shared = shared.Shared()
        self._index: Optional[RegistryIndex] = None
        self._matches = beam.metrics.Metrics.counter("scan", "matches")

    def _index_of(self, snapshot: Snapshot) -> RegistryIndex:
        if self._index is None or self._index.registry.version != snapshot.version:
            self._index = self._shared.acquire(
                lambda: RegistryIndex(load_registry(snapshot, self._max_reject_share)), tag=snapshot.version
            )
        return self._index

    def process(self, media: MediaHashes, snapshot: Snapshot):
        index = self._index_of(snapshot)
        for match in match_media(media, index, self._settings):
            self._matches.inc()
            yield match_row(match, media, index.registry, self._run_id, self._scanned_at)
