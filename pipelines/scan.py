"""The scan job: list media, skip what is unchanged, hash, match against the registry, report.

    python -m pipelines.scan --media URI --registry URI --output URI [--config FILE] [Beam options]

With no arguments it scans the bundled sample. Exit status 0 when the run finished (objects that
failed are in errors/), 2 with a one-line reason when it could not be done.
"""
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import UsageError
from pipelines.launch import Job, check_bucket, check_packaging, check_writable, launch, new_run_id, store_settings
from pipelines.options import JobOptions, check_match_options, match_settings, suppression_list
from transforms.matching.matcher import MatchMedia, MatchPlan, MatchSettings, SplitSuppressed
from transforms.matching.suppression import Suppression
from transforms.matching.new_entries import MatchStored
from transforms.media.costs import CostSettings
from transforms.media.hashing import HashMedia, HashSettings
from transforms.media.regions import MAX_REGIONS
from transforms.media.videos import VideoSettings
from transforms.registry.loaded import Registry
from transforms.registry.cache import CachedRegistry
from transforms.registry.snapshots import Snapshot, resolve_snapshot
from transforms.reports.writers import WriteErrors, WriteMatches, WriteRows, WriteSummary, reject_rows
from transforms.schemas import REGISTRY_REJECT_SCHEMA
from transforms.storage.inventory import InventoryError, read_manifest
from transforms.storage.listing import Listing, ListMedia
from transforms.storage.objects import is_remote
from transforms.storage.stores import StoreSettings
from transforms.store.adoption import ReadAdopted, adopt
from transforms.store.commits import WriteMarkers, commit_document, commit_marker, latest_commit, report_marker
from transforms.store.hash_store import WriteHashStore
from transforms.store.compaction import CarryForward, CompactionSettings, StoreFacts, plan_compaction
from transforms.store.standing import ReadPreviousRun, WriteActive, WriteEnded
from transforms.store.previous import Previous, previous_run
from transforms.store.split import SplitListing

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample")
# Objects in flight per worker: as many as cores when reads are local (CPU-bound), more when they
# wait on an object store's latency (benchmarks/read_concurrency.py).
REMOTE_READ_CONCURRENCY = 16


class ScanOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("takedown-scan")
        group.add_argument("--media", help="What to scan: a local folder or file, gs://bucket/prefix or s3://bucket/prefix.")
        group.add_argument("--inventory", help="Instead of listing --media: an S3 Inventory manifest.json or a GCS "
                           "Storage Insights manifest (then --media, if given, keeps only objects under it).")
        group.add_argument("--max_object_bytes", type=int, default=HashSettings.max_bytes,
                           help="Larger objects fail with too_large.")
        group.add_argument("--max_pixels", type=int, default=HashSettings.max_pixels,
                           help="Larger images fail with too_many_pixels, before decoding.")
        group.add_argument("--max_total_pixels", type=int, default=HashSettings.max_total_pixels,
                           help="Animated and multi-page images with more pixels in all their frames fail with "
                                "too_many_pixels, before decoding.")
        group.add_argument("--max_regions", type=int, default=HashSettings.regions,
                           help="Regions of a still picture likely to be a picture of their own (a photo in a "
                                "screenshot, a collage's cell, a framed or pasted photo) hashed and matched too; "
                                "0: none.")
        group.add_argument("--video_sample_seconds", type=float, default=VideoSettings.sample_seconds,
                           help="Besides keyframes, hash one video frame per this many seconds (0: keyframes only).")
        group.add_argument("--no_tmk", dest="tmk", action="store_false", default=VideoSettings.tmk,
                           help="No TMK+PDQF hash of videos (then only their keyframes and sampled frames "
                                "are decoded).")
        group.add_argument("--max_video_seconds", type=float, default=VideoSettings.max_seconds,
                           help="Longer videos fail with too_long.")
        group.add_argument("--max_video_frames", type=int, default=VideoSettings.max_frames,
                           help="Videos and animations with more frames to hash fail with too_long.")
        group.add_argument("--hash_cpu_s", type=float, default=CostSettings.base_s,
                           help="CPU seconds hashing one object may take, plus 0.05 s a megapixel of its frames and "
                                "0.5 s a second of video; then it fails with over_budget.")
        group.add_argument("--read_concurrency", type=int,
                           help=f"Objects read and hashed at once by each worker (default: the cores for local media, "
                                f"{REMOTE_READ_CONCURRENCY} for gs:// and s3://).")
        group.add_argument("--max_inflight_bytes", type=int, default=HashSettings.max_inflight_bytes,
                           help="Bytes of objects being read and hashed at once in one worker process (an object "
                                "larger than this still runs, alone).")
        group.add_argument("--read_attempts", type=int, default=StoreSettings.attempts,
                           help="Tries of a gs:// or s3:// request on throttling and transient errors.")
        group.add_argument("--object_timeout_s", type=float, default=StoreSettings.object_timeout_s,
                           help="Time for all tries of reading one object; then it fails as unreadable.")
        group.add_argument("--list_split_depth", type=int, default=1,
                           help="Prefix levels listed first, so that workers list the sub-prefixes in parallel.")
        group.add_argument("--list_split_pages", type=int, default=10,
                           help="Pages (of 1,000 keys) one worker lists of a prefix before the rest of its keys "
                                "is cut into key ranges that other workers list.")
        group.add_argument("--follow_symlinks", action="store_true",
                           help="Follow symbolic links in a local --media folder (never to a path outside it).")
        group.add_argument("--rescan_unchanged", action="store_true",
                           help="Hash again objects whose version the hash store already holds.")
        group.add_argument("--store_file_rows", type=int, default=10_000,
                           help="The hash store's objects/ files are closed after this many objects, or --store_file_"
                                "seconds, so that a run killed half-way leaves whole files the next run adopts.")
        group.add_argument("--store_file_seconds", type=float, default=300.0, help="See --store_file_rows.")
        group.add_argument("--compact_share", type=float, default=CompactionSettings.max_superseded_share,
                           help="Compact the hash store in tonight's run when more than this share of the rows its "
                                "state may read are superseded (0: every night).")
        group.add_argument("--compact_after_runs", type=int, default=CompactionSettings.max_runs,
                           help="Compact the hash store, whatever the share, once this many runs have committed "
                                "since the last compaction (each adds files).")


@dataclass(frozen=True)
class ScanPlan:
    """What the launcher settles before any media is read."""

    run_id: str
    started_at: datetime
    run_dir: str
    hashes_uri: str
    snapshot: Snapshot
    registry: Registry
    listing: Listing
    hash_settings: HashSettings
    match_settings: MatchSettings
    max_reject_share: float
    previous: Previous
    compact: bool = False  # tonight's run compacts the hash store
    adopted: Tuple[str, ...] = ()  # objects/ files of runs that did not commit, adopted (store/adoption.py)
    store: Optional[StoreFacts] = None  # None: a new store
    suppression: Suppression = Suppression()  # the platform's false matches (matching/suppression.py)

    @property
    def matching(self) -> MatchPlan:
        return MatchPlan(self.match_settings, self.max_reject_share, self.run_id, self.started_at)

    def summary_base(self) -> dict:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "registry_version": self.snapshot.version,
            "registry_entries": self.registry.entries,
            "registry_rejected": len(self.registry.rejects),
            "registry_skipped_by_type": dict(sorted(self.registry.skipped_by_type.items())),
            **self.previous.summary(),
            "compacted": self.compact,
            "suppression_rows": self.suppression.rows,
            **(self.store.summary() if self.store else {}),
        }


def check_options(scan: ScanOptions) -> None:
    job = scan.view_as(JobOptions)
    if not (scan.media or scan.inventory):
        raise UsageError("--media is required (or give no arguments to scan the bundled sample)")
    for name in ("registry", "output"):
        if not getattr(job, name):
            raise UsageError(f"--{name} is required (or give no arguments to scan the bundled sample)")
    if not scan.inventory:  # with an inventory, plan_scan reads its manifest instead
        _check_media(scan)
    check_match_options(job)
    check_packaging(scan)
    if scan.max_object_bytes <= 0 or scan.max_pixels <= 0 or scan.max_total_pixels <= 0 or scan.max_inflight_bytes <= 0 \
            or not scan.hash_cpu_s > 0:
        raise UsageError("--max_object_bytes, --max_pixels, --max_total_pixels, --max_inflight_bytes and --hash_cpu_s "
                         "must be positive")
    if (scan.read_concurrency is not None and scan.read_concurrency < 1) or scan.read_attempts < 1 or scan.object_timeout_s <= 0 or scan.list_split_depth < 0 or scan.list_split_pages < 1:
        raise UsageError(
            "--read_concurrency and --read_attempts must be >= 1, --object_timeout_s > 0, --list_split_depth >= 0, "
            "--list_split_pages >= 1"
        )
    if scan.video_sample_seconds < 0 or scan.max_video_seconds <= 0 or scan.max_video_frames <= 0:
        raise UsageError("--video_sample_seconds must be >= 0, --max_video_seconds and --max_video_frames > 0")
    if not 0 <= scan.compact_share <= 1 or scan.compact_after_runs < 1:
        raise UsageError("--compact_share must be between 0 and 1, --compact_after_runs >= 1")
    if not 0 <= scan.max_regions <= MAX_REGIONS:
        raise UsageError(f"--max_regions must be between 0 and {MAX_REGIONS}")
    if scan.store_file_rows < 1 or not scan.store_file_seconds > 0:
        raise UsageError("--store_file_rows must be >= 1 and --store_file_seconds > 0")


def read_concurrency(scan: ScanOptions) -> int:
    if scan.read_concurrency:
        return scan.read_concurrency
    remote = scan.inventory or is_remote(scan.media)
    return REMOTE_READ_CONCURRENCY if remote else (os.cpu_count() or 1)


def scan_store_settings(scan: ScanOptions) -> StoreSettings:
    return store_settings(scan, scan.read_attempts, scan.object_timeout_s)


def scan_hash_settings(scan: ScanOptions, stores: StoreSettings) -> HashSettings:
    return HashSettings(
        max_bytes=scan.max_object_bytes,
        max_pixels=scan.max_pixels,
        max_total_pixels=scan.max_total_pixels,
        video=VideoSettings(scan.video_sample_seconds, scan.max_video_seconds, scan.max_video_frames, scan.tmk),
        costs=CostSettings(base_s=scan.hash_cpu_s),
        stores=stores,
        concurrency=read_concurrency(scan),
        max_inflight_bytes=scan.max_inflight_bytes,
        follow_symlinks=scan.follow_symlinks,
        regions=scan.max_regions,
    )


def _check_media(scan: ScanOptions) -> None:
    """A local --media must exist; a bucket must exist and be readable with these credentials."""
    if not is_remote(scan.media):
        if not os.path.exists(scan.media):
            raise UsageError(f"--media {scan.media} does not exist")
        return
    check_bucket(scan_store_settings(scan), "--media", scan.media)


def plan_scan(scan: ScanOptions, now: Optional[datetime] = None) -> ScanPlan:
    """Check the options and load the registry; raises UsageError or RegistryRefused."""
    check_options(scan)
    try:
        inventory = read_manifest(scan.inventory) if scan.inventory else ()
    except InventoryError as e:
        raise UsageError(str(e)) from None
    job = scan.view_as(JobOptions)
    stores = scan_store_settings(scan)
    check_writable(stores, "--output", job.output)
    if job.hashes:
        check_writable(stores, "--hashes", job.hashes)
    snapshot = resolve_snapshot(job.registry)
    registry = CachedRegistry(snapshot, job.max_registry_reject_share).registry
    now = now or datetime.now(timezone.utc)
    run_id = new_run_id(now)
    run_dir = FileSystems.join(job.output, f"run={run_id}")
    hashes_uri = job.hashes or FileSystems.join(job.output, "hashes")
    compact, store = plan_compaction(hashes_uri, CompactionSettings(scan.compact_share, scan.compact_after_runs))
    hash_settings = scan_hash_settings(scan, stores)
    return ScanPlan(
        run_id=run_id,
        started_at=now,
        run_dir=run_dir,
        hashes_uri=hashes_uri,
        snapshot=snapshot,
        registry=registry,
        listing=Listing(scan.media, stores, scan.list_split_depth, scan.list_split_pages, inventory,
                        scan.follow_symlinks),
        hash_settings=hash_settings,
        match_settings=match_settings(job),
        max_reject_share=job.max_registry_reject_share,
        previous=previous_run(hashes_uri, registry, job.max_registry_reject_share, run_dir,
                              match_stored=not scan.rescan_unchanged),
        compact=compact,
        store=store,
        adopted=tuple(adopt(hashes_uri, run_id, hash_settings.fingerprint(), latest_commit(hashes_uri))),
        suppression=suppression_list(job),
    )


def build(p: beam.Pipeline, scan: ScanOptions, plan: ScanPlan) -> None:
    run_dir, hashes_uri, previous = plan.run_dir, plan.hashes_uri, plan.previous
    objects, list_errors, unlistable_prefixes = p | "ListMedia" >> ListMedia(plan.listing)
    state, active = p | "PreviousRun" >> ReadPreviousRun(hashes_uri, previous.commit)
    adoptable = p | "ReadAdopted" >> ReadAdopted(plan.adopted)
    changed, adopted, unchanged, unlisted, standing, withdrawn, deleted = (
        (objects, state, active, unlistable_prefixes, adoptable)
        | "SplitListing" >> SplitListing(scan.rescan_unchanged, previous.entry_gone)
    )
    hashed, hash_errors = changed | "Hash" >> HashMedia(plan.hash_settings)
    hashes = (hashed, adopted) | "HashedOrAdopted" >> beam.Flatten()
    hashed_matches = hashes | "Match" >> MatchMedia(plan.snapshot, plan.matching)
    carried = (unchanged, unlisted) | "Carried" >> beam.Flatten()
    stored, rewritten = carried | "CarryForward" >> CarryForward(
        hashes_uri, plan.run_id, read=previous.new_entries is not None, compact=plan.compact)
    new_entry_matches, rematched = stored | "MatchStored" >> MatchStored(
        previous.new_entries, plan.matching, standing=previous.standing)
    matches, suppressed = (
        (hashed_matches, new_entry_matches) | "AllMatches" >> beam.Flatten()
        | "Suppress" >> SplitSuppressed(plan.suppression)
    )
    errors = (list_errors, unlistable_prefixes, hash_errors) | "AllErrors" >> beam.Flatten()

    written = [
        *((hashed, adopted, carried, rewritten)
          | "WriteHashStore" >> WriteHashStore(hashes_uri, plan.run_id, plan.started_at, plan.compact,
                                               (scan.store_file_rows, scan.store_file_seconds))),
        (standing, matches) | "WriteActive" >> WriteActive(hashes_uri, plan.run_id),
        matches | "WriteMatches" >> WriteMatches(FileSystems.join(run_dir, "matches"), plan.registry),
        errors | "WriteErrors" >> WriteErrors(FileSystems.join(run_dir, "errors"), plan.run_id),
        *((withdrawn, deleted) | "WriteEnded" >> WriteEnded(run_dir, plan.run_id, plan.snapshot.version)),
        p | "WriteRegistryRejects" >> WriteRows(
            FileSystems.join(run_dir, "registry_rejects"), reject_rows(plan.registry.rejects, plan.run_id),
            REGISTRY_REJECT_SCHEMA, always=False,
        ),
        p | "WriteSummary" >> WriteSummary(
            FileSystems.join(run_dir, "summary.json"),
            plan.summary_base(),
            counted={
                "listed_objects": objects,
                "list_errors": list_errors,
                "unlistable_prefixes": unlistable_prefixes,
                "unchanged": unchanged,
                "hashed": hashed,
                "adopted": adopted,
                "failed": (list_errors, hash_errors),
                "matches": matches,
                "suppressed": suppressed,
                "rematched_objects": rematched,
                "new_entry_matches": new_entry_matches,
                "withdrawn_matches": withdrawn,
                "deleted_matches": deleted,
            },
        ),
    ]
    commit = commit_document(plan.run_id, plan.snapshot.version, plan.snapshot.files, plan.compact)
    p | "Commit" >> WriteMarkers([report_marker(run_dir, plan.run_id), commit_marker(hashes_uri, commit)], written)


def sample_flags() -> List[str]:
    print("No arguments: scanning the bundled sample.", file=sys.stderr)
    output = tempfile.mkdtemp(prefix="takedown-sample-")
    return [
        f"--media={os.path.join(SAMPLE, 'media')}",
        f"--registry={os.path.join(SAMPLE, 'registry')}",
        f"--output={output}",
    ]


def announce(scan: ScanOptions, plan: ScanPlan) -> str:
    return (f"scanning {scan.inventory or scan.media} against registry version {plan.snapshot.version} "
            f"({plan.registry.entries} entries); reports: {plan.run_dir}")


JOB = Job(
    name="scan",
    description=__doc__.split("\n\n")[0],
    options=ScanOptions,
    plan=plan_scan,
    build=build,
    announce=announce,
    leftovers=lambda scan, plan: {scan.view_as(JobOptions).output, plan.hashes_uri},
    no_arguments=sample_flags,
)


def main(argv: Optional[List[str]] = None) -> int:
    return launch(JOB, argv)


if __name__ == "__main__":
    sys.exit(main())
