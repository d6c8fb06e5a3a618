"""A loaded registry as arrays, and the validation that builds it from a file's rows.

A registry of 10 million rows must fit a worker: its values live packed per signal type (an N x 32
uint8 array for PDQ, N x 16 for MD5, ...), its entry ids, signal types and metadata as Arrow
columns, dictionary-encoded. Rows arrive as Arrow batches (from CSV or Parquet, with their line
numbers) and are validated a column at a time: a hex value of the right length made only of hex
digits is accepted by array lookups; anything else (spaces to strip, a wrong length, a binary
signal type, a type with its own rules) is judged row by row by its `Signal`, exactly as before.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.schemas import match_columns
from transforms.signals import SIGNALS
from transforms.signals.base import Signal
from transforms.signals.hex_arrays import fixed_width_chars, hex_column, unhex

REQUIRED_COLUMNS = ("entry_id", "signal_type", "signal_value")
SEEN_COLUMN = "seen_at"  # when the platform first saw the entry (a sync's fetch time, UTC ISO), where kept
_TEXT = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    reason: str
    entry_id: str
    signal_type: str
    signal_value: str


def metadata_column_name(column: str) -> str:
    """A registry's extra column as named in the match rows (prefixed where it would clash)."""
    return f"entry_{column}" if column in match_columns() else column


@dataclass
class Registry:
    """The valid rows of a snapshot, plus what was rejected or skipped.

    `columns` has a row per valid registry row: entry_id, signal_type, then the metadata columns
    under their output names. `values[t]` packs the values of signal type t, `rows[t]` (ascending)
    says which row each belongs to; indexes answer with those rows.
    """

    version: str
    columns: pa.Table
    values: Dict[str, np.ndarray]
    rows: Dict[str, np.ndarray]
    rejects: List[Reject] = field(default_factory=list)
    skipped_by_type: Counter = field(default_factory=Counter)
    distinct_entries: Optional[int] = None  # counted once (a second at 10M rows), then kept
    published_at: Optional[str] = None  # the snapshot's (snapshots.Snapshot.published_at)

    def __len__(self) -> int:
        return self.columns.num_rows

    @property
    def entry_ids(self) -> pa.ChunkedArray:
        return self.columns.column("entry_id")

    @property
    def signal_types(self) -> pa.ChunkedArray:
        return self.columns.column("signal_type")

    @property
    def rows_read(self) -> int:
        return len(self) + len(self.rejects) + sum(self.skipped_by_type.values())

    @property
    def entries(self) -> int:
        if self.distinct_entries is None:
            self.distinct_entries = len(self.unique_entries())
        return self.distinct_entries

    def unique_entries(self) -> pa.Array:
        """Every entry id once (each chunk's dictionary holds its distinct ids)."""
        return pc.unique(pa.concat_arrays([c.dictionary for c in self.entry_ids.chunks] or [pa.array([], pa.string())]))

    @property
    def metadata_columns(self) -> Tuple[str, ...]:
        return tuple(self.columns.column_names[2:])

    def entries_of(self, rows: np.ndarray) -> List[str]:
        """The entry id of each of these rows (one lookup for a batch of pairs, not one per pair)."""
        return self.entry_ids.take(pa.array(rows, pa.int64())).to_pylist()

    def row_metadata(self, row: int) -> Dict[str, Optional[str]]:
        return {name: self.columns.column(name)[row].as_py() for name in self.metadata_columns}

    def value(self, signal_type: str, row: int) -> bytes:
        """The value of a row of that signal type."""
        return self.values[signal_type][int(np.searchsorted(self.rows[signal_type], row))].tobytes()

    def entries_among(self, entries: Iterable[str]) -> Set[str]:
        """Those of `entries` that have a row here."""
        wanted = pa.array(sorted(set(entries)), pa.string())
        found = set()
        for chunk in self.entry_ids.chunks if len(wanted) else ():  # each chunk's distinct ids, against the few wanted
            found.update(chunk.dictionary.filter(pc.is_in(chunk.dictionary, value_set=wanted)).to_pylist())
        return found


# ---------------------------------------------------------------------------- validating a batch


@dataclass
class _Checked:
    """One batch, validated: its valid rows' columns, the packed values of each type and which of
    those rows they belong to."""

    columns: pa.Table
    values: Dict[str, np.ndarray]
    rows: Dict[str, np.ndarray]


def _text(column: pa.Array) -> pa.Array:
    """Any column as text: nulls and non-string types (numbers, timestamps) as strings."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _metadata(column: pa.Array) -> pa.DictionaryArray:
    """A metadata column as dictionary-encoded text, an empty cell as null (a column read as a
    dictionary keeps its dictionary: only its indices are touched)."""
    if not (pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type)):
        column = _text(column).dictionary_encode()
    empty = pc.equal(column.dictionary, "")
    indices = column.indices.cast(pa.int32())
    if pc.any(empty).as_py():
        indices = pc.if_else(pc.take(empty, indices).fill_null(True), pa.scalar(None, pa.int32()), indices)
    return pa.DictionaryArray.from_arrays(indices, column.dictionary)


def _raw_values(column: pa.Array) -> pa.Array:
    """signal_value as bytes (a string column's UTF-8, or a binary column's raw bytes)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_large_binary(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.large_binary())
    if pa.types.is_binary(column.type) or pa.types.is_string(column.type):
        return column.cast(pa.binary())
    return _text(column).cast(pa.binary())


def _judge(signal: Signal, raw: Optional[bytes], binary_column: bool) -> Tuple[Optional[str], object]:
    """(reason, value) of one value the fast path could not accept: raw bytes are kept for a binary
    signal type from a binary column, anything else is text to normalise and validate."""
    if raw is not None and binary_column and signal.binary_values:
        return signal.validate_raw(raw), raw
    value = signal.normalize((raw or b"").decode("utf-8", "replace"))
    reason = signal.validate(value)
    if reason:
        return reason, None
    return None, bytes.fromhex(value)


def _shown(raw: Optional[bytes], binary_column: bool) -> str:
    if raw is None:
        return ""
    return raw[:100].hex() if binary_column else raw[:200].decode("utf-8", "replace")


def check_batch(batch: pa.Table, path: str, lines: np.ndarray, rejects: List[Reject], skipped: Counter) -> _Checked:
    """Validate one batch of a registry file's rows (lines: each row's line in the file)."""
    entry = pc.utf8_trim_whitespace(_text(batch.column("entry_id")).fill_null(""))
    kind = pc.utf8_lower(pc.utf8_trim_whitespace(_text(batch.column("signal_type")).fill_null("")))
    original_value = batch.column("signal_value")
    binary_column = pa.types.is_binary(original_value.type) or pa.types.is_large_binary(original_value.type)
    raw = _raw_values(original_value)
    if isinstance(entry, pa.ChunkedArray):
        entry, kind, raw = entry.combine_chunks(), kind.combine_chunks(), raw.combine_chunks()
    count = len(entry)
    valid = np.zeros(count, dtype=bool)
    bad: Dict[int, str] = {}
    for row in np.flatnonzero(pc.equal(entry, "").to_numpy(zero_copy_only=False)):
        bad[int(row)] = "missing_entry_id"
    kinds = kind.dictionary_encode()
    codes = kinds.indices.to_numpy(zero_copy_only=False)
    values, rows = {}, {}
    for code, name in enumerate(kinds.dictionary.to_pylist()):
        mine = np.flatnonzero(codes == code)
        mine = mine[~np.isin(mine, list(bad))] if bad else mine
        if not len(mine):
            continue
        if not name:
            bad.update((int(row), "missing_signal_type") for row in mine)
            continue
        signal = SIGNALS.get(name)
        if signal is None:
            skipped[name] += len(mine)
            continue
        packed, ok, reasons = _values_of(signal, raw if len(mine) == count else raw.take(pa.array(mine)), binary_column)
        bad.update((int(mine[i]), reason) for i, reason in reasons.items())
        values[name], rows[name] = packed[ok], mine[ok]
        valid[mine[ok]] = True
    for row in sorted(bad):
        value = raw[row].as_py()
        rejects.append(Reject(path, int(lines[row]), bad[row], entry[row].as_py()[:200], kind[row].as_py()[:200],
                              _shown(value, binary_column)))
    kept = np.flatnonzero(valid)
    position = np.cumsum(valid) - 1  # row of the batch -> row among the kept ones
    columns = {"entry_id": entry, "signal_type": kind}
    columns.update((name, batch.column(name)) for name in batch.column_names if name not in REQUIRED_COLUMNS)
    table = pa.table(columns)
    table = table if len(kept) == count else table.take(pa.array(kept))
    return _Checked(table, values, {name: position[r] for name, r in rows.items()})


def _values_of(signal: Signal, raw: pa.Array, binary_column: bool) -> Tuple[np.ndarray, np.ndarray, Dict[int, str]]:
    """(packed values, which are valid, reason of each invalid one) of one signal type's values."""
    packed = np.zeros((len(raw), signal.value_bytes), dtype=np.uint8)
    ok = np.zeros(len(raw), dtype=bool)
    fast = np.zeros(len(raw), dtype=bool)
    if not signal.binary_values and type(signal).validate is Signal.validate:
        lengths = pc.binary_length(raw).fill_null(0).to_numpy(zero_copy_only=False)
        fast = lengths == signal.hex_length
        if fast.any():
            chars = fixed_width_chars(raw.filter(pa.array(fast)), signal.hex_length)
            unpacked, hex_ok = unhex(chars)
            where = np.flatnonzero(fast)
            packed[where], ok[where] = unpacked, hex_ok
            fast[where[~hex_ok]] = False  # not all hex digits: judged below, for its reason
    reasons = {}
    for i in np.flatnonzero(~fast):
        reason, value = _judge(signal, raw[int(i)].as_py(), binary_column)
        if reason:
            reasons[int(i)] = reason
        else:
            packed[i], ok[i] = np.frombuffer(value, dtype=np.uint8), True
    return packed, ok, reasons


def normalised_values(kinds: pa.Array, raw: pa.Array) -> Tuple[pa.Array, pa.Array]:
    """Text values of the given signal types (as a registry file holds them): each normalised
    where its type is known and it is well formed (as written otherwise), and the reason it is
    malformed (null where it is not). What a sync writes and quarantines."""
    raw = raw.cast(pa.string())
    reasons = np.full(len(raw), None, dtype=object)
    fixed_rows, fixed_values = [], []
    codes = kinds.dictionary_encode()
    indices = codes.indices.to_numpy(zero_copy_only=False)
    for code, name in enumerate(codes.dictionary.to_pylist()):
        signal = SIGNALS.get(name)
        if signal is None:
            continue
        mine = np.flatnonzero(indices == code)
        packed, ok, bad = _values_of(signal, _raw_values(raw.take(pa.array(mine))), False)
        for i, reason in bad.items():
            reasons[mine[i]] = reason
        fixed_rows.append(mine[ok])
        fixed_values.append(hex_column(packed[ok]))
    if fixed_rows:
        rows = np.concatenate(fixed_rows)
        order = np.argsort(rows, kind="stable")
        mask = np.zeros(len(raw), dtype=bool)
        mask[rows] = True
        raw = pc.replace_with_mask(raw, pa.array(mask), pa.concat_arrays(fixed_values).take(pa.array(order)))
    return raw, pa.array(reasons, pa.string())


# ---------------------------------------------------------------------------- building a registry


class RegistryBuilder:
    """Validated batches in, one Registry out; metadata columns are named in order of first
    appearance, and two that would share an output name (`uri` and `entry_uri`) do not."""

    def __init__(self, version: str):
        self.version = version
        self.rejects: List[Reject] = []
        self.skipped: Counter = Counter()
        self._names: Dict[str, str] = {}  # registry column -> output name
        self._parts: List[_Checked] = []

    def add(self, batch: pa.Table, path: str, lines: np.ndarray) -> None:
        rejects: List[Reject] = []
        checked = check_batch(batch, path, lines, rejects, self.skipped)
        self.rejects.extend(sorted(rejects, key=lambda r: r.line))
        for column in checked.columns.column_names[2:]:
            if column not in self._names:
                name = metadata_column_name(column)
                while name in self._names.values():
                    name = f"entry_{name}"
                self._names[column] = name
        if checked.columns.num_rows:
            self._parts.append(checked)

    def _table(self, part: _Checked) -> pa.Table:
        columns = {"entry_id": part.columns.column("entry_id").dictionary_encode(),
                   "signal_type": part.columns.column("signal_type").dictionary_encode()}
        for column, name in self._names.items():
            if column in part.columns.column_names:
                columns[name] = _metadata(part.columns.column(column).combine_chunks())
            else:
                columns[name] = pa.nulls(part.columns.num_rows, _TEXT)
        return pa.table(columns)

    def registry(self) -> Registry:
        tables, values, rows, offset = [], {}, {}, 0
        for part in self._parts:
            tables.append(self._table(part))
            for name, packed in part.values.items():
                values.setdefault(name, []).append(packed)
                rows.setdefault(name, []).append(part.rows[name] + offset)
            offset += part.columns.num_rows
        self._parts = []
        schema = pa.schema([("entry_id", _TEXT), ("signal_type", _TEXT)] + [(n, _TEXT) for n in self._names.values()])
        columns = pa.concat_tables(tables) if tables else schema.empty_table()
        packed = {name: np.concatenate(values[name]) if name in values else np.empty((0, s.value_bytes), np.uint8)
                  for name, s in SIGNALS.items()}
        where = {name: np.concatenate(rows[name]) if name in rows else np.empty(0, np.int64) for name in SIGNALS}
        return Registry(self.version, columns, packed, where, self.rejects, self.skipped)


def registry_of_rows(version: str, rows: Iterable[Tuple[str, str, str]]) -> Registry:
    """A registry from (entry_id, signal_type, value) triples (benchmarks, tests)."""
    triples = list(rows)
    builder = RegistryBuilder(version)
    batch = pa.table({name: pa.array([t[i] for t in triples], pa.string()) for i, name in enumerate(REQUIRED_COLUMNS)})
    builder.add(batch, "", np.arange(1, len(triples) + 1))
    return builder.registry()
