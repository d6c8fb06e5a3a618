"""StopNCII's hash API (v1, JSON, function and subscription keys): FetchHashes from a timestamp,
page by page, as feed records (`stopncii:HASHVALUE`).

A newer record replaces the older one for the same hash; a Withdrawn or Deleted hash leaves the
registry. Signal types and statuses this code does not know are counted, never fatal: an unknown
type is kept under its own name (the scan skips it), an unknown status keeps the hash. A VideoTMK
value (TMK+PDQF, sent as base64 or hex) is kept as hex; its entry id names the value as sent.

Feedback: one `SubmitFeedback` document (`hashFeedbacks`: Blocked for a confirmed match,
NotBlocked for a false one), POSTed with --send.
"""
import hashlib
import json
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from transforms.registry.feed import Batch, Feed, Record
from transforms.registry.http import FeedError, HttpSettings, HttpStatusError, get, send
from transforms.signals import SIGNALS

DEFAULT_URL = "https://api.stopncii.org/v1"
DEFAULT_START = 10  # the earliest startTimestamp the API is known to be asked for
PAGE_SIZE = 1000
NAME = "stopncii"  # the feed's name: the key of signal types' `feed_names`
UNMATCHED_TYPES = ("Text", "URL", "Unknown")  # StopNCII types that no signal type here matches
KEPT = {"Received", "Active"}
REMOVED = {"Withdrawn", "Deleted"}
# Timestamps are unix seconds held as int64 (the journal, the checkpoints): larger ones are malformed.
MAX_TIMESTAMP = (1 << 63) - 1
MAX_ID_VALUE = 128  # longer hash values (VideoTMK) are named by their sha256 in entry ids


@dataclass(frozen=True)
class Page:
    records: List[Record]
    next_token: str
    has_more: bool
    next_set_timestamp: Optional[int]
    counts: Counter


def entry_id(hash_value: str) -> str:
    if len(hash_value) <= MAX_ID_VALUE:
        return f"stopncii:{hash_value}"
    return f"stopncii:sha256:{hashlib.sha256(hash_value.encode()).hexdigest()}"


def _joined(value) -> Optional[str]:
    if isinstance(value, dict):
        value = sorted(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or None
    return str(value) if value not in (None, "") else None


def _timestamp(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIMESTAMP


def _signal_type(kind: str, counts: Counter) -> str:
    """The signal type StopNCII calls `kind`; another type keeps its name (the registry rejects it)."""
    for signal in SIGNALS.values():
        if signal.feed_names.get(NAME) == kind:
            return signal.name
    if kind not in UNMATCHED_TYPES:
        counts[f"unknown_signal_type:{kind[:40]}"] += 1
    return kind.lower()[:40]


def _record(raw, counts: Counter) -> Optional[Record]:
    if not isinstance(raw, dict):
        counts["malformed_record"] += 1
        return None
    value, kind, status = raw.get("hashValue"), raw.get("signalType"), raw.get("hashStatus")
    updated_at = raw.get("lastModtimestamp")
    if not isinstance(value, str) or not value.strip() or not isinstance(kind, str) or not isinstance(status, str) \
            or not _timestamp(updated_at):
        counts["malformed_record"] += 1
        return None
    value = value.strip()
    signal_type = _signal_type(kind, counts)
    if status not in KEPT | REMOVED:
        counts[f"unknown_status:{status[:40]}"] += 1
    removed = status in REMOVED
    metadata = (None, None, _joined(raw.get("caseNumbers")), _joined(raw.get("hashRegions")), status)
    signal = SIGNALS.get(signal_type)
    kept = signal.from_wire(value.encode()) if signal is not None and signal.binary_values else value
    return Record(entry_id(value), updated_at, removed, ((signal_type, kept),), metadata)


def parse_page(data: bytes) -> Page:
    """One FetchHashes answer; FeedError if it is not the JSON the API sends."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, or an integer of too many digits
        raise FeedError(f"stopncii: a FetchHashes answer is not JSON ({str(e)[:200]})") from None
    except RecursionError:
        raise FeedError("stopncii: a FetchHashes answer is nested too deep to be the API's JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("hashRecords", []), list):
        raise FeedError("stopncii: a FetchHashes answer has no list of hashRecords")
    counts: Counter = Counter()
    records = [r for r in (_record(raw, counts) for raw in document.get("hashRecords", [])) if r]
    next_set = document.get("nextSetTimestamp")
    if next_set is not None and not _timestamp(next_set):
        raise FeedError(f"stopncii: nextSetTimestamp is {str(next_set)[:40]!r}, not a unix time")
    return Page(records, str(document.get("nextPageToken") or ""), bool(document.get("hasMoreRecords")),
                next_set, counts)


class StopnciiClient:
    def __init__(self, base_url: str, fetch_key: str, subscription_key: str, settings: HttpSettings):
        self.base_url = base_url.rstrip("/")
        self._headers = {"x-functions-key": fetch_key, "Ocp-Apim-Subscription-Key": subscription_key,
                         "Accept": "application/json"}
        self.settings = settings

    def submit_feedback(self, document: bytes, feedback_key: Optional[str] = None) -> None:
        """POST SubmitFeedback (its own function key where the API gave one, else the fetch key)."""
        headers = dict(self._headers, **{"Content-Type": "application/json"})
        if feedback_key:
            headers["x-functions-key"] = feedback_key
        send("POST", f"{self.base_url}/SubmitFeedback", headers, self.settings, "stopncii", document)

    def fetch_hashes(self, start: int, page_size: int, token: str = "") -> Page:
        query = {"startTimestamp": start, "pageSize": page_size}
        if token:
            query["nextPageToken"] = token
        url = f"{self.base_url}/FetchHashes?{urllib.parse.urlencode(query)}"
        return parse_page(get(url, self._headers, self.settings, "stopncii"))


def restart(position: Dict) -> Dict:
    """The position without its page token: the listing fetched again from its startTimestamp."""
    return {"start": position["start"], "token": None}


def fetch(client: StopnciiClient, position: Dict, page_size: int = PAGE_SIZE,
          log=lambda _: None) -> Iterator[Batch]:
    """Every hash record from position {"start": ts, "token": str | None}, one Batch per page,
    until the API has no more; the last position starts at its nextSetTimestamp."""
    start, token = position["start"], position.get("token") or ""
    seen, newest = set(), start
    while True:
        try:
            page = client.fetch_hashes(start, page_size, token)
        except HttpStatusError as e:
            if not token or e.status in (401, 403):
                raise
            log(f"the saved page token is no longer valid (HTTP {e.status}); fetching from {start} again")
            token = ""
            continue
        newest = max([newest] + [r.updated_at for r in page.records])
        if page.has_more:
            if not page.next_token or page.next_token in seen:
                raise FeedError("stopncii: FetchHashes says it has more records but gives no new nextPageToken")
            seen.add(page.next_token)
            token = page.next_token
            yield Batch(page.records, {"start": start, "token": token}, page.counts)
            continue
        following = page.next_set_timestamp if page.next_set_timestamp is not None else newest
        yield Batch(page.records, {"start": max(start, following), "token": None}, page.counts)
        return


def _fetch(args, position: Dict, settings: HttpSettings, secret: Tuple[str, ...], log) -> Iterator[Batch]:
    return fetch(StopnciiClient(args.api_url, *secret[:2], settings), position, args.page_size, log)


# ---------------------------------------------------------------------------- feedback

FEEDBACK_VALUES = {"confirmed": "Blocked", "false_match": "NotBlocked"}


def _owns(entry_id: str) -> bool:
    return entry_id.startswith(NAME + ":")


def unsendable(review: Dict) -> bool:
    """A VideoTMK verdict: StopNCII names the hash by its value as sent, which the registry keeps
    only as its bytes (and match rows only as a digest), so it cannot be named back."""
    signal = SIGNALS.get(review.get("signal_type") or "")
    return _owns(review.get("entry_id") or "") and signal is not None and not signal.shown_whole


def feedback_document(reviews: Dict[str, Dict], tags: List[str]) -> Dict:
    """The latest verdict of each of its hashes (Blocked once confirmed anywhere)."""
    feedbacks: Dict[str, str] = {}
    for review in sorted(reviews.values(), key=lambda r: r["reviewed_at"]):
        if unsendable(review):
            continue
        if _owns(review.get("entry_id") or "") and review.get("registry_hash"):
            value = review["registry_hash"]
            if feedbacks.get(value) != "Blocked":
                feedbacks[value] = FEEDBACK_VALUES[review["verdict"]]
    items = [{"hashValue": v, "feedbackValue": f, "tags": list(tags)} for v, f in sorted(feedbacks.items())]
    return {"count": len(items), "hashFeedbacks": items}


def _feedback(args, reviews: Dict[str, Dict], write, secret, say) -> int:
    """feedback.json written, and with --send POSTed with the fetch key, or a third key when given."""
    document = feedback_document(reviews, args.tag)
    left_out = sum(1 for review in reviews.values() if unsendable(review))
    if left_out:
        say(f"{left_out} VideoTMK verdict(s) left out: StopNCII names those hashes by their value as sent, "
            "which is not kept")
    data = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
    write("feedback.json", data)
    if args.send and document["count"]:
        keys = secret()
        client = StopnciiClient(args.api_url or DEFAULT_URL, keys[0], keys[1], HttpSettings())
        client.submit_feedback(data, keys[2] if len(keys) > 2 else None)
    return document["count"]


FEED = Feed(
    name=NAME,
    default_url=DEFAULT_URL,
    credentials_env="TAKEDOWN_STOPNCII_KEYS",
    credentials_form=("fetch_function_key", "subscription_key", ","),
    credential_values=3,  # a third: SubmitFeedback's own function key
    since_help="Fetch hashes changed since this unix time instead of the checkpoint.",
    since_form="a unix time in seconds",
    parse_since=lambda text: {"start": int(text), "token": None},
    first_position=lambda: {"start": DEFAULT_START, "token": None},
    restart=restart,
    overlap=lambda position, seconds: {"start": max(DEFAULT_START, position["start"] - seconds), "token": None},
    where=lambda position: f"startTimestamp {position['start']}",
    add_options=lambda add: add("--page-size", type=int, default=PAGE_SIZE, help="Hashes asked for per page."),
    settings=lambda args: {"members": []},
    fetch=_fetch,
    id_form=f"{NAME}:HASH",
    owns=_owns,
    add_feedback_options=lambda add: add("--tag", action="append", default=[],
                                         help="StopNCII: a tag sent with every feedback."),
    feedback=_feedback,
)
