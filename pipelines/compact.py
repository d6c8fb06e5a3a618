"""The compact job: the hash store's last committed state rewritten into one run of its own, now,
rather than when a nightly scan finds it due (store/compaction.py says when and how).

    takedown-scan compact --hashes URI

It reads no media and no registry: the last committed run's state, standing matches and the
objects/ rows they point at go into a new run HASHES/run=RUN_ID/ (objects/, state/, active/,
summary.json), committed with the last run's registry version, so that the next scan goes on
from it as from that run. The run folders older than the last compaction that a later run has
committed after are deleted first. Exit status 0 when the run finished, 2 with a one-line reason
when it could not be done.
"""
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import UsageError
from pipelines.launch import Job, check_writable, launch, new_run_id, store_settings
from pipelines.options import JobOptions
from transforms.reports.writers import WriteSummary
from transforms.store.commits import Commit, WriteMarkers, commit_document, commit_marker, latest_commit
from transforms.store.compaction import CarryForward, CompactionSettings, StoreFacts, plan_compaction
from transforms.store.hash_store import WriteHashStore
from transforms.store.standing import ReadPreviousRun, WriteActive


class CompactOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument_group("takedown-scan compact")  # --hashes is a shared option


@dataclass(frozen=True)
class CompactPlan:
    run_id: str
    started_at: datetime
    run_dir: str  # the new run's folder in the store: its summary.json goes there
    hashes: str
    commit: Commit
    facts: StoreFacts


def plan_compact(options: CompactOptions, now: Optional[datetime] = None) -> CompactPlan:
    job = options.view_as(JobOptions)
    if not job.hashes:
        raise UsageError("--hashes is required")
    check_writable(store_settings(options), "--hashes", job.hashes)
    commit = latest_commit(job.hashes)
    if commit is None:
        raise UsageError(f"--hashes {job.hashes} holds no committed run to compact")
    _, facts = plan_compaction(job.hashes, CompactionSettings(), force=True)
    now = now or datetime.now(timezone.utc)
    run_id = new_run_id(now)
    return CompactPlan(run_id, now, FileSystems.join(job.hashes, f"run={run_id}"), job.hashes, commit, facts)


def build(p: beam.Pipeline, options: CompactOptions, plan: CompactPlan) -> None:
    state, active = p | "PreviousRun" >> ReadPreviousRun(plan.hashes, plan.commit)
    _, rewritten = state | "CarryForward" >> CarryForward(plan.hashes, plan.run_id, read=True, compact=True)
    nothing_hashed = p | "NothingHashed" >> beam.Create([])
    written = [
        *((nothing_hashed, nothing_hashed, state, rewritten)
          | "WriteHashStore" >> WriteHashStore(plan.hashes, plan.run_id, plan.started_at, compact=True)),
        (active, p | "NoNewMatches" >> beam.Create([])) | "WriteActive" >> WriteActive(plan.hashes, plan.run_id),
        p | "WriteSummary" >> WriteSummary(
            FileSystems.join(plan.run_dir, "summary.json"),
            {"run_id": plan.run_id, "started_at": plan.started_at.isoformat(), "compacted_run": plan.commit.run_id,
             "registry_version": plan.commit.registry_version, **plan.facts.summary()},
            counted={"objects": rewritten, "standing_matches": active},
        ),
    ]
    commit = commit_document(plan.run_id, plan.commit.registry_version, plan.commit.registry_files, compacted=True)
    p | "Commit" >> WriteMarkers([commit_marker(plan.hashes, commit)], written)


def announce(options: CompactOptions, plan: CompactPlan) -> str:
    return (f"compacting the hash store {plan.hashes} from run {plan.commit.run_id} ({plan.facts.live_rows} objects, "
            f"{plan.facts.superseded_share:.0%} of {plan.facts.stored_rows} stored rows superseded)")


JOB = Job(
    name="compact",
    description=__doc__.split("\n\n")[0],
    options=CompactOptions,
    plan=plan_compact,
    build=build,
    announce=announce,
    leftovers=lambda options, plan: {plan.hashes},
)


def main(argv: Optional[List[str]] = None) -> int:
    return launch(JOB, argv)


if __name__ == "__main__":
    sys.exit(main())
