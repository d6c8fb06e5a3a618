"""What every registry feed yields, whatever its protocol: records that add, replace or remove one
entry, batches of them with the position to resume from, and the merge of many records into the
changes a sync writes (a record replaces an older one for the same entry, whatever order they came).
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

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
    is JSON; with `complete` it is a checkpoint (a whole window or listing has landed)."""

    records: List[Record]
    position: Dict
    complete: bool
    counts: Counter = field(default_factory=Counter)


class Changes:
    """The newest record per entry among all a sync fetched."""

    def __init__(self):
        self.records: Dict[str, Record] = {}
        self.fetched = 0

    def add(self, records: Iterable[Record]) -> None:
        for record in records:
            self.fetched += 1
            old = self.records.get(record.entry_id)
            if old is None or record.updated_at >= old.updated_at:
                self.records[record.entry_id] = record

    def __len__(self) -> int:
        return len(self.records)
