"""Verdicts turned into what the registries accept: NCMEC's v2 `feedbackSubmission` XML per entry
and fingerprint (affirmative for a confirmed match, negative with a reason for a false one), and
StopNCII's `SubmitFeedback` JSON (`hashFeedbacks`: Blocked for confirmed, NotBlocked for false).
Only matches of entries from that registry count (ids `ncmec:MEMBER-ENTRY`, `stopncii:HASH`, as
`sync` writes them); a match's latest verdict decides. Ids from the feed name files only
percent-encoded, so that no id makes a path.
"""
import hashlib
import json
import urllib.parse
from typing import Dict, List, Optional, Tuple
from xml.sax.saxutils import escape

from transforms.signals import SIGNALS

NCMEC_NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
STOPNCII_VALUES = {"confirmed": "Blocked", "false_match": "NotBlocked"}


class FeedbackError(Exception):
    """No feedback can be written; str() is a one-line reason."""


def ncmec_entry(entry_id: str) -> Optional[Tuple[str, str]]:
    """(member id, entry id) of an `ncmec:MEMBER-ID` entry, else None."""
    if not entry_id.startswith("ncmec:"):
        return None
    member, dash, entry = entry_id[len("ncmec:"):].partition("-")
    return (member, entry) if dash and member and entry else None


ID_FORMS = {"ncmec": "ncmec:MEMBER-ENTRY", "stopncii": "stopncii:HASH"}
_LONGEST_NAME = 200  # file systems allow 255 bytes a name


def ncmec_file_name(member: str, entry: str, fingerprint: str) -> str:
    """The file of one feedback document: the ids percent-encoded (no "/", NUL or ".." path
    survives), a long one cut and told apart by a digest of the whole."""
    name = urllib.parse.quote(f"{member}-{entry}-{fingerprint}", safe="-_.~")
    if len(name) > _LONGEST_NAME:
        name = f"{name[:_LONGEST_NAME - 17]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name + ".xml"


def foreign_verdicts(reviews: Dict[str, Dict], registry: str) -> int:
    """How many verdicts are on entries of another source than `registry` (their ids are not of
    the form ID_FORMS[registry]): feedback to `registry` leaves them out."""
    if registry == "ncmec":
        return sum(1 for r in reviews.values() if ncmec_entry(r.get("entry_id") or "") is None)
    return sum(1 for r in reviews.values() if not (r.get("entry_id") or "").startswith("stopncii:"))


def ncmec_document(verdict: str, reason_guid: Optional[str]) -> bytes:
    if verdict == "confirmed":
        vote = "<affirmative/>"
    else:
        if not reason_guid:
            raise FeedbackError("negative feedback to NCMEC needs a reason: --negative_reason GUID "
                                "(GET /v2/feedback/TYPE/reasons lists them), or --send to ask the API")
        vote = f"<negative><reasonIds><guid>{escape(reason_guid)}</guid></reasonIds></negative>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feedbackSubmission xmlns="{NCMEC_NAMESPACE}">'
            f"{vote}</feedbackSubmission>\n").encode()


def ncmec_feedback(reviews: Dict[str, Dict]) -> Dict[Tuple[str, str, str], str]:
    """(member, entry, FINGERPRINT) -> verdict, for every reviewed match of an NCMEC entry; a
    fingerprint confirmed anywhere is confirmed (one takedown is enough to vouch for it)."""
    votes: Dict[Tuple[str, str, str], str] = {}
    for review in sorted(reviews.values(), key=lambda r: r["reviewed_at"]):
        entry = ncmec_entry(review.get("entry_id") or "")
        signal = SIGNALS.get(review.get("signal_type") or "")
        kind = signal.feed_names.get("ncmec") if signal else None
        if entry and kind:
            key = (*entry, kind)
            if votes.get(key) != "confirmed":
                votes[key] = review["verdict"]
    return votes


def unsendable_to_stopncii(review: Dict) -> bool:
    """A VideoTMK verdict: StopNCII names the hash by its value as sent, which the registry keeps
    only as its bytes (and match rows only as a digest), so it cannot be named back."""
    signal = SIGNALS.get(review.get("signal_type") or "")
    return (review.get("entry_id") or "").startswith("stopncii:") and signal is not None and not signal.shown_whole


def stopncii_document(reviews: Dict[str, Dict], tags: List[str]) -> Dict:
    feedbacks: Dict[str, str] = {}
    for review in sorted(reviews.values(), key=lambda r: r["reviewed_at"]):
        if unsendable_to_stopncii(review):
            continue
        if (review.get("entry_id") or "").startswith("stopncii:") and review.get("registry_hash"):
            value = review["registry_hash"]
            if feedbacks.get(value) != "Blocked":
                feedbacks[value] = STOPNCII_VALUES[review["verdict"]]
    items = [{"hashValue": v, "feedbackValue": f, "tags": list(tags)} for v, f in sorted(feedbacks.items())]
    return {"count": len(items), "hashFeedbacks": items}


def stopncii_bytes(document: Dict) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
