"""The `act` command: turn judged matches into actions, per a rules file.

    takedown-scan act OUTPUT --rules FILE [--dry_run] [--since DATE] [--actor NAME] [--s3_endpoint_url URL]

For each match of the runs since --since (default: the last 30 days) with a verdict, each action
of each rule that applies to its latest verdict and its entry's source (transforms/reports/
actions.py): tag the object, copy or move it below a quarantine prefix, or POST it to a webhook.
Every action tried is logged in OUTPUT/actions/ (append-only); an action already done, or moot
because the object was deleted or replaced, is not done again. --dry_run lists what would be done
and changes nothing. Exit 0 when every action due was done (or moot), 1 when some failed (they are
in the log and tried again next time), 2 with one line when the command cannot run.
"""
import argparse
import getpass
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from typing import List, Optional

from pipelines.config import OneLineParser, UsageError, run_command
from transforms.reports.actions import RulesError, due, finished, log_row, parse_rules, read_log, write_log
from transforms.reports.reviews import read_reviews
from transforms.reports.view import RECENT_DAYS, ReportError, choose_runs, read_report, recent_since

LOG_EVERY = 100  # actions per log file while acting: a run killed half-way loses at most these


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan act", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder, with reviews/.")
    p.add_argument("--rules", required=True, help="The rules file (YAML; see transforms/reports/actions.py).")
    p.add_argument("--dry_run", action="store_true", help="List the actions due; do and log nothing.")
    p.add_argument("--since", help=f"The runs from this UTC date on (YYYY-MM-DD; default: the last {RECENT_DAYS} days).")
    p.add_argument("--actor", help="Who acts, in the log (default: the login name).")
    p.add_argument("--s3_endpoint_url", help="An S3-compatible endpoint (default: AWS_ENDPOINT_URL or AWS).")
    return p


def load_rules(path: str):
    import yaml  # noqa: PLC0415 -- a few milliseconds, for this command only

    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--rules {path} cannot be read: {type(e).__name__}") from None
    except yaml.YAMLError as e:
        raise UsageError(f"--rules {path} is not YAML: {str(e).splitlines()[0]}") from None
    return parse_rules(document, path)


def act(argv: List[str]) -> int:
    args = parser().parse_args(argv)
    rules = load_rules(args.rules)
    report = read_report(args.output, choose_runs(args.output, since=recent_since(args.since)))
    items = due(report.matches, read_reviews(args.output), rules, finished(read_log(args.output)))
    if args.dry_run:
        for item in items:
            print(f"would {item.action.kind} {item.match['uri']} -> {item.action.shown} "
                  f"(rule {item.rule.name}, {item.review['verdict']} match {item.match['match_id']})")
        print(f"takedown-scan: {len(items):,} action(s) due; nothing done (--dry_run)", file=sys.stderr)
        return 0
    from transforms.reports.executors import Executors  # noqa: PLC0415 -- the store clients' imports
    from transforms.storage.stores import StoreSettings  # noqa: PLC0415

    executors, actor = Executors(StoreSettings(s3_endpoint_url=args.s3_endpoint_url)), args.actor or getpass.getuser()
    counts, rows, started = Counter(), [], time.monotonic()
    for n, item in enumerate(items, 1):
        status, detail = executors.run(item)
        counts[status] += 1
        rows.append(log_row(item, status, detail, datetime.now(timezone.utc), actor))
        if status == "failed":
            print(f"takedown-scan: {item.action.kind} of {item.match['uri']} failed: {detail}", file=sys.stderr)
        if len(rows) == LOG_EVERY or n == len(items):
            write_log(args.output, rows, datetime.now(timezone.utc))
            rows = []
            print(f"takedown-scan: {n:,} of {len(items):,} action(s) in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(f"takedown-scan: acted: {counts['done']:,} done, {counts['gone']:,} gone (deleted or replaced), "
          f"{counts['failed']:,} failed, of {len(items):,} due", file=sys.stderr)
    return 1 if counts["failed"] else 0


def main(argv: Optional[List[str]] = None) -> int:
    status = []
    code = run_command(lambda: status.append(act(list(sys.argv[1:] if argv is None else argv))),
                       (ReportError, RulesError))
    return code or (status[0] if status else 0)


if __name__ == "__main__":
    sys.exit(main())
