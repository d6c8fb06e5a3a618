"""The `serve` command: the review desk (transforms/reports/desk.py) of an output folder.

    takedown-scan serve OUTPUT [--port 8765] [--host 127.0.0.1] [--since DATE] [--deadline_h 48]
                               [--suppressions FOLDER] [--now TIME]

Serves, on 127.0.0.1 unless --host says otherwise, the queue of the runs since --since (default:
the last 30 days) with the clock of each match, and buttons that record verdicts as `review`
does. Prints the address with its token on stdout: every request needs the token (set
TAKEDOWN_DESK_TOKEN to choose it, else a new random one each start). Runs until interrupted.
"""
import argparse
import os
import secrets
import sys
from datetime import datetime, timezone
from typing import List, Optional

from pipelines.config import OneLineParser, UsageError, clock_options, run_command
from transforms.matching.suppression import SuppressionError, list_folder, read_list
from transforms.reports.clock import DEADLINE_H
from transforms.reports.desk import DeskSettings, make_desk_server
from transforms.reports.view import RECENT_DAYS, ReportError, choose_runs, recent_since

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan serve", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder (local, gs://, s3://).")
    p.add_argument("--port", type=int, default=8765, help="The port (0: any free one; the address printed says which).")
    p.add_argument("--host", default="127.0.0.1",
                   help="The address to listen on (default 127.0.0.1: this machine only).")
    p.add_argument("--since", help=f"The runs from this UTC date on (YYYY-MM-DD; default: the last {RECENT_DAYS} days).")
    p.add_argument("--deadline_h", type=float, default=DEADLINE_H,
                   help=f"Flag matches whose entry was seen longer ago, still without a verdict (default {DEADLINE_H:g}).")
    p.add_argument("--suppressions", help="The suppression list's folder (default: OUTPUT/suppressions).")
    p.add_argument("--now", help="A fixed time to measure the deadline at, ISO 8601 UTC (an audit; default: the clock).")
    return p


def settings_of(args: argparse.Namespace, token: str) -> DeskSettings:
    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    fixed = clock_options(args.deadline_h, args.now)
    since = recent_since(args.since)
    choose_runs(args.output, since=since)  # refused now, in one line, rather than on the page
    folder = list_folder(args.output, args.suppressions)
    read_list(folder)
    clock = (lambda: fixed) if fixed else (lambda: datetime.now(timezone.utc))
    return DeskSettings(args.output, token, folder, since, args.deadline_h, clock)


def serve(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    token = os.environ.get("TAKEDOWN_DESK_TOKEN") or secrets.token_urlsafe(24)
    if len(token) < 16:
        raise UsageError("TAKEDOWN_DESK_TOKEN must be 16 characters or more")
    settings = settings_of(args, token)
    if args.host not in LOOPBACK:
        print(f"takedown-scan: the desk listens on {args.host}, not this machine only: anyone who can reach it "
              "and has the token can record verdicts", file=sys.stderr)
    server = make_desk_server(settings, args.host, args.port)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"takedown-scan: review desk of {args.output} at http://{shown}:{server.server_port}/?token={token} "
          "(Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: serve(list(sys.argv[1:] if argv is None else argv)), (ReportError, SuppressionError))


if __name__ == "__main__":
    sys.exit(main())
