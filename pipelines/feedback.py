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
import os
import sys
from typing import List, Optional

from pipelines.config import OneLineParser, run_command
from pipelines.sync import credentials
from transforms.registry import ncmec, stopncii
from transforms.registry.http import FeedError, HttpSettings
from transforms.reports.feedback import (ID_FORMS, FeedbackError, foreign_verdicts, ncmec_document, ncmec_feedback,
                                         ncmec_file_name, stopncii_bytes, stopncii_document, unsendable_to_stopncii)
from transforms.reports.reviews import read_reviews
from transforms.reports.view import ReportError



def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="takedown-scan feedback", description=__doc__.split("\n\n")[0])
    p.add_argument("output", metavar="OUTPUT", help="A scan's --output folder, with reviews/.")
    p.add_argument("--to", required=True, choices=tuple(WRITERS))
    p.add_argument("--out", required=True, help="The folder the feedback files are written to.")
    p.add_argument("--send", action="store_true", help="Also send them to the registry's API.")
    p.add_argument("--api-url", "--api_url", dest="api_url", help="The API's base URL (default: the production one).")
    p.add_argument("--credentials-file", "--credentials_file", dest="credentials_file")
    p.add_argument("--negative_reason", help="NCMEC: the reason GUID of negative feedback.")
    p.add_argument("--tag", action="append", default=[], help="StopNCII: a tag sent with every feedback.")
    return p


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _ncmec(args, reviews) -> int:
    votes = ncmec_feedback(reviews)
    client = None
    if args.send:
        user, password = credentials("ncmec", args.credentials_file)[:2]
        client = ncmec.NcmecClient(args.api_url or ncmec.DEFAULT_URL, user, password, HttpSettings())
    reasons = {}
    documents = []
    for (member, entry, fingerprint), verdict in sorted(votes.items()):
        reason = args.negative_reason
        if verdict == "false_match" and not reason and client is not None:
            if fingerprint not in reasons:
                reasons[fingerprint] = client.feedback_reasons(fingerprint)
            if len(reasons[fingerprint]) != 1:
                raise FeedbackError(f"NCMEC offers {len(reasons[fingerprint])} reasons for negative {fingerprint} "
                                    f"feedback: choose one with --negative_reason ({reasons[fingerprint]})")
            reason = next(iter(reasons[fingerprint]))
        document = ncmec_document(verdict, reason)
        _write(os.path.join(args.out, "ncmec", ncmec_file_name(member, entry, fingerprint)), document)
        documents.append((member, entry, fingerprint, document))
    for member, entry, fingerprint, document in documents if client else ():
        client.send_feedback(member, entry, fingerprint, document)
    return len(documents)


def _stopncii(args, reviews) -> int:
    document = stopncii_document(reviews, args.tag)
    left_out = sum(1 for review in reviews.values() if unsendable_to_stopncii(review))
    if left_out:
        print(f"takedown-scan: {left_out} VideoTMK verdict(s) left out: StopNCII names those hashes by "
              "their value as sent, which is not kept", file=sys.stderr)
    data = stopncii_bytes(document)
    _write(os.path.join(args.out, "stopncii", "feedback.json"), data)
    if args.send and document["count"]:
        keys = credentials("stopncii", args.credentials_file)
        client = stopncii.StopnciiClient(args.api_url or stopncii.DEFAULT_URL, keys[0], keys[1], HttpSettings())
        client.submit_feedback(data, keys[2] if len(keys) > 2 else None)
    return document["count"]


# What each feed takes back, by the feed's name (transforms/registry/feeds.py lists the feeds).
WRITERS = {"ncmec": _ncmec, "stopncii": _stopncii}


def feedback(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    reviews = read_reviews(args.output)
    count = WRITERS[args.to](args, reviews)
    foreign = foreign_verdicts(reviews, args.to)
    print(f"takedown-scan: {count} {args.to} feedback item(s) written to {args.out}"
          + (" and sent" if args.send else "")
          + (f"; {foreign} verdict(s) left out: their entry ids are not {ID_FORMS[args.to]}" if foreign else ""),
          file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: feedback(list(sys.argv[1:] if argv is None else argv)),
                       (ReportError, FeedbackError, FeedError))

if __name__ == "__main__":
    sys.exit(main())
