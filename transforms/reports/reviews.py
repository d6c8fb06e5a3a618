"""Review verdicts on matches, kept append-only under OUTPUT/reviews/: one small JSON file per
verdict (the match, the verdict, a note, who and when), never rewritten or deleted. A match's
latest verdict is the one that counts; every earlier one stays in the record.
"""
import json
from datetime import datetime
from typing import Dict, List, Optional

from transforms.matching.suppression import list_folder, read_list
from transforms.reports.actions import first_done, read_log
from transforms.reports.view import Report, ReportError, committed_runs, read_report
from transforms.storage import files

VERDICTS = ("confirmed", "false_match")
REVIEWS = "reviews"
_MATCH_KEYS = ("run_id", "uri", "object_version", "entry_id", "signal_type", "registry_hash", "registry_version")


def find_match(output: str, wanted: str) -> Dict:
    """The match row with this match_id, from the newest committed run that holds it."""
    for run in reversed(committed_runs(output)):
        for row in read_report(output, [run]).matches:
            if row["match_id"] == wanted:
                return row
    raise ReportError(f"no committed run of {output} holds a match {wanted!r}")


def record_review(output: str, match: Dict, verdict: str, note: Optional[str], reviewer: str, now: datetime) -> str:
    if verdict not in VERDICTS:
        raise ReportError(f"--verdict must be one of {', '.join(VERDICTS)}")
    review = {"match_id": match["match_id"], "verdict": verdict, "note": note, "reviewer": reviewer,
              "reviewed_at": now.isoformat(), **{k: match.get(k) for k in _MATCH_KEYS}}
    path = files.join(output, REVIEWS, files.stamped_name(now, ".json"))
    with files.create(path) as f:
        f.write(json.dumps(review, sort_keys=True).encode() + b"\n")
    return path


def read_history(output: str) -> List[Dict]:
    """Every review, oldest first (files sort by time): two reviewers' verdicts on one match both."""
    history = []
    for path in files.matching(output, REVIEWS, "*.json"):
        try:
            review = json.loads(files.read(path))
        except ValueError as e:
            raise ReportError(f"review file {path} cannot be read: {type(e).__name__}: {e}") from None
        if not isinstance(review, dict) or not isinstance(review.get("match_id"), str):
            raise ReportError(f"review file {path} names no match_id")
        history.append(review)
    return history


def latest(history: List[Dict]) -> Dict[str, Dict]:
    """match_id -> its latest review, of a history oldest first."""
    return {review["match_id"]: review for review in history}


def read_reviews(output: str) -> Dict[str, Dict]:
    """match_id -> its latest review."""
    return latest(read_history(output))


def judged(report: Report, output: str, suppressions: Optional[str] = None) -> Report:
    """The report with what has been judged since its runs: every verdict (`history`, the latest of
    each match in `reviews`), the suppression list as it is now (OUTPUT/suppressions unless
    `suppressions`) and the first action done on each match (`acted`, from act's log)."""
    report.history = read_history(output)
    report.reviews = latest(report.history)
    report.suppression = read_list(list_folder(output, suppressions))
    report.acted = first_done(read_log(output))
    return report
