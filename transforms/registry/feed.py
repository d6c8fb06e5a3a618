"""What every registry feed is and yields, whatever its protocol: `Feed`, the one interface a
feed module fills (ncmec.FEED, stopncii.FEED; `pipelines/sync.py` and `feedback.py` loop over
FEEDS and name no feed); records that add, replace or remove one entry, batches of them with the
position to resume from, records as Arrow tables, and the merge of many records into the changes
a sync writes (a record replaces an older one for the same entry, whatever order they came in).
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Entry metadata each feed fills (what it does not know stays None); `source`, `added_at` and
# `updated_at` are added when the snapshot is written.
RECORD_METADATA = ("member_id", "classification", "case_numbers", "regions", "status")


@dataclass(frozen=True, slots=True)
class Record:
    entry_id: str
    updated_at: int  # unix seconds, the feed's own timestamp of this state of the entry
    removed: bool  # deleted, withdrawn: the entry leaves the registry
    signals: Tuple[Tuple[str, str], ...] = ()  # (signal_type, signal_value) as the feed sent them
    metadata: Tuple[Optional[str], ...] = (None,) * len(RECORD_METADATA)


@dataclass
class Batch:
    """One page of a feed: its records, what it skipped, and where to resume after it. `position`
    is JSON; without a next link or page token in it, it is a checkpoint (a whole window or
    listing has landed)."""

    records: List[Record]
    position: Dict
    counts: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Feed:
    """One registry feed: its name and URL, its credentials, its options, how a position is
    started, parsed from --since, restarted, moved back and told, its records fetched, and the
    feedback it takes."""

    name: str  # the sync's SOURCE and the prefix of its entry ids (`ncmec:...`)
    default_url: str
    credentials_env: str  # the environment variable that holds the credentials
    credentials_form: Tuple[str, str, str]  # (first, second, separator): `user:password`
    credential_values: int  # the most values the credentials may hold (a feed may take an optional one)
    since_help: str
    since_form: str  # what --since must be, for the error
    parse_since: Callable[[str], Dict]  # --since -> a position; ValueError when it is not one
    first_position: Callable[[], Dict]  # where a first sync starts
    restart: Callable[[Dict], Dict]  # a position whose cursor (next link, page token) is too old
    overlap: Callable[[Dict, int], Dict]  # a checkpoint moved back by so many seconds, cursor dropped
    where: Callable[[Dict], str]  # a position, as progress lines say it
    add_options: Callable[[Callable[..., None]], None]  # add(names..., **argparse kwargs) for each of its own
    settings: Callable[[Any], Dict]  # the parsed options -> what, besides the URL, makes a sync the same one
    fetch: Callable[..., Iterator["Batch"]]  # (options, position, HttpSettings, credentials, log) -> batches
    # What it takes back: reviewers' verdicts on its own entries (`owns` an id of the form `id_form`)
    id_form: str
    owns: Callable[[str], bool]
    add_feedback_options: Callable[[Callable[..., None]], None]
    # (options, {match id: latest review}, write(relative path, bytes), credentials(), say(line)) ->
    # how many feedback items it wrote (and, with --send, sent)
    feedback: Callable[..., int]



class FeedbackError(Exception):
    """No feedback can be written; str() is a one-line reason."""


RECORD_SCHEMA = pa.schema([("entry_id", pa.string()), ("updated_at", pa.int64()), ("removed", pa.bool_()),
                           ("signal_types", pa.list_(pa.string())), ("signal_values", pa.list_(pa.string()))]
                          + [(name, pa.string()) for name in RECORD_METADATA]
                          + [("fetched_at", pa.int64())])  # unix seconds when the sync fetched it


def records_table(records: List[Record], fetched_at: Optional[List[int]] = None) -> pa.Table:
    """Records as a table, with the time each was fetched (unknown: null)."""
    columns = {
        "entry_id": [r.entry_id for r in records],
        "updated_at": [r.updated_at for r in records],
        "removed": [r.removed for r in records],
        "signal_types": [[t for t, _ in r.signals] for r in records],
        "signal_values": [[v for _, v in r.signals] for r in records],
    }
    for i, name in enumerate(RECORD_METADATA):
        columns[name] = [r.metadata[i] for r in records]
    columns["fetched_at"] = fetched_at if fetched_at is not None else [None] * len(records)
    return pa.table(columns, schema=RECORD_SCHEMA)


def with_columns(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table written before some of the schema's columns existed, with those columns null."""
    for field_ in schema:
        if field_.name not in table.column_names:
            table = table.append_column(field_, pa.nulls(table.num_rows, field_.type))
    return table.select(schema.names).cast(schema)


def newest(records: pa.Table) -> pa.Table:
    """One row per entry: its newest record (the later one fetched where two have the same
    time), whatever order they came in. Columnar, so that millions of records cost little."""
    if records.num_rows == 0:
        return records
    ordered = records.append_column("_seq", pa.array(np.arange(records.num_rows))).sort_by(
        [("entry_id", "ascending"), ("updated_at", "ascending"), ("_seq", "ascending")])
    ids = ordered["entry_id"]
    last_of_entry = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1))  # the row before another entry's
    keep = pa.concat_arrays(last_of_entry.chunks + [pa.array([True])])
    return ordered.filter(keep).drop_columns(["_seq"])
