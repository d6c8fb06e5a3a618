"""List the objects to scan, each with a version that changes when its content may have.

A local folder is walked by one worker (local.py). A bucket prefix is split first (objects directly
under it, and its sub-prefixes `split_depth` levels down), the sub-prefixes are spread across
workers (Reshuffle), and each is listed there a page at a time, its objects leaving page by page.
A prefix that holds more than `split_pages` pages (a flat bucket of millions of keys) is not left
to that one worker: the rest of its keys, after the last one listed, is cut into key ranges
(`split_remainder`) that other workers list. Any listing that fails, at any stage, becomes one
`prefix_unlistable` error row for what it concerns, and the run goes on.
"""
import string
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import apache_beam as beam

from transforms.storage.inventory import InventoryFile, ReadInventoryFile
from transforms.storage.local import list_local
from transforms.storage.stores import Location, Page, Stores, StoreSettings, parse_location
from transforms.storage.objects import MediaObject, is_remote
from transforms.reasons import ScanError, stable_detail

_CUT_LEVELS = 3  # character positions cut, from the deepest one that varies


class KeyRange(NamedTuple):
    """The keys below `prefix` sorting after `after` (None: from the first) and up to and
    including `upto` (None: to the last)."""

    prefix: str
    after: Optional[str] = None
    upto: Optional[str] = None

    def holds(self, key: str) -> bool:
        return (self.after is None or key > self.after) and (self.upto is None or key <= self.upto)


def split_remainder(key_range: KeyRange, first: str, last: str, seen: Sequence[str]) -> List[KeyRange]:
    """The keys of `key_range` after `last` (first..last were listed, `seen` some of them) as
    consecutive ranges.

    The cuts are at the deepest character position where `first` and `last` differ, and the two
    above it: last[:j] + c for every character c the seen keys hold (after the prefix) above
    last[j]. Keys listed in order spread over those positions, so for keys of random characters
    (ids, hashes) the ranges hold similar shares, and for counters (img000001, ...) the next
    digits split them. A key of other characters still falls in exactly one range: the ranges
    are consecutive, whatever the cuts."""
    varies = next((i for i, (a, b) in enumerate(zip(first, last)) if a != b), min(len(first), len(last)))
    deepest = min(max(varies, len(key_range.prefix)), len(last) - 1)
    alphabet = sorted(set("".join(key[len(key_range.prefix):] for key in seen)) or string.digits + string.ascii_letters)
    cuts = []
    for j in range(deepest, max(len(key_range.prefix), deepest - _CUT_LEVELS + 1) - 1, -1):
        cuts.extend(last[:j] + c for c in alphabet if c > last[j])
    cuts = [c for c in cuts if key_range.upto is None or c < key_range.upto]
    edges = [last, *cuts, key_range.upto]
    return [KeyRange(key_range.prefix, after, upto) for after, upto in zip(edges[:-1], edges[1:])]


def walk(store, location: Location, depth: int, split_pages: int) -> Iterator[Union[MediaObject, KeyRange]]:
    """Split a listing: the objects directly under the prefix and, `depth` levels down, the
    prefixes to list elsewhere, as KeyRanges, so that many workers list a large bucket at once.
    A level of more than `split_pages` pages (a flat prefix) hands the rest of its keys on as key
    ranges. Depth 0 yields the prefix itself."""
    if depth == 0:
        yield KeyRange(location.prefix)
        return
    listing = store.pages(location.bucket, location.prefix, delimiter="/")
    for item in _pages_then_rest(listing, KeyRange(location.prefix), split_pages):
        if isinstance(item, KeyRange):
            yield item
            continue
        yield from item.objects
        for prefix in item.prefixes:
            yield from walk(store, location._replace(prefix=prefix), depth - 1, split_pages)


def _pages_then_rest(pages: Iterable[Page], key_range: KeyRange,
                     split_pages: Optional[int]) -> Iterator[Union[Page, KeyRange]]:
    """The non-empty pages of a listing of `key_range`; after `split_pages` of them (None: no
    limit), the KeyRanges of the keys after the last one listed instead of more pages. A caller
    that stops early (a range's end reached) gets no ranges."""
    first, count = None, 0
    for page in pages:
        if page.last_key is None:
            continue
        first = first or page.first_key
        yield page
        count += 1
        if split_pages and count > split_pages:
            yield from split_remainder(key_range, first, page.last_key, _keys(page))
            return


def _keys(page: Page) -> List[str]:
    return [parse_location(o.uri).prefix for o in page.objects] + page.prefixes



class _ListPrefixes(beam.DoFn):
    """A bucket URI -> its objects near the top, and the prefixes and key ranges to list elsewhere."""

    def __init__(self, settings: StoreSettings, split_depth: int, split_pages: int):
        self._settings = settings
        self._split_depth = split_depth
        self._split_pages = split_pages
        self._ranges = beam.metrics.Metrics.counter("listing", "key_ranges")

    def setup(self):
        self._stores = Stores(self._settings)

    def process(self, uri: str):
        location = parse_location(uri)
        try:
            for item in walk(self._stores.get(location.scheme), location, self._split_depth, self._split_pages):
                if isinstance(item, KeyRange) and item.after is not None:
                    self._ranges.inc()
                yield item
        except Exception as e:  # retried by the client; a split that still fails is reported, not fatal
            yield ScanError(uri, None, "list", "prefix_unlistable", stable_detail(f"{type(e).__name__}: {e}"))


class _ListRange(beam.DoFn):
    """A KeyRange -> its objects, page by page. With `split_pages`, a range holding more pages
    than that hands the rest on as KeyRanges (output `ranges`) for other workers to list; a
    listing failure is a `prefix_unlistable` error row for the range."""

    def __init__(self, uri: str, settings: StoreSettings, split_pages: Optional[int]):
        self._location = parse_location(uri)
        self._settings = settings
        self._split_pages = split_pages
        self._ranges = beam.metrics.Metrics.counter("listing", "key_ranges")

    def setup(self):
        self._store = Stores(self._settings).get(self._location.scheme)

    def process(self, key_range: KeyRange):
        try:
            listing = self._store.pages(self._location.bucket, key_range.prefix, key_range.after)
            for item in _pages_then_rest(listing, key_range, self._split_pages):
                if isinstance(item, KeyRange):  # more than one worker's share: the rest goes on
                    self._ranges.inc()
                    yield beam.pvalue.TaggedOutput("ranges", item)
                    continue
                yield from (o for o in item.objects if key_range.holds(parse_location(o.uri).prefix))
                if key_range.upto is not None and item.last_key >= key_range.upto:
                    return
        except Exception as e:  # retried by the client; a range that still fails is reported
            where = f"{self._location.scheme}://{self._location.bucket}/{key_range.prefix}"
            span = "" if key_range == KeyRange(key_range.prefix) else f" (keys after {key_range.after!r} up to {key_range.upto!r})"
            yield ScanError(where, None, "list", "prefix_unlistable", stable_detail(f"{type(e).__name__}: {e}{span}"))


def is_prefix_failure(error: ScanError) -> bool:
    """Whether a listing error stands for a whole folder or prefix (its objects unknown), not one object."""
    return error.reason == "prefix_unlistable"


def _split_errors(item):
    if isinstance(item, ScanError):
        return beam.pvalue.TaggedOutput("unlistable" if is_prefix_failure(item) else "errors", item)
    return item


class Listing(NamedTuple):
    """What to list and how: a URI (or inventory files, with the URI keeping only objects under
    it), and the splitting of bucket prefixes over workers."""

    media_uri: Optional[str]
    stores: StoreSettings = StoreSettings()
    split_depth: int = 1  # prefix levels listed first, their sub-prefixes on other workers
    split_pages: int = 10  # pages one worker lists of a prefix before the rest is cut into key ranges
    inventory: Tuple[InventoryFile, ...] = ()
    follow_symlinks: bool = False  # a local folder's links (never to a path outside it)


class ListMedia(beam.PTransform):
    """A Listing -> MediaObjects (main output `objects`), ScanErrors of listed entries that cannot
    be scanned (`errors`: each one object), and ScanErrors of folders or prefixes that cannot be
    listed (`unlistable`: their objects unknown)."""

    def __init__(self, listing: Listing):
        super().__init__()
        self._split_pages = listing.split_pages
        self._follow_symlinks = listing.follow_symlinks
        self._media_uri = listing.media_uri
        self._settings = listing.stores
        self._split_depth = listing.split_depth
        self._inventory = tuple(listing.inventory)

    def expand(self, pbegin):
        if self._inventory:
            items = (
                pbegin
                | "InventoryFiles" >> beam.Create(self._inventory)
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadInventory" >> beam.ParDo(ReadInventoryFile(self._media_uri or ""))
            )
            return items | "SplitErrors" >> beam.Map(_split_errors).with_outputs("errors", "unlistable", main="objects")
        root = pbegin | "Root" >> beam.Create([self._media_uri])
        if is_remote(self._media_uri):
            top = root | "Split" >> beam.ParDo(_ListPrefixes(self._settings, self._split_depth, self._split_pages))
            listed = (
                top
                | "Prefixes" >> beam.Filter(lambda item: isinstance(item, KeyRange))
                | "SpreadPrefixes" >> beam.Reshuffle()
                | "ListPrefix" >> beam.ParDo(_ListRange(self._media_uri, self._settings, self._split_pages))
                .with_outputs("ranges", main="items")
            )
            rest = (
                listed.ranges
                | "SpreadRanges" >> beam.Reshuffle()
                | "ListRange" >> beam.ParDo(_ListRange(self._media_uri, self._settings, None))
            )
            near_top = top | "NearTop" >> beam.Filter(lambda item: not isinstance(item, KeyRange))
            items = (near_top, listed.items, rest) | "AllListed" >> beam.Flatten()
        else:
            items = root | "Walk" >> beam.FlatMap(list_local, self._follow_symlinks)
        return items | "SplitErrors" >> beam.Map(_split_errors).with_outputs("errors", "unlistable", main="objects")
