"""The `review` command: record a reviewer's verdict on one match.

    takedown-scan review OUTPUT --match MATCH_ID --verdict confirmed|false_match [--note TEXT] [--reviewer NAME]
                                [--suppress entry|hash [--suppress_distance N] [--suppressions FOLDER]]

The verdict goes to OUTPUT/reviews/ (append-only: who, when, the match); later reports leave the
match out of the queue, and a false match stays out of every later queue. With --suppress, a false
match also goes on the suppression list (transforms/matching/suppression.py) that later scans and
rematches apply: its entry (none of that entry's matches is reported again), or the stored
picture's hash within --suppress_distance (no copy of that picture is reported again, whatever
the entry).
"""
import argparse
import getpass
import sys
from datetime import datetime, timezone
from typing import List, Optional

from pipelines.config import OneLineParser, UsageError, run_command
from transforms.matching.suppression import DEFAULT_DISTANCE, add_to_list, list_folder, suppression_row
from transforms.reports.reviews import VERDICTS, find_match, record_review
from transforms.reports.view import ReportError



def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan review", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder.")
    p.add_argument("--match", required=True, help="The match_id, as the report's queue gives it.")
    p.add_argument("--verdict", required=True, choices=VERDICTS)
    p.add_argument("--note", help="Free text kept with the verdict.")
    p.add_argument("--reviewer", help="Who decided (default: the login name).")
    p.add_argument("--suppress", choices=("entry", "hash"),
                   help="With --verdict false_match: never report this entry, or this picture, again.")
    p.add_argument("--suppress_distance", type=int,
                   help=f"With --suppress hash: copies within this distance are covered too (default {DEFAULT_DISTANCE} "
                        "for PDQ, 0 for exact hashes).")
    p.add_argument("--suppressions", help="The suppression list's folder (default: OUTPUT/suppressions).")
    return p


def review(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    if args.suppress and args.verdict != "false_match":
        raise UsageError("--suppress goes with --verdict false_match only")
    if args.suppress_distance is not None and (args.suppress != "hash" or args.suppress_distance < 0):
        raise UsageError("--suppress_distance goes with --suppress hash, and is 0 or more")
    match = find_match(args.output, args.match)
    try:
        row = suppression_row(match, args.suppress, args.suppress_distance) if args.suppress else None
    except ValueError as e:
        raise UsageError(f"--suppress {args.suppress}: {e}") from None
    now, reviewer = datetime.now(timezone.utc), args.reviewer or getpass.getuser()
    path = record_review(args.output, match, args.verdict, args.note, reviewer, now)
    print(f"takedown-scan: {args.verdict} for match {args.match} ({match['entry_id']} in {match['uri']}): {path}",
          file=sys.stderr)
    if row:
        note = f"false match {args.match}, {reviewer}" + (f": {args.note}" if args.note else "")
        listed = add_to_list(list_folder(args.output, args.suppressions), *row, note, now)
        print(f"takedown-scan: suppressed {args.suppress} of match {args.match}: {listed}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: review(list(sys.argv[1:] if argv is None else argv)), (ReportError,))

if __name__ == "__main__":
    sys.exit(main())
