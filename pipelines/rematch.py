"""The rematch job: the hash store's stored hashes against a registry version, with no listing and
no media read. For a full re-check after a threshold change, or a first import of a large registry.

    python -m pipelines.rematch --hashes URI --registry URI --output URI [--since VERSION]

Every object of the store's last committed run is matched against the registry's latest complete
version (with `--since VERSION`: only against the entries added since that version of the same
registry root). Reports go to OUTPUT/run=RUN_ID/ as a scan's do (matches/ with found_by
`rematch`, registry_rejects/, summary.json, _SUCCESS last). The hash store gains a run of the same
id whose standing matches include the ones found, as a nightly run's would (so that the next
night reports their withdrawals and leaves them out of its new-entry matches), committed unless
another run committed to the store meanwhile; after a full rematch, the next night's new entries
are the ones added after the version rematched.
Exit status 0 when the run finished, 2 with a one-line reason when it could not be done.
"""
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import UsageError
from pipelines.launch import Job, check_writable, launch, new_run_id, store_settings
from pipelines.options import JobOptions, check_match_options, match_settings, suppression_list
from transforms.matching.matcher import MatchPlan, MatchSettings, SplitSuppressed
from transforms.matching.suppression import Suppression
from transforms.matching.new_entries import MatchStored
from transforms.registry.changes import added_snapshot, registry_changes
from transforms.registry.loaded import Registry
from transforms.registry.cache import CachedRegistry
from transforms.registry.snapshots import Snapshot, resolve_snapshot
from transforms.reports.writers import WriteMatches, WriteRows, WriteSummary, reject_rows
from transforms.schemas import REGISTRY_REJECT_SCHEMA
from transforms.store.commits import (Commit, WriteMarkers, commit_document, commit_marker, latest_commit,
                                      report_marker)
from transforms.store.hash_store import ReadStored, WriteHashStore
from transforms.store.standing import ReadPreviousRun, WriteActive


class RematchOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("takedown-scan rematch")
        group.add_argument("--since", help="Match only the entries added since this VERSION of the registry root.")


@dataclass(frozen=True)
class RematchPlan:
    run_id: str
    started_at: datetime
    run_dir: str
    commit: Commit
    registry: Registry
    to_match: Optional[Snapshot]  # the registry, the entries added since --since, or None (none added)
    snapshot_files: Tuple[str, ...]  # the registry version's files
    entries_matched: int
    settings: MatchSettings
    max_reject_share: float
    since: Optional[str]
    suppression: Suppression = Suppression()

    @property
    def matching(self) -> MatchPlan:
        return MatchPlan(self.settings, self.max_reject_share, self.run_id, self.started_at)


def plan_rematch(job: JobOptions, since: Optional[str], now: Optional[datetime] = None) -> RematchPlan:
    for name in ("hashes", "registry", "output"):
        if not getattr(job, name):
            raise UsageError(f"--{name} is required")
    check_match_options(job)
    check_writable(store_settings(job), "--output", job.output)
    commit = latest_commit(job.hashes)
    if commit is None:
        raise UsageError(f"--hashes {job.hashes} holds no committed run to rematch")
    snapshot = resolve_snapshot(job.registry)
    registry = CachedRegistry(snapshot, job.max_registry_reject_share).registry
    now = now or datetime.now(timezone.utc)
    run_id = new_run_id(now)
    run_dir = FileSystems.join(job.output, f"run={run_id}")
    to_match, entries = snapshot, registry.entries
    if since:
        before = CachedRegistry(resolve_snapshot(FileSystems.join(job.registry, since)),
                                job.max_registry_reject_share).registry
        added = registry_changes(before, registry).added
        entries, to_match = len(added), added_snapshot(registry, added, run_dir)
    return RematchPlan(run_id, now, run_dir, commit, registry, to_match, tuple(snapshot.files), entries,
                       match_settings(job), job.max_registry_reject_share, since, suppression_list(job))


def build(p: beam.Pipeline, options: RematchOptions, plan: RematchPlan) -> None:
    job = options.view_as(JobOptions)
    state, active = p | "StoredObjects" >> ReadPreviousRun(job.hashes, plan.commit)
    stored = state | "ReadStored" >> ReadStored(job.hashes)
    found, rematched = stored | "MatchStored" >> MatchStored(plan.to_match, plan.matching, found_by="rematch")
    matches, suppressed = found | "Suppress" >> SplitSuppressed(plan.suppression)
    nothing_hashed = p | "NothingHashed" >> beam.Create([])
    store = [
        *((nothing_hashed, nothing_hashed, state, p | "NothingRewritten" >> beam.Create([]))
          | "WriteHashStore" >> WriteHashStore(job.hashes, plan.run_id, plan.started_at)),
        (active, matches) | "WriteActive" >> WriteActive(job.hashes, plan.run_id),
    ]
    # matched against every entry of the version: the next night's new entries are those after it
    registry_version, files = ((plan.commit.registry_version, plan.commit.registry_files) if plan.since
                               else (plan.registry.version, plan.snapshot_files))
    committed = p | "CommitStore" >> WriteMarkers(
        [commit_marker(job.hashes, commit_document(plan.run_id, registry_version, files))], store,
        unless_moved=(job.hashes, plan.commit.run_id))
    written = [
        committed,
        matches | "WriteMatches" >> WriteMatches(FileSystems.join(plan.run_dir, "matches"), plan.registry),
        p | "WriteRegistryRejects" >> WriteRows(
            FileSystems.join(plan.run_dir, "registry_rejects"), reject_rows(plan.registry.rejects, plan.run_id),
            REGISTRY_REJECT_SCHEMA, always=False,
        ),
        p | "WriteSummary" >> WriteSummary(
            FileSystems.join(plan.run_dir, "summary.json"),
            {
                "run_id": plan.run_id,
                "started_at": plan.started_at.isoformat(),
                "hashes_run": plan.commit.run_id,
                "registry_version": plan.registry.version,
                "registry_entries": plan.registry.entries,
                "registry_rejected": len(plan.registry.rejects),
                "since": plan.since,
                "entries_matched": plan.entries_matched,
                "suppression_rows": plan.suppression.rows,
            },
            counted={"rematched_objects": rematched, "matches": matches, "suppressed": suppressed},
        ),
    ]
    p | "Commit" >> WriteMarkers([report_marker(plan.run_dir, plan.run_id)], written)


def announce(options: RematchOptions, plan: RematchPlan) -> str:
    return (f"rematching the hashes of run {plan.commit.run_id} against registry version {plan.registry.version} "
            f"({plan.entries_matched} entries); reports: {plan.run_dir}")


JOB = Job(
    name="rematch",
    description=__doc__.split("\n\n")[0],
    options=RematchOptions,
    plan=lambda options: plan_rematch(options.view_as(JobOptions), options.since),
    build=build,
    announce=announce,
)


def main(argv: Optional[List[str]] = None) -> int:
    return launch(JOB, argv)


if __name__ == "__main__":
    sys.exit(main())
