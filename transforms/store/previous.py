"""What tonight's run takes over from the last committed one, settled on the launcher before any
media is read: the registry's changes since then, the snapshot of the added entries (what the
stored hashes are matched against), and the standing matches whose entry left the registry
(withdrawals, if tonight's listing still holds their object: store/split.py decides)."""
import logging
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional

from transforms.registry.changes import RegistryChanges, added_snapshot, registry_changes
from transforms.registry.loaded import Registry
from transforms.registry.cache import CachedRegistry
from transforms.registry.snapshots import RegistryRefused, Snapshot
from transforms.store.commits import Commit, latest_commit
from transforms.store.standing import MatchKey, match_key, read_active, withdrawn_keys

LOG = logging.getLogger("takedown_scan")


@dataclass(frozen=True)
class Previous:
    commit: Optional[Commit] = None  # None: a new hash store
    changes: Optional[RegistryChanges] = None  # None: nothing to compare with
    new_entries: Optional[Snapshot] = None  # the added entries, when stored hashes are to meet them
    entry_gone: FrozenSet[MatchKey] = frozenset()  # standing matches whose entry left the registry
    standing: FrozenSet[MatchKey] = frozenset()  # every standing match

    def summary(self) -> Dict:
        return {
            "previous_run": self.commit.run_id if self.commit else None,
            "previous_registry_version": self.commit.registry_version if self.commit else None,
            "entries_added": len(self.changes.added) if self.changes else None,
            "entries_removed": len(self.changes.removed) if self.changes else None,
        }


def _previous_registry(commit: Commit, max_reject_share: float) -> Optional[Registry]:
    try:
        return CachedRegistry(Snapshot(commit.registry_version, commit.registry_files), max_reject_share).registry
    except RegistryRefused as e:
        LOG.warning("the registry version of run %s is gone (%s): stored hashes are matched against every entry",
                    commit.run_id, e)
        return None


def previous_run(hashes_uri: str, registry: Registry, max_reject_share: float, run_dir: str,
                 match_stored: bool = True) -> Previous:
    """Read the store's last commit and compare registries. With `match_stored` (no rescan), the
    added entries are written to RUN_DIR/new_entries/ for the workers to match stored hashes with."""
    commit = latest_commit(hashes_uri)
    if commit is None:
        return Previous()
    changes = registry_changes(_previous_registry(commit, max_reject_share), registry)
    if changes.removed:
        LOG.info("%d entries left the registry since version %s", len(changes.removed), commit.registry_version)
    new_entries = added_snapshot(registry, changes.added, run_dir) if match_stored else None
    active = read_active(hashes_uri, commit)
    present = frozenset(registry.entries_among(row["entry_id"] for row in active))
    return Previous(commit, changes, new_entries, withdrawn_keys(active, present), frozenset(map(match_key, active)))
