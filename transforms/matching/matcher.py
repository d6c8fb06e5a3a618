"""Hashes in, matches out: the registry index a worker builds once, and the DoFn around it.

`match_media` is the pure core: PDQ frames of quality >= the minimum against every registry PDQ
within the distance threshold, exact hashes by equality; one Match per (entry, signal), the best.
A timed item (a video, an animated image) matches an entry only when enough of its frames matched
(`matched_frame_share`, of its frames of sufficient quality) and enough of the entry's frames were
found (`registry_frame_share`), the two shares vPDQ defines. A frame counts once, whichever of its
variants (as is, border-trimmed, and their rotations and mirrors) matched.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.utils import shared

from transforms.records import MediaHashes
from transforms.registry.loaded import SEEN_COLUMN, Registry
from transforms.registry.cache import CachedRegistry, Tables
from transforms.registry.snapshots import Snapshot
from transforms.matching.suppression import Suppression
from transforms.schemas import utc_time
from transforms.signals import SIGNALS, score_columns, signal_options
from transforms.signals.base import Index, Signal, is_derived


@dataclass(frozen=True)
class MatchSettings:
    min_quality: int = 50
    min_matched_frame_share: float = 0.0  # of the video's frames that matched the entry
    min_registry_frame_share: float = 0.1  # of the entry's frames found in the video
    dihedral: bool = True  # also match the rotations and mirrors of each picture
    # the signal types' own options (name, value), e.g. (("pdq_threshold", 30),); the rest: defaults
    signal_options: Tuple[Tuple[str, object], ...] = ()
    # stricter limits for one registry source: (signal type, source, largest distance that matches),
    # e.g. (("pdq", "stopncii", 20),): a platform's own judgement of one registry's near matches
    source_limits: Tuple[Tuple[str, str, int], ...] = ()

    def option_values(self) -> Dict[str, object]:
        """Every signal type's option by name: as set here, else its default."""
        return {**{option.name: option.default for option in signal_options()}, **dict(self.signal_options)}

    def usable(self, quality: Optional[int]) -> bool:
        """Whether a hash of this quality may match (hashes without a quality always may)."""
        return quality is None or quality >= self.min_quality

    def queried(self, quality: Optional[int], variant: str) -> bool:
        """Whether a hash is looked up: usable, and not a rotation or mirror unless those match."""
        return self.usable(quality) and (self.dihedral or not is_derived(variant))

    def threshold(self, signal: Signal):
        """What the signal type's index query takes: the largest distance that matches (0 for an
        exact type), or the type's own thresholds."""
        return signal.threshold(self.option_values())


def parse_source_limits(text: str) -> Tuple[Tuple[str, str, int], ...]:
    """`SIGNAL:SOURCE=MAX,...` (such as `pdq:stopncii=20`) as MatchSettings.source_limits; a
    ValueError saying what is wrong otherwise."""
    limits = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, rest = item.partition(":")
        source, _, limit = rest.partition("=")
        signal = SIGNALS.get(kind)
        if signal is None or not signal.has_distance:
            raise ValueError(f"{item!r}: {kind!r} is not a signal type with distances "
                             f"({', '.join(n for n, s in SIGNALS.items() if s.has_distance)})")
        if not source or not limit.isdigit():
            raise ValueError(f"{item!r} is not SIGNAL:SOURCE=MAX, such as pdq:stopncii=20")
        limits.append((kind, source, int(limit)))
    return tuple(limits)


def _within_source_limits(signal: Signal, found, registry: Registry, settings: MatchSettings):
    """The (query, row, distance) pairs found, less those beyond their entry's source's limit."""
    limits = {source: limit for kind, source, limit in settings.source_limits if kind == signal.name}
    if not limits or "source" not in registry.metadata_columns or not len(found[1]):
        return found
    sources = registry.columns.column("source").take(pa.array(found[1], pa.int64())).to_pylist()
    keep = np.array([distance <= limits.get(source, distance) for distance, source in zip(found[2], sources)])
    return tuple(np.asarray(part)[keep] for part in found)


@dataclass(frozen=True)
class MatchPlan:
    """How a run matches: its thresholds, the share of registry rows that may be refused, and
    the run whose id and start every match row carries."""

    settings: MatchSettings
    max_reject_share: float
    run_id: str
    scanned_at: Optional[datetime] = None


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
    scores: Optional[Dict[str, float]] = None  # the signal type's own scores (its score_columns)


class RegistryIndex:
    """What a worker matches against: an index per signal type over one Registry's packed values,
    answering with registry rows."""

    def __init__(self, registry: Registry, tables: Optional[Tables] = None):
        self.registry = registry
        self.indexes: Dict[str, Index] = {
            name: signal.index(registry.values[name], registry.rows[name], (tables or {}).get(name))
            for name, signal in SIGNALS.items()
        }
        self._rows_of_entry: Dict[str, np.ndarray] = {}

    def tables(self) -> Tables:
        """What rebuilds these indexes over the same registry without building them again."""
        return {name: index.tables for name, index in self.indexes.items() if index.tables}

    def rows_of_entry(self, signal_type: str, row: int) -> int:
        """How many rows of this signal type the entry of `row` has (an entry's frames, for a video)."""
        if signal_type not in self._rows_of_entry:  # computed once, on the first timed item
            rows = self.registry.rows[signal_type]
            codes = pc.dictionary_encode(self.registry.entry_ids.take(pa.array(rows)).combine_chunks().cast(pa.string()))
            indices = codes.indices.to_numpy()
            self._rows_of_entry[signal_type] = np.bincount(indices)[indices].astype(np.int32)
        return int(self._rows_of_entry[signal_type][np.searchsorted(self.registry.rows[signal_type], row)])


def mapped_index(snapshot: Snapshot, max_reject_share: float) -> RegistryIndex:
    """The index of a snapshot from this machine's registry cache: loaded and built by the first
    process, mapped by the others."""
    cached = CachedRegistry(snapshot, max_reject_share)
    return RegistryIndex(cached.registry, cached.index_tables(lambda: RegistryIndex(cached.registry).tables()))


def match_media(media: MediaHashes, index: RegistryIndex, settings: MatchSettings) -> List[Match]:
    """Every (entry, signal) the object matches, each with its best distance."""
    matches = []
    for name, signal in SIGNALS.items():
        matches.extend(_signal_matches(signal, media, index, settings))
    return matches


def _signal_matches(signal: Signal, media: MediaHashes, index: RegistryIndex, settings: MatchSettings) -> List[Match]:
    registry = index.registry
    stored = media.hashes.get(signal.name, ())
    usable = [h for h in stored if settings.usable(h.quality)]
    if not usable or not len(index.indexes[signal.name]):
        return []
    queries = [h for h in usable if settings.queried(h.quality, h.variant)]
    found = index.indexes[signal.name].query(signal.pack([h.value for h in queries]), settings.threshold(signal))
    found = _within_source_limits(signal, found, registry, settings)
    best = {}  # entry -> (distance, query, registry row): the closest pair, earliest query first
    frames_of_entry = defaultdict(set)  # entry -> times of the frames that matched it
    rows_of_entry = defaultdict(set)  # entry -> its registry rows that were found
    for query, row, distance, entry in zip(*found, registry.entries_of(found[1])):
        candidate = (int(distance), int(query), int(row))
        if entry not in best or candidate < best[entry]:
            best[entry] = candidate
        frames_of_entry[entry].add(queries[query].time_s)
        rows_of_entry[entry].add(int(row))
    timed = any(h.time_s is not None for h in stored)
    frame_count = len({h.time_s for h in usable})
    matches = []
    for entry, (distance, query, row) in sorted(best.items()):
        shares = (None, None)
        if timed:
            shares = (
                len(frames_of_entry[entry]) / frame_count,
                len(rows_of_entry[entry]) / index.rows_of_entry(signal.name, row),
            )
            if shares[0] < settings.min_matched_frame_share or shares[1] < settings.min_registry_frame_share:
                continue
        h, value = queries[query], registry.value(signal.name, row)
        matches.append(
            Match(signal.name, signal.summary(h.value), entry, signal.summary(value),
                  distance if signal.has_distance else None,
                  h.quality, h.time_s, row, h.variant, *shares, signal.scores(h.value, value))
        )
    return matches


def match_row(match: Match, media: MediaHashes, registry: Registry, plan: MatchPlan, found_by: str) -> dict:
    """A row of matches/ (see schemas.match_schema)."""
    metadata = registry.row_metadata(match.registry_row)
    row = {
        "run_id": plan.run_id,
        "scanned_at": plan.scanned_at,
        "found_at": datetime.now(timezone.utc),
        "entry_seen_at": _time(metadata.get(SEEN_COLUMN) or registry.published_at),
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
        **{column.name: (match.scores or {}).get(column.name) for column in score_columns()},
        "registry_version": registry.version,
        "found_by": found_by,
        "partial": media.partial,
    }
    row.update(metadata)
    return row


def _time(text: Optional[str]) -> Optional[datetime]:
    """A registry's time, or None when absent or unreadable (the registry's text is data)."""
    try:
        return utc_time(text)
    except ValueError:
        return None


class MatchHashes(beam.DoFn):
    """MediaHashes -> match rows. The snapshot arrives as a side input; each worker process loads
    it and builds its index once (Shared, keyed by the snapshot), not once per element or thread."""

    def __init__(self, plan: MatchPlan, found_by: str = "hashed"):
        self._plan = plan
        self._settings = plan.settings
        self._found_by = found_by
        self._shared = shared.Shared()
        self._snapshot: Optional[Snapshot] = None
        self._index: Optional[RegistryIndex] = None
        self._matches = beam.metrics.Metrics.counter("scan", "matches")

    def _index_of(self, snapshot: Snapshot) -> RegistryIndex:
        if self._snapshot != snapshot:
            self._index = self._shared.acquire(
                lambda: mapped_index(snapshot, self._plan.max_reject_share),
                tag=f"{snapshot.version}|{'|'.join(snapshot.files)}",
            )
            self._snapshot = snapshot
        return self._index

    def _rows(self, media: MediaHashes, index: RegistryIndex):
        for match in match_media(media, index, self._settings):
            self._matches.inc()
            yield match_row(match, media, index.registry, self._plan, self._found_by)

    def process(self, media: MediaHashes, snapshot: Snapshot):
        yield from self._rows(media, self._index_of(snapshot))


class MatchMedia(beam.PTransform):
    """MediaHashes -> match rows against one registry snapshot, which reaches the workers as a
    side input (its location, not its rows)."""

    def __init__(self, snapshot: Snapshot, plan: MatchPlan, found_by: str = "hashed"):
        super().__init__()
        self._snapshot = snapshot
        self._match = MatchHashes(plan, found_by)

    def expand(self, hashes):
        snapshot = hashes.pipeline | "Snapshot" >> beam.Create([self._snapshot])
        return hashes | "MatchHashes" >> beam.ParDo(self._match, beam.pvalue.AsSingleton(snapshot))


class SplitSuppressed(beam.PTransform):
    """Match rows -> (reported, suppressed): those a suppression list covers are set apart, to be
    counted and not reported (transforms/matching/suppression.py)."""

    def __init__(self, suppression: Suppression):
        super().__init__()
        self._suppression = suppression

    def expand(self, matches):
        split = matches | "Split" >> beam.Partition(_suppressed_part, 2, self._suppression)
        return split[0], split[1]


def _suppressed_part(row: Dict, _parts: int, suppression: Suppression) -> int:
    return int(suppression.covers(row))
