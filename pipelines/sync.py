"""The `sync` job: fetch what changed in a registry feed since the root's checkpoint and write a
new complete version ROOT/VERSION/ that the scan's `--registry ROOT` picks up.

    takedown-scan sync ncmec    --registry ROOT [--api-url URL] [--member-id ID ...] [--since ISO]
    takedown-scan sync stopncii --registry ROOT [--api-url URL] [--since UNIX_TS]

Credentials: NCMEC's `user:password` from TAKEDOWN_NCMEC_CREDENTIALS, StopNCII's
`fetch_function_key,subscription_key` from TAKEDOWN_STOPNCII_KEYS, or either from
`--credentials-file FILE`; they never appear in logs, errors or the snapshot. Exit 0 when the
version was written (its summary JSON on stdout), 2 with one line when it could not be; then the
root keeps its last good version, and a sync that was cut short resumes from its journal.

Not a Beam pipeline: a feed is one paged conversation with one server, which no runner could
spread over workers; the scan that follows is the Beam job.
"""
import argparse
import gc
import json
import logging
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Dict, List, Optional

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import OneLineParser, UsageError, run_command
from pipelines.credentials import credentials
from pipelines.launch import show_progress
from transforms.registry.feeds import FEEDS
from transforms.registry.http import FeedError, HttpSettings, safe_url
from transforms.registry.journal import FLUSH_RECORDS, Journal
from transforms.registry.snapshots import RegistryRefused
from transforms.registry.merge import BUCKET_ROWS, merge_source
from transforms.registry.versions import QUARANTINE, SyncRefused, base_version, prune, write_version

PROGRESS_EVERY_S = 10.0
OVERLAP_S = 3600
CURSOR_LIFETIME_S = 12 * 3600  # an older next link or page token is not trusted: its window starts again
_log = logging.getLogger("takedown_scan")



def _add(parser, *names, **kwargs) -> None:
    """An option under its README name (--api-url) and the underscore form the other jobs use."""
    extra = tuple("--" + n[2:].replace("-", "_") for n in names if "-" in n[2:])
    parser.add_argument(*names, *extra, **kwargs)


def parser() -> argparse.ArgumentParser:
    top = OneLineParser(prog="takedown-scan sync", description=__doc__.split("\n\n")[0])
    sources = top.add_subparsers(dest="source", required=True, parser_class=OneLineParser, metavar="|".join(FEEDS))
    for feed in FEEDS.values():
        sub = sources.add_parser(feed.name, help=f"sync from {feed.name}", description=f"Sync the {feed.name} feed into ROOT.")
        _add(sub, "--registry", required=True, help="The registry root: ROOT/VERSION/ folders (local, gs://, s3://).")
        _add(sub, "--api-url", default=feed.default_url, help=f"The API's base URL (default {feed.default_url}).")
        _add(sub, "--credentials-file", help=f"A file holding the credentials instead of ${feed.credentials_env}.")
        _add(sub, "--since", help=feed.since_help)
        _add(sub, "--keep", type=int, default=0, help="Delete all but the newest N versions of the root (0: keep all).")
        _add(sub, "--retries", type=int, default=HttpSettings.retries, help="Tries again after 429, 5xx or a lost connection.")
        _add(sub, "--retry-wait-s", type=float, default=HttpSettings.first_wait_s, help="First wait before a retry; doubles each time.")
        _add(sub, "--journal-every", type=int, default=FLUSH_RECORDS, help="Records fetched between two saves of the progress.")
        _add(sub, "--overlap-s", type=int, default=OVERLAP_S,
             help=f"Fetch again this many seconds before the checkpoint (default {OVERLAP_S}): entries a "
                  "feed makes visible late under an older time are not missed.")
        _add(sub, "--merge-rows", type=int, default=BUCKET_ROWS,
             help=f"Records merged in memory at once (default {BUCKET_ROWS:,}); more are split by entry "
                  "on local disk first, so that a first sync of millions of entries stays in bounded memory.")
        sub.add_argument("--s3_endpoint_url", help="An S3-compatible store's endpoint for an s3:// root (or AWS_ENDPOINT_URL).")
        feed.add_options(lambda *names, **kwargs: _add(sub, *names, **kwargs))
    return top


def _since(args) -> Optional[Dict]:
    if args.since is None:
        return None
    feed = FEEDS[args.source]
    try:
        return feed.parse_since(args.since)
    except ValueError:
        raise UsageError(f"--since {args.since!r} is not {feed.since_form}") from None


def sync(args) -> Dict:
    """Fetch and write one version; returns its summary. Raises FeedError, SyncRefused, UsageError."""
    secret = credentials(args.source, args.credentials_file)
    if args.keep < 0 or args.retries < 0 or args.overlap_s < 0 or args.journal_every < 1 or args.merge_rows < 1:
        raise UsageError("--keep, --retries and --overlap-s must be 0 or more, --journal-every and --merge-rows 1 or more")
    FileSystems.set_options(PipelineOptions([f"--s3_endpoint_url={args.s3_endpoint_url}"] if args.s3_endpoint_url else []))
    base = base_version(args.registry)
    previous = base.source(args.source)
    # Kept in the manifest and the journal: the URL without a user part or query, which may hold secrets.
    feed = FEEDS[args.source]
    settings = {"source": args.source, "api_url": safe_url(args.api_url).rstrip("/"), **feed.settings(args)}
    keep_previous = previous.get("settings", settings) == settings
    if not keep_previous:
        _log.info("%s: the settings differ from those of version %s (%s); fetching everything again",
                  args.source, base.version, previous.get("settings"))
    journal = Journal(args.registry, args.source, dict(settings, since=args.since), args.journal_every)
    resumed = journal.resume(base.version)
    if resumed:
        position, age = resumed
        if age > CURSOR_LIFETIME_S:
            position = feed.restart(position)
        _log.info("%s: resuming an unfinished sync at %s with %d records fetched", args.source, feed.where(position),
                  journal.records)
    else:  # from the checkpoint less the overlap: entries made visible late under an older time
        checkpoint = keep_previous and previous.get("checkpoint")
        position = _since(args) or (checkpoint and feed.overlap(checkpoint, args.overlap_s)) or feed.first_position()
    http = HttpSettings(retries=args.retries, first_wait_s=args.retry_wait_s)
    started = bool(resumed)
    shown = time.monotonic()
    # What is loaded by now (Beam's modules above all) lives to the end and holds no garbage: out
    # of the collector's way, or every full collection walks it again (that doubled a sync's CPU).
    gc.freeze()
    log = lambda message: _log.info("%s: %s", args.source, message)  # noqa: E731
    for batch in feed.fetch(args, position, http, secret, log):
        if not started:  # the feed has answered: the credentials are good, the journal may begin
            journal.start(base.version, position)
            started = True
        journal.add(batch.records, batch.position, batch.counts)
        position = batch.position
        if time.monotonic() - shown >= PROGRESS_EVERY_S:
            _log.info("%s: %d records fetched; at %s", args.source, journal.records, feed.where(position))
            shown = time.monotonic()
    journal.flush()
    own = {name: FileSystems.join(base.folder, *name.split("/")) if base.folder and keep_previous else None
           for name in (f"{args.source}.parquet", f"{QUARANTINE}/{args.source}.parquet")}
    with tempfile.TemporaryDirectory(prefix="takedown-sync-") as work:
        merged = merge_source(tuple(own.values()), args.source, journal.pages, journal.records, work, args.merge_rows)
        now = datetime.now(timezone.utc)
        facts = {
            "checkpoint": position,
            "settings": settings,
            "synced_at": now.isoformat(),
            "rows": merged.rows,
            "entries": merged.entries,
            "quarantined_rows": merged.quarantined_rows,
            "records_fetched": journal.records,
            "entries_changed": merged.changed - merged.removed,
            "entries_removed": merged.removed,
            "merge_buckets": merged.buckets,
            "skipped": dict(sorted(journal.counts.items())),
        }
        folder = write_version(args.registry, base, args.source,
                               dict(zip(own, (merged.table_path, merged.quarantine_path))), facts, now)
    journal.clear()
    pruned = prune(args.registry, args.keep) if args.keep else []
    return {"source": args.source, "version": folder, "previous_version": base.version,
            "pruned": len(pruned), **{k: v for k, v in facts.items() if k != "settings"}}


def _sync_and_print(argv: List[str]) -> None:
    summary = sync(parser().parse_args(argv))
    _log.info("%s: wrote version %s (%d entries, %d rows)", summary["source"], summary["version"],
              summary["entries"], summary["rows"])
    print(json.dumps(summary, indent=2, sort_keys=True))


def main(argv: Optional[List[str]] = None) -> int:
    show_progress()
    return run_command(lambda: _sync_and_print(list(sys.argv[1:] if argv is None else argv)),
                       (FeedError, SyncRefused, RegistryRefused))


if __name__ == "__main__":
    sys.exit(main())
