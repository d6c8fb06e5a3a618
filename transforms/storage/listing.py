"""List the objects to scan, each with a version that changes when its content may have.

A local folder is walked by one worker (local.py). A bucket prefix is split first (objects directly under
it, and its sub-prefixes `split_depth` levels down), the sub-prefixes are spread across workers
(Reshuffle), and each is listed whole there: a bucket of millions of objects is not listed by one.
"""
from typing import Optional, Sequence

import apache_beam as beam

from transforms.storage.inventory import InventoryFile, ReadInventoryFile
from transforms.storage.local import list_local
from transforms.storage.stores import Stores, StoreSettings, parse_location, walk
from transforms.storage.objects import is_remote
from transforms.reasons import ScanError, stable_detail


class _ListPrefixes(beam.DoFn):
    """A bucket URI -> its objects near the top, and the sub-prefixes to list elsewhere (str)."""

    def __init__(self, settings: StoreSettings, split_depth: int):
        self._settings = settings
        self._split_depth = split_depth

    def setup(self):
        self._stores = Stores(self._settings)

    def process(self, uri: str):
        location = parse_location(uri)
        try:
            items = list(walk(self._stores.get(location.scheme), location, self._split_depth))
        except Exception as e:  # retried by the client; a split that still fails is reported, not fatal
            yield ScanError(uri, None, "list", "prefix_unlistable", stable_detail(f"{type(e).__name__}: {e}"))
            return
        yield from items


class _ListPrefix(beam.DoFn):
    """A prefix -> every object below it; a listing failure is a `prefix_unlistable` error row."""

    def __init__(self, uri: str, settings: StoreSettings):
        self._location = parse_location(uri)
        self._settings = settings

    def setup(self):
        self._store = Stores(self._settings).get(self._location.scheme)

    def process(self, prefix: str):
        try:
            objects, _ = self._store.list(self._location.bucket, prefix, None)
        except Exception as e:  # retried by the client; a prefix that still fails is reported
            yield ScanError(f"{self._location.scheme}://{self._location.bucket}/{prefix}", None, "list",
                            "prefix_unlistable", stable_detail(f"{type(e).__name__}: {e}"))
            return
        yield from objects


def is_prefix_failure(error: ScanError) -> bool:
    """Whether a listing error stands for a whole folder or prefix (its objects unknown), not one object."""
    return error.reason == "prefix_unlistable"


def _split_errors(item):
    return beam.pvalue.TaggedOutput("errors", item) if isinstance(item, ScanError) else item


class ListMedia(beam.PTransform):
    """URI (or inventory files) -> MediaObjects (main output `objects`) and ScanErrors (`errors`)."""

    def __init__(self, media_uri: Optional[str], settings: StoreSettings = StoreSettings(), split_depth: int = 1,
                 inventory: Sequence[InventoryFile] = (), follow_symlinks: bool = False):
        super().__init__()
        self._follow_symlinks = follow_symlinks
        self._media_uri = media_uri
        self._settings = settings
        self._split_depth = split_depth
        self._inventory = tuple(inventory)

    def expand(self, pbegin):
        if self._inventory:
            items = (
                pbegin
                | "InventoryFiles" >> beam.Create(self._inventory)
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadInventory" >> beam.ParDo(ReadInventoryFile(self._media_uri or ""))
            )
            return items | "SplitErrors" >> beam.Map(_split_errors).with_outputs("errors", main="objects")
        root = pbegin | "Root" >> beam.Create([self._media_uri])
        if is_remote(self._media_uri):
            top = root | "Split" >> beam.ParDo(_ListPrefixes(self._settings, self._split_depth))
            listed = (
                top
                | "Prefixes" >> beam.Filter(lambda item: isinstance(item, str))
                | "SpreadPrefixes" >> beam.Reshuffle()
                | "ListPrefix" >> beam.ParDo(_ListPrefix(self._media_uri, self._settings))
            )
            near_top = top | "NearTop" >> beam.Filter(lambda item: not isinstance(item, str))
            items = (near_top, listed) | "AllListed" >> beam.Flatten()
        else:
            items = root | "Walk" >> beam.FlatMap(list_local, self._follow_symlinks)
        return items | "SplitErrors" >> beam.Map(_split_errors).with_outputs("errors", main="objects")
