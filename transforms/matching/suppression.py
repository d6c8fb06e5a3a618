"""Suppression lists: what this platform has judged false matches, so that they are never reported
again ("negative banks" in HMA's words). Matches they cover are counted, not reported.

A list is a folder of CSV files (by default OUTPUT/suppressions/), each with the header
`kind,value,distance,note` (more columns are kept as notes):
- kind `entry`: `value` is a registry entry id; none of its matches is reported;
- kind a signal type shown whole (`pdq`, `md5`, `sha1`, `sha256`): `value` is the hex of a stored
  picture's hash; a match whose stored hash is within `distance` of it is not reported, whatever
  the entry (a meme or a logo that collides with registered pictures). Exact types take 0.
The platform may write its own files there; `review --verdict false_match --suppress entry|hash`
adds one file per verdict. Files are never rewritten, so two reviewers cannot lose each other's.
No Beam here: the report and the review desk read lists too (matcher.SplitSuppressed applies
them in a pipeline).
"""
import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, FrozenSet, Iterable, Mapping, Optional, Tuple

from transforms.signals import SIGNALS
from transforms.storage import files

FOLDER = "suppressions"
COLUMNS = ("kind", "value", "distance", "note")
ENTRY = "entry"
DEFAULT_DISTANCE = 10  # for `--suppress hash` of a type with distances: re-encoded copies stay within it


class SuppressionError(ValueError):
    """A suppression list cannot be read; str() is a one-line reason naming the file and line."""


@dataclass(frozen=True)
class Suppression:
    entries: FrozenSet[str] = frozenset()
    # signal type -> ((value, largest distance), ...)
    hashes: Tuple[Tuple[str, Tuple[Tuple[bytes, int], ...]], ...] = ()
    rows: int = 0
    _by_type: Dict[str, Tuple[Tuple[bytes, int], ...]] = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_type", dict(self.hashes))

    def __bool__(self) -> bool:
        return bool(self.entries or self.hashes)

    def covers(self, row: Mapping) -> bool:
        """Whether a match row (entry_id, signal_type, item_hash) is suppressed."""
        if row.get("entry_id") in self.entries:
            return True
        listed = self._by_type.get(row.get("signal_type"))
        if not listed or not row.get("item_hash"):
            return False
        signal = SIGNALS[row["signal_type"]]
        try:
            value = bytes.fromhex(row["item_hash"])
        except ValueError:
            return False
        return any(signal.distance(value, other) <= limit for other, limit in listed)


def hash_kinds() -> Tuple[str, ...]:
    """The signal types a list may name: those whose match rows show the whole value."""
    return tuple(name for name, signal in SIGNALS.items() if signal.shown_whole)


def parse_row(kind: str, value: str, distance: str) -> Tuple[str, object, int]:
    """(kind, the entry id or the hash's bytes, distance) of one list row; ValueError otherwise."""
    kind, value, distance = (kind or "").strip().lower(), (value or "").strip(), (distance or "").strip()
    if kind == ENTRY:
        if not value:
            raise ValueError("an entry row needs the entry id in `value`")
        return kind, value, 0
    if kind not in hash_kinds():
        raise ValueError(f"kind {kind!r} is not one of {', '.join((ENTRY,) + hash_kinds())}")
    signal = SIGNALS[kind]
    value = signal.normalize(value)
    reason = signal.validate(value)
    if reason:
        raise ValueError(f"{kind} value {value[:80]!r} is malformed ({reason})")
    if signal.exact and distance not in ("", "0"):
        raise ValueError(f"{kind} matches exactly: its distance is 0 or empty")
    if not signal.exact and not distance.isdigit():
        raise ValueError(f"a {kind} row needs a whole number `distance` (such as {DEFAULT_DISTANCE})")
    return kind, bytes.fromhex(value), int(distance or 0)


def parse_list(sources: Iterable[Tuple[str, str]]) -> Suppression:
    """A Suppression from (name, CSV text) pairs; a SuppressionError naming the file and line of
    the first bad row (a list is the platform's own judgement: a half-read one is refused)."""
    entries, hashes, count = set(), {}, 0
    for name, text in sources:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("kind", "value") if c not in (reader.fieldnames or ())]
        if missing:
            raise SuppressionError(f"suppression list {name} has no column {', '.join(missing)} "
                                   f"(its header must start with {','.join(COLUMNS)})")
        for row in reader:
            try:
                kind, value, distance = parse_row(row.get("kind"), row.get("value"), row.get("distance"))
            except ValueError as e:
                raise SuppressionError(f"suppression list {name} line {reader.line_num}: {e}") from None
            count += 1
            if kind == ENTRY:
                entries.add(value)
            else:
                hashes.setdefault(kind, {})[value] = max(distance, hashes.get(kind, {}).get(value, 0))
    return Suppression(frozenset(entries), tuple((kind, tuple(sorted(values.items())))
                                                 for kind, values in sorted(hashes.items())), count)


def read_list(folder: str) -> Suppression:
    """The suppression list in a folder (local, gs://, s3://); empty when there is none."""
    paths = files.matching(folder, "*.csv")
    sources = []
    for path in paths:
        try:
            sources.append((path, files.read(path).decode("utf-8-sig")))
        except UnicodeDecodeError:
            raise SuppressionError(f"suppression list {path} is not UTF-8 text") from None
    return parse_list(sources)


def list_folder(output: str, option: Optional[str] = None) -> str:
    """Where a job's suppression list is: --suppressions, else OUTPUT/suppressions."""
    return option or files.join(output, FOLDER)


def suppression_row(match: Mapping, how: str, distance: Optional[int] = None) -> Tuple[str, str, int]:
    """(kind, value, distance) of the row that suppresses a false match: its entry (`how` "entry"),
    or its stored picture's hash within `distance` (`how` "hash"; by default DEFAULT_DISTANCE for
    a type with distances, 0 for an exact one). A ValueError when the match's hash is not kept whole."""
    if how == ENTRY:
        return ENTRY, match["entry_id"], 0
    kind = match["signal_type"]
    if kind not in hash_kinds():
        raise ValueError(f"{kind} hashes are not kept whole in match rows; suppress the entry")
    if distance is None:
        distance = 0 if SIGNALS[kind].exact else DEFAULT_DISTANCE
    parse_row(kind, match["item_hash"], str(distance))
    return kind, match["item_hash"], distance


def add_to_list(folder: str, kind: str, value: str, distance: int, note: str, now: datetime) -> str:
    """A new file of one row in the list (never an edit of an existing one); its path."""
    parse_row(kind, value, str(distance))  # refuse what a later read would refuse
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([COLUMNS, (kind, value, distance, note)])
    path = files.join(folder, files.stamped_name(now, ".csv"))
    with files.create(path) as f:
        f.write(out.getvalue().encode())
    return path
