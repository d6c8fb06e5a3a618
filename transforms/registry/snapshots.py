"""Registry snapshots: find the latest complete version, read CSV/Parquet as Arrow batches, and
load them into a `Registry` (rows.py validates each batch).

A malformed row is left out and reported as a `Reject` (file, line, reason); a snapshot that
cannot be read, lacks the required columns, or has too many malformed rows is refused whole
(`RegistryRefused`, a one-line reason). Signal types this project does not know are skipped and
counted. Works on any filesystem Beam knows (local, gs://, s3://).
"""
import csv
import ctypes
import io
import posixpath
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.registry.loaded import REQUIRED_COLUMNS, Registry, RegistryBuilder, Reject
from transforms.storage.objects import is_remote
from transforms.signals import SIGNALS

SUCCESS_MARKER = "_SUCCESS"
SNAPSHOT_SUFFIXES = (".csv", ".parquet")
DEFAULT_MAX_REJECT_SHARE = 0.001
# Arrow's default allocator (mimalloc) keeps most of what a load frees, three times the registry's
# own size in every process that loads one; the system allocator, trimmed after a load, gives it back.
pa.set_memory_pool(pa.system_memory_pool())
# CSV cells up to this size: a TMK+PDQF value as hex is 526,688 characters (csv's default is 128 KiB).
csv.field_size_limit(max(csv.field_size_limit(), 1 << 21))


class RegistryRefused(Exception):
    """The snapshot cannot be used at all; str() is a one-line reason for the user."""


@dataclass(frozen=True)
class Snapshot:
    """One registry version: what every match row records, and the files that hold it."""

    version: str
    files: Tuple[str, ...]
    # When the version was published (its marker's or its file's time, UTC ISO): the time an
    # entry was seen when the registry does not say (a registry written by hand)
    published_at: Optional[str] = None


# ---------------------------------------------------------------------------- finding the snapshot


def _matching(pattern: str) -> List[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception as e:  # e.g. a missing bucket or no credentials
        raise RegistryRefused(f"registry {path} cannot be checked: {type(e).__name__}: {e}") from None


def complete_versions(root: str) -> List[str]:
    """The folders ROOT/VERSION/ that hold a _SUCCESS marker, oldest first (versions sort as strings)."""
    return sorted(posixpath.dirname(m) for m in _matching(FileSystems.join(root, "*", SUCCESS_MARKER)))


def resolve_snapshot(uri: str) -> Snapshot:
    """A snapshot file, a version folder (holding _SUCCESS), or the latest complete version of a root."""
    uri = uri.rstrip("/") or "/"
    if uri.lower().endswith(SNAPSHOT_SUFFIXES):
        if not _exists(uri):
            raise RegistryRefused(f"registry file {uri} does not exist")
        return Snapshot(posixpath.splitext(posixpath.basename(uri))[0], (uri,), _written_at(uri))
    if not is_remote(uri) and not _exists(uri):  # buckets have no folders to check
        raise RegistryRefused(f"registry {uri} does not exist")
    if _exists(FileSystems.join(uri, SUCCESS_MARKER)):
        folder = uri
    else:
        versions = complete_versions(uri)
        if not versions:
            raise RegistryRefused(
                f"registry {uri} holds no complete version (a VERSION/ folder with a {SUCCESS_MARKER} "
                "marker) and is not a .csv or .parquet file"
            )
        folder = versions[-1]
    files = [f for suffix in SNAPSHOT_SUFFIXES for f in _matching(FileSystems.join(folder, "*" + suffix))]
    if not files:
        raise RegistryRefused(f"registry version {folder} holds no .csv or .parquet file")
    return Snapshot(posixpath.basename(folder), tuple(sorted(files)), _written_at(FileSystems.join(folder, SUCCESS_MARKER)))


def _written_at(path: str) -> Optional[str]:
    """A file's last change, UTC ISO, or None where the store does not say."""
    try:
        seconds = FileSystems.match([path])[0].metadata_list[0].last_updated_in_seconds
    except Exception:  # noqa: BLE001 -- a time we cannot read is only a time we do not know
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat() if seconds else None


# ---------------------------------------------------------------------------- reading the files


def _read_bytes(path: str) -> bytes:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except Exception as e:
        raise RegistryRefused(f"registry file {path} cannot be read: {type(e).__name__}: {e}") from None


# Metadata columns a registry file may carry into match rows: each costs every match row and the
# scan's index a column (10,000 of them took a scan of one row 131 s).
MAX_METADATA_COLUMNS = 100


def _check_columns(path: str, columns: Sequence[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RegistryRefused(f"registry file {path} lacks the column(s) {', '.join(missing)}")
    if len(columns) - len(REQUIRED_COLUMNS) > MAX_METADATA_COLUMNS:
        raise RegistryRefused(f"registry file {path} has {len(columns) - len(REQUIRED_COLUMNS)} metadata columns "
                              f"(at most {MAX_METADATA_COLUMNS} are carried into match rows)")


Batches = Iterator[Tuple[pa.Table, np.ndarray]]  # rows as text columns, and the line of each
_CSV_BATCH_ROWS = 1 << 20


def _csv_batches(path: str, data: bytes, rejects: List[Reject]) -> Batches:
    """A CSV file's rows: read by Arrow when every line is one well-formed row (what exports
    write), else by Python's csv module, which says which line is malformed and how."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    end = data.find(b"\n")
    try:
        first_line = (data if end < 0 else data[:end]).decode("utf-8")
    except UnicodeDecodeError:
        first_line = ""  # refused below, with the reason
    if first_line.strip():  # the header checked before Arrow parses every column
        _check_columns(path, [name.strip() for name in next(csv.reader([first_line]))])
    table = _csv_by_arrow(data)
    if table is not None:
        _check_columns(path, table.column_names)
        for first in range(0, table.num_rows, _CSV_BATCH_ROWS):  # views: what each validation step copies stays small
            yield table.slice(first, _CSV_BATCH_ROWS), np.arange(first + 2, min(first + _CSV_BATCH_ROWS, table.num_rows) + 2)
        return
    columns: Dict[str, list] = {}
    lines: List[int] = []
    for line, row in _csv_rows(path, data, rejects):
        if not columns:
            columns = {name: [] for name in row}
        for name, cell in row.items():
            columns[name].append(cell)
        lines.append(line)
    if columns:
        yield pa.table({name: pa.array(cells, pa.string()) for name, cells in columns.items()}), np.array(lines)


def _csv_by_arrow(data: bytes) -> Optional[pa.Table]:
    """The rows read by Arrow's CSV reader as text, or None where a line is not exactly one row
    (a blank line, a newline inside a cell, a wrong number of cells) or the text is not UTF-8."""
    try:
        end = data.find(b"\n")
        header = next(csv.reader([data[: end if end >= 0 else len(data)].decode("utf-8")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    names = [name.strip() for name in header]
    if len(set(names)) != len(names):
        return None
    invalid = []
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: invalid.append(row) or "skip"),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return table if not invalid and table.num_rows == lines - 1 else None


def _csv_rows(path: str, data: bytes, rejects: List[Reject]) -> Iterator[Tuple[int, Dict[str, str]]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RegistryRefused(f"registry file {path} is not UTF-8 text: {e}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise RegistryRefused(f"registry file {path} is empty") from None
    except csv.Error as e:
        raise RegistryRefused(f"registry file {path} is not CSV: {e}") from None
    _check_columns(path, header)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            rejects.append(Reject(path, reader.line_num, "bad_csv", "", "", str(e)[:200]))
            continue
        if not values:  # a blank line
            continue
        if len(values) != len(header):
            rejects.append(Reject(path, reader.line_num, "bad_column_count", values[0][:200], "", ""))
            continue
        yield reader.line_num, dict(zip(header, values))


_BATCH_BYTES = 64 << 20  # of values held at once while reading Parquet (a TMK+PDQF value is 263 KB)


def _parquet_batches(path: str, data: bytes) -> Batches:
    """A Parquet file's rows, a batch at a time sized to hold about 64 MB of values."""
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        names = parquet.schema_arrow.names
        _check_columns(path, names)
        meta = parquet.metadata
        value_column = names.index("signal_value")
        value_bytes = sum(meta.row_group(g).column(value_column).total_uncompressed_size for g in range(meta.num_row_groups))
        batch_rows = int(max(1024, min(1 << 20, _BATCH_BYTES * max(meta.num_rows, 1) // max(value_bytes, 1))))
        first = 1
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield pa.Table.from_batches([batch]), np.arange(first, first + batch.num_rows)
            first += batch.num_rows
    except RegistryRefused:
        raise
    except Exception as e:
        raise RegistryRefused(f"registry file {path} is not readable Parquet: {e}") from None


# ---------------------------------------------------------------------------- loading


def load_registry(snapshot: Snapshot, max_reject_share: float = DEFAULT_MAX_REJECT_SHARE) -> Registry:
    """Read and validate every file of a snapshot. Raises RegistryRefused for an unusable one."""
    registry = _read(snapshot)
    registry.published_at = snapshot.published_at
    _trim_heap()  # the files' bytes and batches are gone by now
    _check_usable(registry, max_reject_share)
    return registry


def _read(snapshot: Snapshot) -> Registry:
    builder = RegistryBuilder(snapshot.version)
    for path in snapshot.files:
        first, rejects = len(builder.rejects), []
        if path.lower().endswith(".parquet"):
            batches = _parquet_batches(path, _read_bytes(path))
        else:
            batches = _csv_batches(path, _read_bytes(path), rejects)
        for batch, lines in batches:
            builder.add(batch, path, lines)
        # with the lines no batch holds (malformed CSV), in line order
        builder.rejects[first:] = sorted(builder.rejects[first:] + rejects, key=lambda r: r.line)
    return builder.registry()


def _trim_heap() -> None:
    """Give the memory the batches freed back to the system (glibc keeps it otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _check_usable(registry: Registry, max_reject_share: float) -> None:
    total = registry.rows_read
    rejected = len(registry.rejects)
    if total == 0:
        raise RegistryRefused(f"registry version {registry.version} has no rows")
    if rejected > total * max_reject_share:
        first = registry.rejects[0]
        raise RegistryRefused(
            f"registry version {registry.version}: {rejected} of {total} rows are malformed "
            f"(more than the allowed share {max_reject_share:g}); "
            f"first: {first.file} line {first.line}: {first.reason}"
        )
    if not len(registry):
        raise RegistryRefused(
            f"registry version {registry.version} has no rows of a supported signal type "
            f"({', '.join(SIGNALS)}); skipped: {dict(registry.skipped_by_type)}"
        )
