"""The `feedback` command: reviewers' verdicts as the registries take them, written as files and,
with --send, sent with the sync's credentials.

    takedown-scan feedback OUTPUT --to ncmec|stopncii --out DIR [--send] [--api-url URL]
                           [--negative_reason GUID] [--tag TAG ...] [--credentials-file FILE]

Only verdicts on a registry's own entries go to it: ids `ncmec:MEMBER-ID` (as `sync ncmec` writes
them) to NCMEC, `stopncii:HASH` to StopNCII; the others are counted and left out.
NCMEC: DIR/ncmec/MEMBER-ID-FINGERPRINT.xml (the ids percent-encoded), a v2 `feedbackSubmission` per entry and fingerprint
(affirmative for a confirmed match, negative with a reason GUID for a false one: --negative_reason,
or with --send the API's only reason for that fingerprint type), PUT to
/v2/entries/MEMBER/ID/FINGERPRINT/feedback. StopNCII: DIR/stopncii/feedback.json, `SubmitFeedback`
(Blocked for confirmed, NotBlocked for false), POSTed with the fetch key or, when
TAKEDOWN_STOPNCII_KEYS holds a third key, that one. Exit 2 with one line when it cannot be done.
"""
import argparse
import sys
from typing import List, Optional

from pipelines.config import OneLineParser, run_command
from pipelines.credentials import credentials
from transforms.registry.feed import FeedbackError
from transforms.registry.feeds import FEEDS
from transforms.registry.http import FeedError
from transforms.reports.reviews import read_reviews
from transforms.reports.view import ReportError
from transforms.storage import files


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan feedback", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder, with reviews/.")
    p.add_argument("--to", required=True, choices=tuple(FEEDS))
    p.add_argument("--out", required=True, help="The folder the feedback files are written to.")
    p.add_argument("--send", action="store_true", help="Also send them to the registry's API.")
    p.add_argument("--api-url", "--api_url", dest="api_url", help="The API's base URL (default: the production one).")
    p.add_argument("--credentials-file", "--credentials_file", dest="credentials_file")
    for feed in FEEDS.values():
        feed.add_feedback_options(p.add_argument)
    return p


def _say(line: str) -> None:
    print(f"takedown-scan: {line}", file=sys.stderr)


def feedback(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    feed = FEEDS[args.to]
    reviews = read_reviews(args.output)

    def write(relative: str, data: bytes) -> None:  # DIR/FEED/NAME: the feed names its files as data, never paths
        with files.create(files.join(args.out, feed.name, relative)) as f:
            f.write(data)

    count = feed.feedback(args, reviews, write, lambda: credentials(feed.name, args.credentials_file), _say)
    foreign = sum(1 for review in reviews.values() if not feed.owns(review.get("entry_id") or ""))
    _say(f"{count} {feed.name} feedback item(s) written to {args.out}" + (" and sent" if args.send else "")
         + (f"; {foreign} verdict(s) left out: their entry ids are not {feed.id_form}" if foreign else ""))


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: feedback(list(sys.argv[1:] if argv is None else argv)),
                       (ReportError, FeedbackError, FeedError))


if __name__ == "__main__":
    sys.exit(main())
