"""Rows (dicts) -> FOLDER/part-SSSSS-of-NNNNN.parquet in three pipeline steps.

Each bundle writes its rows to one file of its own under FOLDER/beam-temp-ID/ (zstd, row groups of
up to 64 MB of Arrow data), or to a new one every so many rows or seconds when asked (the hash
store's objects/: a run killed mid-bundle leaves whole files that the next run adopts), and passes
the files' names on. One step, once every bundle is done,
renames the files of the bundles that counted into place (a retried or abandoned attempt's file
is not among them and goes with the temporary folder) and writes one file holding only the schema
when there were no rows, so that readers of an empty folder still see the columns. A renaming
step run again finds its files already in place and does the rest.

Beam's WriteToParquet does the same in twelve steps with a grouping; a scan writes seven folders,
and every step is paid again at each run in building, translating and scheduling the pipeline.
"""
import os
import posixpath
import time
import uuid
from typing import List, Optional, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

TEMP_PREFIX = "beam-temp-"  # what commits.clear_leftovers removes after a killed run
_BATCH_ROWS = 10_000  # rows turned into one Arrow batch
_ROW_GROUP_BYTES = 64 << 20  # Arrow bytes gathered into one row group


def _create(path: str):
    return FileSystems.create(path, mime_type="application/octet-stream")


class _WriteBundles(beam.DoFn):
    """Rows -> the names of the temporary files each bundle wrote (none for an empty bundle): one,
    or with `roll` (rows, seconds) a new one once the open one holds that many rows or has been
    open that long, so that a long bundle leaves whole files behind as it goes."""

    def __init__(self, temp_dir: str, schema: pa.Schema, roll: Optional[Tuple[int, float]] = None):
        self._temp_dir = temp_dir
        self._schema = schema
        self._roll = roll

    def start_bundle(self):
        self._rows, self._batches, self._batch_bytes = [], [], 0
        self._file = self._writer = self._path = None
        self._paths, self._file_rows, self._first_row_at = [], 0, 0.0

    def process(self, row):
        self._rows.append(row)
        self._file_rows += 1
        if self._file_rows == 1:
            self._first_row_at = time.monotonic()
        if len(self._rows) >= _BATCH_ROWS:
            self._batch()
        if self._roll and (self._file_rows >= self._roll[0] or time.monotonic() - self._first_row_at >= self._roll[1]):
            self._batch()
            self._write()
            self._close()

    def _batch(self):
        if self._rows:
            batch = pa.RecordBatch.from_pylist(self._rows, schema=self._schema)
            self._batches.append(batch)
            self._batch_bytes += batch.nbytes
            self._rows = []
        if self._batch_bytes >= _ROW_GROUP_BYTES:
            self._write()

    def _write(self):
        if not self._batches:
            return
        if self._writer is None:
            self._path = FileSystems.join(self._temp_dir, f"{uuid.uuid4().hex}.parquet")
            self._file = _create(self._path)
            self._writer = pq.ParquetWriter(self._file, self._schema, compression="zstd")
        self._writer.write_table(pa.Table.from_batches(self._batches, self._schema), row_group_size=1 << 62)
        self._batches, self._batch_bytes = [], 0

    def _close(self):
        if self._writer is not None:
            self._writer.close()
            self._file.close()
            self._paths.append(self._path)
            self._writer = None
        self._file_rows = 0

    def finish_bundle(self):
        self._batch()
        self._write()
        self._close()
        for path in self._paths:
            yield WindowedValue(path, GlobalWindow().max_timestamp(), [GlobalWindow()])


def finalize(folder: str, temp_dir: str, schema: pa.Schema, written: List[str]) -> List[str]:
    """Rename the bundles' files (`written`) to FOLDER/part-SSSSS-of-NNNNN.parquet, or write one
    schema-only file if there are none; remove TEMP_DIR; the final names."""
    written = sorted(written)
    count = max(len(written), 1)
    final = [FileSystems.join(folder, f"part-{i:05d}-of-{count:05d}.parquet") for i in range(count)]
    if not written:
        with _create(final[0]) as f:
            pq.write_table(schema.empty_table(), f, compression="zstd")
    else:
        pending = [(source, target) for source, target in zip(written, final) if FileSystems.exists(source)]
        if pending:
            FileSystems.rename([s for s, _ in pending], [t for _, t in pending])
    leftovers = FileSystems.match([FileSystems.join(temp_dir, "*")])[0].metadata_list  # retried, abandoned bundles'
    delete_files([m.path for m in leftovers], [temp_dir])
    return final


def delete_files(paths: List[str], folders: Sequence[str] = ()) -> None:
    """Delete files, then on a local filesystem their folders and `folders` once empty (object
    stores have no folders)."""
    if paths:
        FileSystems.delete(paths)
    for folder in {posixpath.dirname(path) for path in paths} | set(folders):
        if "://" not in folder:
            try:
                os.rmdir(folder)
            except OSError:
                pass


def _finalize(_, folder: str, temp_dir: str, schema: pa.Schema, written: List[str]) -> List[str]:
    return finalize(folder, temp_dir, schema, written)


class WriteParquetFolder(beam.PTransform):
    """Rows (dicts), or a tuple of PCollections of them -> FOLDER/part-SSSSS-of-NNNNN.parquet,
    zstd-compressed; the files' names. An empty input still writes one file with the schema, so
    readers of an empty folder see the columns."""

    def __init__(self, folder: str, schema: pa.Schema, roll: Optional[Tuple[int, float]] = None):
        super().__init__()
        self._folder = folder
        self._schema = schema
        self._roll = roll  # (rows, seconds): a bundle starts a new file after either (see _WriteBundles)
        self._temp_dir = FileSystems.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}")

    def expand(self, rows):
        # Rows made by different steps may come as a tuple of parts: each is written in the step
        # that makes it, where a Flatten first would make some runners (Beam's Python direct
        # runner) write them only once every part is done, and a killed run leave no file.
        parts = rows if isinstance(rows, tuple) else (rows,)
        writer = _WriteBundles(self._temp_dir, self._schema, self._roll)
        written = [part | f"WriteBundles{i or ''}" >> beam.ParDo(writer) for i, part in enumerate(parts)]
        if len(written) > 1:
            written = [written | "AllWritten" >> beam.Flatten()]
        pipeline = parts[0].pipeline
        return (
            pipeline
            | "Once" >> beam.Impulse()
            | "Finalize" >> beam.FlatMap(_finalize, self._folder, self._temp_dir, self._schema,
                                         beam.pvalue.AsList(written[0]))
        )
