"""The progress of a sync that has not written its version yet, kept under ROOT/_sync/SOURCE/ so
that a sync killed mid-way resumes where it was instead of fetching everything again.

Fetched records go to numbered Parquet pages, then `progress.json` (the feed position after the
last page, the counts so far, the version the sync builds on) is rewritten; a page written after
the last progress is ignored. The pages are also where the sync reads its records back from, a
page at a time, when it writes the version: no fetched record is kept in Python meanwhile. A
journal counts only for the same base version and the same settings (source, URL, members,
--since); once the version is written the journal is deleted.
"""
import io
import json
import os
import time
from collections import Counter
from typing import Dict, Iterator, List, Optional, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.registry.feed import RECORD_SCHEMA, Record, records_table, with_columns
from transforms.registry.versions import delete_folder, parquet_bytes, read_bytes, write_bytes
from transforms.storage.objects import is_remote

PROGRESS = "progress.json"
FLUSH_RECORDS = 10_000
FLUSH_SECONDS = 30.0


class Journal:
    def __init__(self, root: str, source: str, settings: Dict, flush_records: int = FLUSH_RECORDS,
                 flush_seconds: float = FLUSH_SECONDS):
        self.folder = FileSystems.join(root, "_sync", source)
        self.settings = settings
        self.flush_records, self.flush_seconds = flush_records, flush_seconds
        self._base: Optional[str] = None
        self._pages = 0
        self._buffer: List[Record] = []
        self._fetched_at: List[int] = []  # when each buffered record was fetched
        self._position: Dict = {}
        self.counts: Counter = Counter()  # what the feed skipped so far
        self.records = 0  # records fetched so far, journaled or buffered
        self._flushed_at = time.monotonic()

    def _page(self, number: int) -> str:
        return FileSystems.join(self.folder, f"page-{number:06d}.parquet")

    def resume(self, base_version: Optional[str]) -> Optional[Tuple[Dict, float]]:
        """The position and age in seconds of an unfinished sync on this base (its records and
        counts are the journal's), or None."""
        path = FileSystems.join(self.folder, PROGRESS)
        if not FileSystems.exists(path):
            return None
        try:
            progress = json.loads(read_bytes(path))
            if progress["base"] != base_version or progress["settings"] != self.settings:
                return None
            for number in range(1, progress["pages"] + 1):  # every page is still there
                if not FileSystems.exists(self._page(number)):
                    return None
        except Exception:  # a journal that cannot be read is only lost time: start again
            return None
        self._base, self._pages, self.records = base_version, progress["pages"], progress.get("records", 0)
        self._position, self.counts = progress["position"], Counter(progress["counts"])
        return self._position, max(0.0, time.time() - progress.get("saved_at", 0))

    def start(self, base_version: Optional[str], position: Dict) -> None:
        delete_folder(self.folder)
        self._base, self._pages, self._position, self.counts = base_version, 0, position, Counter()
        self.records = 0
        self._write_progress()

    def add(self, records: List[Record], position: Dict, counts: Counter) -> None:
        self._buffer.extend(records)
        self._fetched_at.extend([int(time.time())] * len(records))
        self.records += len(records)
        self._position = position
        self.counts.update(counts)
        if len(self._buffer) >= self.flush_records or time.monotonic() - self._flushed_at >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            write_bytes(self._page(self._pages + 1), parquet_bytes(records_table(self._buffer, self._fetched_at)))
            self._pages += 1
            self._buffer, self._fetched_at = [], []
        self._write_progress()
        self._flushed_at = time.monotonic()

    def _write_progress(self) -> None:
        progress = {"base": self._base, "settings": self.settings, "position": self._position,
                    "pages": self._pages, "records": self.records - len(self._buffer), "counts": dict(self.counts),
                    "saved_at": time.time()}
        write_bytes(FileSystems.join(self.folder, PROGRESS), json.dumps(progress, sort_keys=True).encode())

    def pages(self) -> Iterator[pa.Table]:
        """Every record journaled, a page at a time in the order fetched (flush first)."""
        for number in range(1, self._pages + 1):
            yield with_columns(pq.read_table(io.BytesIO(read_bytes(self._page(number)))), RECORD_SCHEMA)

    def clear(self) -> None:
        delete_folder(self.folder)
        if not is_remote(self.folder):  # and _sync/ itself once no source has a journal
            try:
                os.rmdir(os.path.dirname(self.folder))
            except OSError:
                pass
