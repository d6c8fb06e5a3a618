"""Registry snapshots: find the latest complete version, read CSV/Parquet, validate every row.

A malformed row is left out and reported as a `Reject` (file, line, reason); a snapshot that
cannot be read, lacks the required columns, or has too many malformed rows is refused whole
(`RegistryRefused`, a one-line reason). Signal types this project does not know are skipped and
counted. Works on any filesystem Beam knows (local, gs://, s3://).
"""
import csv
import io
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.storage.objects import is_remote
from transforms.schemas import MATCH_COLUMNS
from transforms.signals import SIGNALS

REQUIRED_COLUMNS = ("entry_id", "signal_type", "signal_value")
SUCCESS_MARKER = "_SUCCESS"
SNAPSHOT_SUFFIXES = (".csv", ".parquet")
DEFAULT_MAX_REJECT_SHARE = 0.001
# CSV cells up to this size: a TMK+PDQF value as hex is 526,688 characters (csv's default is 128 KiB).
csv.field_size_limit(max(csv.field_size_limit(), 1 << 21))


class RegistryRefused(Exception):
    """The snapshot cannot be used at all; str() is a one-line reason for the user."""


@dataclass(frozen=True)
class Snapshot:
    """One registry version: what every match row records, and the files that hold it."""

    version: str
    files: Tuple[str, ...]


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    reason: str
    entry_id: str
    signal_type: str
    signal_value: str


@dataclass
class Registry:
    """The valid rows of a snapshot, column-wise, plus what was rejected or skipped."""

    version: str
    entry_ids: List[str] = field(default_factory=list)
    signal_types: List[str] = field(default_factory=list)
    # hex, but raw bytes for a binary signal type (tmk_pdqf: 263 KB each, half the size of its hex)
    signal_values: List[Union[str, bytes]] = field(default_factory=list)
    metadata: Dict[str, List[Optional[str]]] = field(default_factory=dict)  # output name -> values
    column_names: Dict[str, str] = field(default_factory=dict)  # registry column -> its output name
    rejects: List[Reject] = field(default_factory=list)
    skipped_by_type: Counter = field(default_factory=Counter)

    @property
    def rows_read(self) -> int:
        return len(self.entry_ids) + len(self.rejects) + sum(self.skipped_by_type.values())

    @property
    def entries(self) -> int:
        return len(set(self.entry_ids))

    @property
    def metadata_columns(self) -> Tuple[str, ...]:
        return tuple(self.metadata)

    def row_metadata(self, row: int) -> Dict[str, Optional[str]]:
        return {name: values[row] for name, values in self.metadata.items()}


def metadata_column_name(column: str) -> str:
    """A registry's extra column as named in the match rows (prefixed where it would clash)."""
    return f"entry_{column}" if column in MATCH_COLUMNS else column


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
        return Snapshot(posixpath.splitext(posixpath.basename(uri))[0], (uri,))
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
    return Snapshot(posixpath.basename(folder), tuple(sorted(files)))


# ---------------------------------------------------------------------------- reading the files


def _read_bytes(path: str) -> bytes:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except Exception as e:
        raise RegistryRefused(f"registry file {path} cannot be read: {type(e).__name__}: {e}") from None


def _check_columns(path: str, columns: Sequence[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RegistryRefused(f"registry file {path} lacks the column(s) {', '.join(missing)}")


def _csv_rows(path: str, data: bytes, rejects: List[Reject]) -> Iterator[Tuple[int, Dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
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
    line = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            rejects.append(Reject(path, reader.line_num, "bad_csv", "", "", str(e)[:200]))
            continue
        line = reader.line_num
        if not values:  # a blank line
            continue
        if len(values) != len(header):
            rejects.append(Reject(path, line, "bad_column_count", values[0][:200], "", ""))
            continue
        yield line, dict(zip(header, values))


def _binary_values(types: List[Optional[str]], values: List[Optional[bytes]]) -> List[Union[None, str, bytes]]:
    """A binary signal_value column: raw bytes for a binary signal type (tmk_pdqf), the text
    they hold for the others."""
    binary = {name for name, signal in SIGNALS.items() if signal.binary_values}
    return [value if value is None or (kind or "").strip().lower() in binary else value.decode("utf-8", "replace")
            for kind, value in zip(types, values)]


def _parquet_rows(path: str, data: bytes) -> Iterator[Tuple[int, Dict[str, Optional[str]]]]:
    """The rows of a Parquet file, from its columns as Python lists: the file's bytes and the Arrow
    table are let go before the first row (a registry of TMK+PDQF values holds 263 KB a row)."""
    columns, count = _parquet_columns(path, data)
    return ((row + 1, {name: values[row] for name, values in columns.items()}) for row in range(count))


def _parquet_columns(path: str, data: bytes) -> Tuple[Dict[str, list], int]:
    """Every column as a Python list, read a batch of rows at a time (only one batch is ever
    held as Arrow arrays)."""
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        names = parquet.schema_arrow.names
        _check_columns(path, names)
        columns: Dict[str, list] = {name: [] for name in names}
        for batch in parquet.iter_batches(batch_size=1024):
            for name, column in zip(names, batch.columns):
                columns[name].extend(_column_values(name, column, batch))
    except RegistryRefused:
        raise
    except Exception as e:
        raise RegistryRefused(f"registry file {path} is not readable Parquet: {e}") from None
    return columns, parquet.metadata.num_rows


def _column_values(name: str, column: pa.Array, batch: pa.RecordBatch) -> list:
    if name == "signal_value" and (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        return _binary_values(batch.column("signal_type").to_pylist(), column.to_pylist())
    try:
        column = column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        column = pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
    return column.to_pylist()


# ---------------------------------------------------------------------------- validating the rows


def load_registry(snapshot: Snapshot, max_reject_share: float = DEFAULT_MAX_REJECT_SHARE) -> Registry:
    """Read and validate every file of a snapshot. Raises RegistryRefused for an unusable one."""
    registry = Registry(snapshot.version)
    for path in snapshot.files:
        if path.lower().endswith(".parquet"):
            rows = _parquet_rows(path, _read_bytes(path))
        else:
            rows = _csv_rows(path, _read_bytes(path), registry.rejects)
        for line, row in rows:
            _add_row(registry, path, line, row)
    pa.default_memory_pool().release_unused()  # mimalloc keeps what the batches freed: 3x the values' size
    _check_usable(registry, max_reject_share)
    return registry


def _add_row(registry: Registry, path: str, line: int, row: Dict[str, Optional[str]]) -> None:
    entry_id = (row.get("entry_id") or "").strip()
    signal_type = (row.get("signal_type") or "").strip().lower()
    raw_value = row.get("signal_value") or ""
    reason = None
    if not entry_id:
        reason = "missing_entry_id"
    elif not signal_type:
        reason = "missing_signal_type"
    elif signal_type not in SIGNALS:
        registry.skipped_by_type[signal_type] += 1
        return
    else:
        signal = SIGNALS[signal_type]
        if isinstance(raw_value, bytes):  # a binary type's raw value, from a Parquet binary column
            value, reason = raw_value, signal.validate_raw(raw_value)
        else:
            value = signal.normalize(raw_value)
            reason = signal.validate(value)
            if not reason and signal.binary_values:
                value = bytes.fromhex(value)
    if reason:
        shown = raw_value[:100].hex() if isinstance(raw_value, bytes) else raw_value[:200]
        registry.rejects.append(Reject(path, line, reason, entry_id, signal_type, shown))
        return
    row_index = len(registry.entry_ids)
    registry.entry_ids.append(entry_id)
    registry.signal_types.append(signal_type)
    registry.signal_values.append(value)
    for column, cell in row.items():
        if column in REQUIRED_COLUMNS:
            continue
        name = registry.column_names.get(column)
        if name is None:  # a column seen for the first time: its own output name, padded so far
            name = metadata_column_name(column)
            while name in registry.metadata:  # `uri` and `entry_uri` must not share one
                name = f"entry_{name}"
            registry.column_names[column] = name
            registry.metadata[name] = [None] * row_index
        registry.metadata[name].append(cell if cell != "" else None)
    for values in registry.metadata.values():  # columns this row's file does not have
        if len(values) == row_index:
            values.append(None)


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
    if not registry.entry_ids:
        raise RegistryRefused(
            f"registry version {registry.version} has no rows of a supported signal type "
            f"({', '.join(SIGNALS)}); skipped: {dict(registry.skipped_by_type)}"
        )
