"""The Parquet schemas of every output: the single source for writers, readers and tests."""
from datetime import datetime, timezone
from typing import Optional, Sequence

import pyarrow as pa

from transforms.signals import SIGNALS, score_columns

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


def utc_time(value) -> Optional[datetime]:
    """A time as the UTC_TIMESTAMP columns hold it, from a datetime or ISO 8601 text (UTC where it
    names no zone); None for none. A ValueError for text that is not a time."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

def utc_text(value) -> Optional[str]:
    """A time (as utc_time takes it) as the reports write it: ISO 8601 UTC to the second, or None."""
    moment = utc_time(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# The hash store's objects/: one row per hashed object, with every hash a match needs, in binary.
# For each signal type S: S (the hashes), S_variant ("original", "trimmed", "trimmed/rotate90",
# ...), S_quality and S_time_s (a frame's time in a video), all lists of the same length.
def hash_schema() -> pa.Schema:
    return pa.schema([
        ("uri", pa.string()),
        ("object_version", pa.string()),
        ("media_type", pa.string()),
        ("hasher_version", pa.string()),
        ("hashed_at", UTC_TIMESTAMP),
        ("run_id", pa.string()),
        ("partial", pa.bool_()),  # only part of the object could be decoded
    ] + [
        field
        for name in SIGNALS
        for field in (
            (name, pa.list_(pa.binary())),
            (f"{name}_variant", pa.list_(pa.string())),
            (f"{name}_quality", pa.list_(pa.int32())),
            (f"{name}_time_s", pa.list_(pa.float64())),
        )
    ])


# The hash store's state/: one row per object known after a run, and where its hashes are.
STATE_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("object_version", pa.string()),
        ("hasher_version", pa.string()),
        ("media_type", pa.string()),
        ("hashed_run", pa.string()),  # the run whose objects/ holds its row
    ]
)

# The hash store's active/: every match reported by a run and still standing after it (its object
# unchanged, its entry still in the registry); withdrawals are found among these.
ACTIVE_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("object_version", pa.string()),
        ("entry_id", pa.string()),
        ("signal_type", pa.string()),
        ("reported_run", pa.string()),
        ("reported_registry_version", pa.string()),
    ]
)

WITHDRAWN_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("uri", pa.string()),
        ("object_version", pa.string()),
        ("entry_id", pa.string()),
        ("signal_type", pa.string()),
        ("reported_run", pa.string()),  # the run that reported the match
        ("reported_registry_version", pa.string()),
        ("registry_version", pa.string()),  # the version the entry is no longer in
    ]
)

# A standing match whose object is gone tonight (deleted, or replaced by another version):
# nothing to reinstate, whatever happened to its entry.
DELETED_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("uri", pa.string()),
        ("object_version", pa.string()),  # the version that matched, now gone
        ("entry_id", pa.string()),
        ("signal_type", pa.string()),
        ("reported_run", pa.string()),
        ("reported_registry_version", pa.string()),
        ("listed_version", pa.string()),  # null: the object is deleted; else the version that replaced it
    ]
)

ERROR_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("uri", pa.string()),
        ("object_version", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)

# OUTPUT/actions/ (`act`, transforms/reports/actions.py): one row per action tried, append-only.
ACTION_LOG_SCHEMA = pa.schema([
    ("action_id", pa.string()),
    ("match_id", pa.string()),
    ("rule", pa.string()),
    ("action", pa.string()),  # one of KINDS
    ("target", pa.string()),  # the tags, the destination URI or the webhook URL (without its user part or query)
    ("status", pa.string()),  # done | gone (the object was deleted or replaced: nothing to act on) | failed
    ("detail", pa.string()),
    ("acted_at", UTC_TIMESTAMP),
    ("actor", pa.string()),
    ("uri", pa.string()),
    ("object_version", pa.string()),
    ("entry_id", pa.string()),
    ("verdict", pa.string()),
    ("reviewed_at", pa.string()),
])

REGISTRY_REJECT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),  # CSV: the line in the file (header = 1); Parquet: the row (first = 1)
        ("reason", pa.string()),
        ("entry_id", pa.string()),
        ("signal_type", pa.string()),
        ("signal_value", pa.string()),
    ]
)

_MATCH_FIELDS = [
    ("run_id", pa.string()),
    ("scanned_at", UTC_TIMESTAMP),
    ("found_at", UTC_TIMESTAMP),  # when this match was made (a long run's are hours after scanned_at)
    ("entry_seen_at", UTC_TIMESTAMP),  # when the entry was first seen: the sync's fetch, else its version's time
    ("uri", pa.string()),
    ("object_version", pa.string()),
    ("media_type", pa.string()),
    ("signal_type", pa.string()),
    ("item_hash", pa.string()),
    ("item_variant", pa.string()),  # the hash that matched: original, trimmed, .../rotate90, ...
    ("entry_id", pa.string()),
    ("registry_hash", pa.string()),
    ("distance", pa.int32()),  # null for tmk_pdqf, which has its two scores instead
    ("quality", pa.int32()),
    ("frame_time_s", pa.float64()),
    ("matched_frame_share", pa.float64()),
    ("registry_frame_share", pa.float64()),
    ("registry_version", pa.string()),
    ("found_by", pa.string()),  # hashed | new_entry | rematch
    ("partial", pa.bool_()),  # the object could be decoded only in part (a video that ends early)
]  # then each signal type's score columns (null in other types' rows): tmk_level1, tmk_level2
FOUND_BY = ("hashed", "new_entry", "rematch")


def _match_fields():
    return _MATCH_FIELDS + [(column.name, column.type) for column in score_columns()]


def match_columns() -> Sequence[str]:
    """The names of the match columns that are not entry metadata."""
    return tuple(name for name, _ in _match_fields())


def match_schema(metadata_columns: Sequence[str]) -> pa.Schema:
    """Match rows: the fixed columns, the signal types' scores, then the registry's entry metadata
    columns as strings."""
    return pa.schema(_match_fields() + [(name, pa.string()) for name in metadata_columns])
