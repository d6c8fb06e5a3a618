"""The Parquet schemas of every output: the single source for writers, readers and tests."""
from typing import Sequence

import pyarrow as pa

from transforms.signals.exact import DIGESTS

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

HASH_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("object_version", pa.string()),
        ("media_type", pa.string()),
        ("frame_time_s", pa.float64()),
        ("pdq", pa.string()),
        ("pdq_variant", pa.string()),  # "original", or "trimmed" (the picture without its border)
        ("quality", pa.int32()),
        *[(digest.name, pa.string()) for digest in DIGESTS],
        ("hashed_at", UTC_TIMESTAMP),
        ("hasher_version", pa.string()),
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
    ("uri", pa.string()),
    ("object_version", pa.string()),
    ("media_type", pa.string()),
    ("signal_type", pa.string()),
    ("item_hash", pa.string()),
    ("item_variant", pa.string()),  # the hash that matched: original, trimmed, .../rotate90, ...
    ("entry_id", pa.string()),
    ("registry_hash", pa.string()),
    ("distance", pa.int32()),
    ("quality", pa.int32()),
    ("frame_time_s", pa.float64()),
    ("matched_frame_share", pa.float64()),
    ("registry_frame_share", pa.float64()),
    ("registry_version", pa.string()),
]
MATCH_COLUMNS = tuple(name for name, _ in _MATCH_FIELDS)


def match_schema(metadata_columns: Sequence[str]) -> pa.Schema:
    """Match rows: the fixed columns, then the registry's entry metadata columns as strings."""
    return pa.schema(_MATCH_FIELDS + [(name, pa.string()) for name in metadata_columns])
