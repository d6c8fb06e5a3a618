"""A sync's fetched records merged into a source's rows in bounded memory: the rows the new version
holds for the source, written to local files for `versions.write_version` to copy into place.

A record replaces every earlier row of its entry (feed.newest picks one record per entry);
the previous version's rows of the entries that did not change are kept in their order, and the
rows of each changed entry still present follow, sorted, keeping the `added_at` the entry first
had and the `seen_at` when this platform first fetched it. The previous rows are read batch by batch, never whole. A sync that fetched more records
than `bucket_rows` (a first sync of a large registry) splits the records and the previous rows
into buckets by a hash of the entry id on local disk first, then merges one bucket at a time: an
entry's records and rows always share a bucket, so at most about `bucket_rows` records are held
at once, however large the registry. An entry's rows stay next to each other in every file
written this way, which is how its entries are counted without holding their ids.
"""
import math
import os
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.registry.feed import RECORD_METADATA, RECORD_SCHEMA, newest, with_columns
from transforms.registry.loaded import SEEN_COLUMN, normalised_values
from transforms.registry.versions import QUARANTINE_SCHEMA, SCHEMA, SyncRefused

BUCKET_ROWS = 250_000  # records merged in memory at once (--merge-rows)
_GROUP_ROWS = 65_536  # rows of a row group written (and so read back at a time)


@dataclass
class Merged:
    """The merged source: its two local files and what they hold."""

    table_path: str
    quarantine_path: str
    rows: int = 0
    entries: int = 0
    quarantined_rows: int = 0
    changed: int = 0  # entries with a record, removed ones included
    removed: int = 0
    buckets: int = 1


def _kept_or(rows: pa.Table, kept: Dict[str, str], fresh: pa.Array) -> pa.Array:
    """Per row, what the previous version kept for its entry (`kept`: entry id -> text), else `fresh`."""
    earlier = pc.index_in(rows["entry_id"], value_set=pa.array(list(kept), pa.string()))
    return pc.if_else(pc.is_null(earlier), fresh, pc.take(pa.array(list(kept.values()), pa.string()), earlier))


def _iso(seconds: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.strftime(pc.cast(seconds, pa.timestamp("s", tz="UTC")), "%Y-%m-%dT%H:%M:%SZ")


def _rows(changes: pa.Table, source: str, added_at: Dict[str, str], seen_at: Dict[str, str]) -> Tuple[pa.Table, pa.Table]:
    """The rows of the entries still present, one per signal: valid ones, and those with a
    malformed value (an entry without any signal is one quarantined row). Columnar but for the
    values' own validation."""
    present = changes.filter(pc.invert(changes["removed"])).combine_chunks()  # list indices are per chunk
    empty = pc.equal(pc.list_value_length(present["signal_types"]), 0)
    signed = present.filter(pc.invert(empty))
    kept = ["entry_id", "updated_at", "fetched_at", *RECORD_METADATA]
    rows = signed.select(kept).take(pc.list_parent_indices(signed["signal_types"]))
    types = pc.list_flatten(signed["signal_types"]).combine_chunks()
    values, reasons = normalised_values(types, pc.list_flatten(signed["signal_values"]).combine_chunks())
    lonely = present.filter(empty).select(kept)
    rows = pa.concat_tables([rows, lonely])
    nothing = pa.array([""] * lonely.num_rows, pa.string())
    types, values = pa.concat_arrays([types, nothing]), pa.concat_arrays([values, nothing])
    reasons = pa.concat_arrays([reasons, pa.array(["no_signals"] * lonely.num_rows, pa.string())])
    updated = _iso(rows["updated_at"])
    columns = {"entry_id": rows["entry_id"], "signal_type": types, "signal_value": values,
               "source": pa.array([source] * rows.num_rows, pa.string()),
               **{name: rows[name] for name in RECORD_METADATA}, "added_at": _kept_or(rows, added_at, updated),
               "updated_at": updated, SEEN_COLUMN: _kept_or(rows, seen_at, _iso(rows["fetched_at"]))}
    table = pa.table(columns).select(SCHEMA.names).cast(SCHEMA)
    malformed = pc.is_valid(reasons)
    quarantined = table.filter(malformed).append_column("reason", reasons.filter(malformed))
    return _sorted(table.filter(pc.invert(malformed))), _sorted(quarantined.cast(QUARANTINE_SCHEMA))


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("entry_id", "ascending"), ("signal_type", "ascending"), ("signal_value", "ascending")])


def previous_batches(path: Optional[str], schema: pa.Schema) -> Iterator[pa.Table]:
    """The rows of a previous version's file, a batch at a time (none when it has no such file)."""
    if path is None or not FileSystems.exists(path):
        return
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            file = pq.ParquetFile(f)
            present = [name for name in schema.names if name in file.schema_arrow.names]  # older versions lack some
            yield from (with_columns(table, schema) for table in _row_groups(file, present))
    except Exception as e:
        raise SyncRefused(f"{path} of the previous version cannot be read: {type(e).__name__}: {e}") from None


def _bucket_of(ids: pa.ChunkedArray, buckets: int) -> np.ndarray:
    return np.fromiter((zlib.crc32(i.encode()) % buckets for i in ids.to_pylist()), np.int64, len(ids))


class _Spill:
    """Tables split by bucket into one local Parquet file per bucket, holding at most about
    `hold_rows` rows in memory between writes."""

    def __init__(self, folder: str, name: str, schema: pa.Schema, buckets: int, hold_rows: int):
        self.paths = [os.path.join(folder, f"{name}-{b:05d}.parquet") for b in range(buckets)]
        self._schema, self._hold_rows = schema, hold_rows
        self._held: List[List[pa.Table]] = [[] for _ in range(buckets)]
        self._rows = 0
        self._writers = [pq.ParquetWriter(path, schema) for path in self.paths]

    def add(self, table: pa.Table) -> None:
        bucket = _bucket_of(table["entry_id"], len(self.paths))
        for b in np.unique(bucket):
            self._held[b].append(table.filter(pa.array(bucket == b)))
        self._rows += table.num_rows
        if self._rows >= self._hold_rows:
            self._write()

    def _write(self) -> None:
        for b, held in enumerate(self._held):
            if held:
                self._writers[b].write_table(pa.concat_tables(held).cast(self._schema), row_group_size=_GROUP_ROWS)
        self._held, self._rows = [[] for _ in self.paths], 0

    def close(self) -> List[str]:
        self._write()
        for writer in self._writers:
            writer.close()
        return self.paths


def _row_groups(file: pq.ParquetFile, columns=None) -> Iterator[pa.Table]:
    """A file's rows, a row group at a time: iter_batches reads ahead, and its memory grew with
    the file (190 MB more for 3M rows, 465 MB for 12M); one row group at a time stays flat."""
    for group in range(file.num_row_groups):
        yield file.read_row_group(group, columns=columns, use_threads=False)


def _local_batches(path: str) -> Iterator[pa.Table]:
    return _row_groups(pq.ParquetFile(path))


class _Output:
    """The merged rows as they are written, with the entries counted as runs of one id."""

    def __init__(self, path: str, schema: pa.Schema):
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.rows = self.entries = 0
        self._last: Optional[str] = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._writer.write_table(table, row_group_size=_GROUP_ROWS)  # read back as small as it was written
        ids = table["entry_id"].combine_chunks()
        starts = 1 + pc.sum(pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py() if len(ids) > 1 else 1
        self.entries += starts - (ids[0].as_py() == self._last)
        self._last = ids[-1].as_py()
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


def _merge_bucket(previous: Iterable[pa.Table], quarantined: Iterable[pa.Table], records: pa.Table, source: str,
                  out: _Output, quarantine: _Output, merged: Merged) -> None:
    """One bucket: the previous rows of unchanged entries, then the rows of the changed ones."""
    changes = newest(records)
    changed = changes["entry_id"]
    added_at: Dict[str, str] = {}
    seen_at: Dict[str, str] = {}
    for batches, target in ((previous, out), (quarantined, quarantine)):
        for batch in batches:
            hit = pc.is_in(batch["entry_id"], value_set=changed)
            touched = batch.filter(hit)
            added_at.update(zip(touched["entry_id"].to_pylist(), touched["added_at"].to_pylist()))
            seen_at.update((e, t) for e, t in zip(touched["entry_id"].to_pylist(), touched[SEEN_COLUMN].to_pylist()) if t)
            target.write(batch.filter(pc.invert(hit)))
    valid, malformed = _rows(changes, source, added_at, seen_at)
    out.write(valid)
    quarantine.write(malformed)
    merged.changed += changes.num_rows
    merged.removed += pc.sum(changes["removed"]).as_py() or 0


def merge_source(previous: Tuple[Optional[str], Optional[str]], source: str, pages: Callable[[], Iterator[pa.Table]],
                 records: int, folder: str, bucket_rows: int = BUCKET_ROWS) -> Merged:
    """Merge the journal's record pages (`pages()` yields them in the order fetched, `records` in
    all) into the previous version's (source file, quarantine file) paths (None: none kept);
    the merged files are written under the local `folder`."""
    merged = Merged(os.path.join(folder, f"{source}.parquet"), os.path.join(folder, f"{source}-quarantine.parquet"))
    out, quarantine = _Output(merged.table_path, SCHEMA), _Output(merged.quarantine_path, QUARANTINE_SCHEMA)
    prev_rows, prev_quarantined = (previous_batches(previous[0], SCHEMA),
                                   previous_batches(previous[1], QUARANTINE_SCHEMA))
    merged.buckets = max(1, math.ceil(records / bucket_rows))
    if merged.buckets == 1:
        fetched = pa.concat_tables([RECORD_SCHEMA.empty_table(), *pages()])
        _merge_bucket(prev_rows, prev_quarantined, fetched, source, out, quarantine, merged)
    else:
        spills = {}
        for name, schema, tables in (("records", RECORD_SCHEMA, pages()), ("rows", SCHEMA, prev_rows),
                                     ("quarantine", QUARANTINE_SCHEMA, prev_quarantined)):
            spill = _Spill(folder, name, schema, merged.buckets, bucket_rows)
            for table in tables:
                spill.add(table)
            spills[name] = spill.close()
        for b in range(merged.buckets):
            fetched = pq.read_table(spills["records"][b])  # in the order fetched within the bucket
            _merge_bucket(_local_batches(spills["rows"][b]), _local_batches(spills["quarantine"][b]), fetched,
                          source, out, quarantine, merged)
            for name in spills:
                os.remove(spills[name][b])
    out.close()
    quarantine.close()
    merged.rows, merged.entries, merged.quarantined_rows = out.rows, out.entries, quarantine.rows
    return merged
