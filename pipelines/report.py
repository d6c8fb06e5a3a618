"""The `report` command: what the takedown and compliance teams read of an output folder.

    takedown-scan report OUTPUT [--run RUN_ID | --since DATE] [--csv FILE] [--html FILE] [--clock_csv FILE]
                                [--max_matches_per_entry N] [--max_match_share S] [--deadline_h H] [--now TIME]

Prints a summary of the chosen committed runs (the latest by default): objects listed, hashed and
failed; matches by source, entry, classification, distance, media type, how found and prefix;
withdrawals; errors by stage and reason; the registry version; the verdicts recorded by `review`;
the entries the flood guard held back; the suppressed matches; and the clock
(transforms/reports/clock.py): time from an entry first seen to its matches found, to their
verdicts and to their first action (`act`'s log), and the late matches: entry seen more than
--deadline_h (48) hours ago, and no verdict yet or confirmed without an action. `--csv` writes the
review queue: the matches not yet reviewed, one row each with a stable `match_id`; `--clock_csv`
every match's times, the hours between them and whether it is late; `--html` the review page
(transforms/reports/page.py). Not a Beam pipeline: it reads a night's reports, which fit in one
process.
"""
import argparse
import csv
import os
import sys
from datetime import datetime, timezone
from typing import List, Optional

from pipelines.config import OneLineParser, UsageError, clock_options, run_command
from transforms.matching.suppression import SuppressionError
from transforms.reports.clock import CLOCK_COLUMNS, DEADLINE_H, clock_lines, clock_rows
from transforms.reports.page import render_page
from transforms.reports.reviews import judged
from transforms.reports.view import (MAX_MATCH_SHARE, MAX_MATCHES_PER_ENTRY, ReportError, choose_runs,
                                     flood_guard, queue, queue_columns, read_report, render_text, spreadsheet_cell)



def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan report", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder (local, gs://, s3://).")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--run", help="Report this run (RUN_ID).")
    which.add_argument("--since", help="Report every committed run from this UTC date on (YYYY-MM-DD).")
    p.add_argument("--csv", help="Write the review queue to this CSV file.")
    p.add_argument("--html", help="Write the review page (one self-contained HTML file) here.")
    p.add_argument("--clock_csv", help="Write the clock of every match (times, hours between them, late) to this CSV file.")
    p.add_argument("--max_matches_per_entry", type=int, default=MAX_MATCHES_PER_ENTRY,
                   help="Hold back an entry matching more objects than this in one run.")
    p.add_argument("--max_match_share", type=float, default=MAX_MATCH_SHARE,
                   help="Or more than this share of the objects a run listed (from 1,000 objects on).")
    p.add_argument("--deadline_h", type=float, default=DEADLINE_H,
                   help=f"Flag matches still without a verdict whose entry was seen longer ago (default {DEADLINE_H:g}).")
    p.add_argument("--now", help="The time the deadline is measured at, ISO 8601 UTC (default: now).")
    p.add_argument("--suppressions", help="The suppression list's folder (default: OUTPUT/suppressions).")
    return p


def _file(path: str, option: str):
    """A text file to write, its folder made; a UsageError when the path names a folder."""
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a folder: name the file to write")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return open(path, "w", newline="", encoding="utf-8")


def report(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    if args.max_matches_per_entry < 1 or not 0 < args.max_match_share <= 1:
        raise UsageError("--max_matches_per_entry must be 1 or more, --max_match_share in (0, 1]")
    now = clock_options(args.deadline_h, args.now) or datetime.now(timezone.utc)
    chosen = read_report(args.output, choose_runs(args.output, args.run, args.since))
    judged(chosen, args.output, args.suppressions)
    flood_guard(chosen, args.max_matches_per_entry, args.max_match_share)
    if args.csv:
        with _file(args.csv, "--csv") as f:
            writer = csv.DictWriter(f, fieldnames=queue_columns(chosen))
            writer.writeheader()
            writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in queue(chosen))
    if args.clock_csv:
        with _file(args.clock_csv, "--clock_csv") as f:
            writer = csv.DictWriter(f, fieldnames=CLOCK_COLUMNS)
            writer.writeheader()
            writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in clock_rows(chosen, now, args.deadline_h))
    if args.html:
        with _file(args.html, "--html") as f:
            f.write(render_page(chosen))
    sys.stdout.write(render_text(chosen) + "\n".join(clock_lines(chosen, now, args.deadline_h)) + "\n")


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: report(list(sys.argv[1:] if argv is None else argv)), (ReportError, SuppressionError))

if __name__ == "__main__":
    sys.exit(main())
