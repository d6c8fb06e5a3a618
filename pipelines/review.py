"""The `review` command: record a reviewer's verdict on one match.

    takedown-scan review OUTPUT --match MATCH_ID --verdict confirmed|false_match [--note TEXT] [--reviewer NAME]

The verdict goes to OUTPUT/reviews/ (append-only: who, when, the match); later reports leave the
match out of the queue, and a false match stays out of every later queue.
"""
import argparse
import getpass
import sys
from datetime import datetime, timezone
from typing import List, Optional

from pipelines.config import OneLineParser, run_command
from transforms.reports.reviews import VERDICTS, find_match, record_review
from transforms.reports.view import ReportError



def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan review", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder.")
    p.add_argument("--match", required=True, help="The match_id, as the report's queue gives it.")
    p.add_argument("--verdict", required=True, choices=VERDICTS)
    p.add_argument("--note", help="Free text kept with the verdict.")
    p.add_argument("--reviewer", help="Who decided (default: the login name).")
    return p


def review(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    match = find_match(args.output, args.match)
    path = record_review(args.output, match, args.verdict, args.note, args.reviewer or getpass.getuser(),
                         datetime.now(timezone.utc))
    print(f"takedown-scan: {args.verdict} for match {args.match} ({match['entry_id']} in {match['uri']}): {path}",
          file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: review(list(sys.argv[1:] if argv is None else argv)), (ReportError,))

if __name__ == "__main__":
    sys.exit(main())
