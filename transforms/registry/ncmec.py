"""NCMEC's Hash Sharing API (v2, XML, HTTP Basic): the entries changed in a time window, page by
page, as feed records (`ncmec:MEMBER-ID`), in windows that shrink when too full.

The traps this walk avoids: entries are not in time order within a window, so the checkpoint
advances only when a whole window has landed; a `next` link is valid only for the exact from/to it
was issued for, so it is followed verbatim and a resumed window keeps its end; a single second
can hold more entries than any window should, so a one-second window is paged through whole, and
the position inside it (window end and next link) can be resumed.

Large fingerprints come as links (`<tmk-pdqf rel="self" href="/v2/entries/ID/fingerprints/TMK_PDQF"/>`):
those of a type this project matches (TMK+PDQF) are fetched, with the same credentials, from
the API's own server only; the others are counted as skipped.

Feedback: a v2 `feedbackSubmission` per entry and fingerprint, in a file named by the ids
percent-encoded (no id makes a path), PUT with --send.
"""
import base64
import dataclasses
import hashlib
import re
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple
from xml.sax.saxutils import escape

from transforms.registry.feed import Batch, Feed, FeedbackError, Record
from transforms.registry.http import FeedError, HttpSettings, HttpStatusError, get, send, under
from transforms.signals import SIGNALS

DEFAULT_URL = "https://report.cybertip.org/hashsharing"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
END_MARGIN_S = 5  # the newest seconds are left to the next sync: entries arrive out of order
MAX_WINDOW_ENTRIES = 100_000
NAME = "ncmec"  # the feed's name: the key of signal types' `feed_names`
LINK = "link:"  # a parsed fingerprint whose value is still to be fetched from this link


def iso(ts: int) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(ts))


def parse_time(text: str) -> int:
    """An API timestamp (ISO 8601, UTC unless it says otherwise) as unix seconds; ValueError if not one."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


@dataclass(frozen=True)
class Page:
    records: List[Record]
    next: str  # a link relative to the base URL, "" on the last page of a window
    estimate: int  # entries in the whole window, as the next link tells
    counts: Counter


_DEFAULT_NAMESPACE = re.compile(rb'\sxmlns="[^"]*"')


def _xml(data: bytes) -> ET.Element:
    """The document with plain tag names. The API declares one default namespace: dropped from the
    bytes before parsing, which costs far less than renaming every element after; a document with
    prefixed namespaces is renamed element by element."""
    try:
        root = ET.fromstring(_DEFAULT_NAMESPACE.sub(b"", data))
    except (LookupError, ValueError) as e:  # an encoding expat does not know or cannot use
        raise ET.ParseError(f"{type(e).__name__}: {e}") from None
    if any("}" in element.tag for element in (root, *root)):
        for element in root.iter():
            if isinstance(element.tag, str) and "}" in element.tag:
                element.tag = element.tag.split("}", 1)[1]
    return root


def _linked(fingerprint: ET.Element, text: str) -> bool:
    """A large fingerprint (tmk-pdqf, ...) sent as a link to fetch rather than as its value."""
    return bool(fingerprint.attrib or len(fingerprint) or text.startswith(("/", "http:", "https:")))


def signal_tags() -> Dict[str, str]:
    """The fingerprint element of each signal type NCMEC names ("tmk-pdqf" for its TMK_PDQF) ->
    the type; other elements keep their own name (lower case, "_" for "-"), which the registry
    rejects as an unknown type."""
    return {signal.feed_names[NAME].lower().replace("_", "-"): signal.name
            for signal in SIGNALS.values() if NAME in signal.feed_names}


def _record(element: ET.Element, counts: Counter, tags: Dict[str, str]) -> Optional[Record]:
    deleted = element.tag.startswith("deleted")
    member_id = entry = stamp = classification = ""
    signals = []
    for child in element:  # one pass: a page holds up to a thousand of these
        tag = child.tag
        if tag == "member":
            member_id = sys.intern((child.get("id") or "").strip())  # few distinct values: one copy
        elif tag == "id":
            entry = (child.text or "").strip()
        elif tag == "timestamp":
            stamp = child.text or ""
        elif tag == "classification":
            classification = sys.intern((child.text or "").strip())
        elif tag == "fingerprints":
            for fingerprint in child:
                kind = fingerprint.tag.lower()
                signal_type = tags.get(kind) or sys.intern(kind.replace("-", "_"))
                text = (fingerprint.text or "").strip()
                if _linked(fingerprint, text):
                    link = fingerprint.get("href") or fingerprint.get("link") or text
                    signal = SIGNALS.get(signal_type)
                    if signal is not None and signal.binary_values and link:
                        signals.append((signal_type, LINK + link))  # fetched by the client
                    else:
                        counts[f"linked_skipped:{signal_type}"] += 1
                elif text:
                    signals.append((signal_type, text))
    try:
        updated_at = parse_time(stamp)
    except ValueError:
        updated_at = None
    if not member_id or not entry or updated_at is None:
        counts["malformed_record"] += 1
        return None
    return Record(f"ncmec:{member_id}-{entry}", updated_at, deleted, tuple(signals),
                  (member_id, classification or None, None, None, "deleted" if deleted else "active"))


def _estimate(next_link: str, on_page: int) -> int:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(next_link).query)
    try:
        return int(query["max"][0]) - int(query["start"][0]) + on_page
    except (KeyError, ValueError, IndexError):
        return on_page + 1


def parse_entries(data: bytes) -> Page:
    """One page of GET /v2/entries; FeedError if it is not the XML the API sends."""
    try:
        root = _xml(data)
    except ET.ParseError as e:
        raise FeedError(f"ncmec: an entries page is not XML ({e})") from None
    if root.tag != "queryResult":
        raise FeedError(f"ncmec: an entries page is <{root.tag[:40]}>, not <queryResult>")
    counts: Counter = Counter()
    records, tags = [], signal_tags()
    for group, kinds in (("images", ("image", "deletedImage")), ("videos", ("video", "deletedVideo"))):
        for element in root.find(group) if root.find(group) is not None else ():
            if element.tag not in kinds:
                counts[f"unknown_element:{element.tag[:40]}"] += 1
                continue
            record = _record(element, counts, tags)
            if record is not None:
                records.append(record)
    next_link = (root.findtext("paging/next") or "").strip()
    estimate = _estimate(next_link, len(records)) if next_link else len(records)
    return Page(records, next_link, estimate, counts)


class NcmecClient:
    def __init__(self, base_url: str, user: str, password: str, settings: HttpSettings):
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/xml"}
        self.settings = settings

    def _get(self, path_and_query: str) -> bytes:
        return get(under(self.base_url, path_and_query, "ncmec"), self._headers, self.settings, "ncmec")

    def status(self) -> str:
        """Who the credentials belong to (member id), checking them before any entry is fetched."""
        data = self._get("/v2/status")
        try:
            member = _xml(data).find("member")
        except ET.ParseError as e:
            raise FeedError(f"ncmec: the status answer is not XML ({e})") from None
        if member is None:
            raise FeedError("ncmec: the status answer names no member")
        return member.get("id") or ""

    def feedback_reasons(self, fingerprint: str) -> Dict[str, str]:
        """guid -> name of the reasons NCMEC accepts for negative feedback on this fingerprint type."""
        data = self._get(f"/v2/feedback/{urllib.parse.quote(fingerprint)}/reasons")
        try:
            root = _xml(data)
        except ET.ParseError as e:
            raise FeedError(f"ncmec: the feedback reasons are not XML ({e})") from None
        return {r.get("guid"): r.get("name") or "" for r in root.iter("reason") if r.get("guid")}

    def send_feedback(self, member: str, entry: str, fingerprint: str, document: bytes) -> None:
        path = "/".join(urllib.parse.quote(p, safe="") for p in (member, entry, fingerprint))
        send("PUT", f"{self.base_url}/v2/entries/{path}/feedback",
             dict(self._headers, **{"Content-Type": "application/xml; charset=utf-8"}), self.settings, "ncmec", document)

    def entries(self, start: int, end: int, next_link: str = "") -> Page:
        if next_link:
            return parse_entries(self._get(next_link))
        query = urllib.parse.urlencode({"from": iso(start), "to": iso(end)})
        return parse_entries(self._get(f"/v2/entries?{query}"))

    def _linked_value(self, signal_type: str, link: str, counts: Counter) -> Optional[str]:
        """The value behind a fingerprint's link (None, counted, when the API has none or the
        link leads to another server, which would be sent the credentials)."""
        if link.startswith(("http:", "https:")):
            if not link.startswith(self.base_url + "/"):
                counts[f"linked_elsewhere:{signal_type}"] += 1
                return None
            link = link[len(self.base_url):]
        try:
            payload = self._get(link)
        except HttpStatusError as e:
            if e.status != 404:
                raise
            counts[f"linked_missing:{signal_type}"] += 1
            return None
        counts[f"linked_fetched:{signal_type}"] += 1
        return SIGNALS[signal_type].from_wire(payload)

    def with_linked(self, records: List[Record], counts: Counter) -> List[Record]:
        """The records with each linked fingerprint's value fetched in its place."""
        for i, record in enumerate(records):
            if any(value.startswith(LINK) for _, value in record.signals):
                signals = []
                for signal_type, value in record.signals:
                    if value.startswith(LINK):
                        value = self._linked_value(signal_type, value[len(LINK):], counts)
                    if value is not None:
                        signals.append((signal_type, value))
                records[i] = dataclasses.replace(record, signals=tuple(signals))
        return records


def _members(records: List[Record], members: FrozenSet[str]) -> List[Record]:
    return [r for r in records if r.metadata[0] in members] if members else records


def fetch(client: NcmecClient, position: Dict, end: int, members: FrozenSet[str] = frozenset(),
          max_window_entries: int = MAX_WINDOW_ENTRIES, log: Callable[[str], None] = lambda _: None) -> Iterator[Batch]:
    """Every entry record from position {"from": ts, "cursor": {"to": ts, "next": link} | None}
    up to end, one Batch per page. Windows shrink when the first page says they are fuller than
    max_window_entries (unless one second long), and grow again while they come back small."""
    start, cursor = position["from"], position.get("cursor")
    duration = max(1, end - start)
    while start < end or cursor:
        if cursor:
            window_end, link, probe = cursor["to"], cursor["next"], False
        else:
            window_end, link, probe = min(end, start + duration), "", True
        fetched = 0
        while True:
            try:
                page = client.entries(start, window_end, link)
            except HttpStatusError as e:
                if not (cursor and link == cursor["next"]) or e.status in (401, 403):
                    raise
                log(f"the saved next link of window {iso(start)}..{iso(window_end)} is no longer "
                    f"valid (HTTP {e.status}); fetching that window again from its start")
                cursor, link, probe = None, "", True
                continue
            # only the members' records have their linked fingerprints fetched
            records = client.with_linked(_members(page.records, members), page.counts)
            fetched += len(page.records)
            if probe and page.next and window_end - start > 1 and page.estimate > max_window_entries:
                shrunk = max(1, min((window_end - start) // 2,
                                    (window_end - start) * max_window_entries // (2 * page.estimate)))
                log(f"window {iso(start)}..{iso(window_end)} holds about {page.estimate} entries; "
                    f"shrinking it to {shrunk} s")
                duration = shrunk
                yield Batch(records, {"from": start, "cursor": None}, page.counts)
                break
            probe = False
            if page.next:
                link = page.next
                yield Batch(records, {"from": start, "cursor": {"to": window_end, "next": link}}, page.counts)
                continue
            yield Batch(records, {"from": window_end, "cursor": None}, page.counts)
            if fetched < max_window_entries // 4:
                duration = min(duration * 2, max(1, end - window_end))
            start = window_end
            break
        cursor = None


def restart(position: Dict) -> Dict:
    """The position without its next link: the window fetched again from its start."""
    return {"from": position["from"], "cursor": None}


def window_end_now() -> int:
    return int(time.time()) - END_MARGIN_S


def member_filter(values: Optional[List[str]]) -> Tuple[str, ...]:
    return tuple(sorted({v.strip() for v in values or () if v.strip()}))


def _since(text: str) -> Dict:
    return {"from": parse_time(text if "T" in text else text + "T00:00:00Z"), "cursor": None}


def _add_options(add) -> None:
    add("--member-id", action="extend", nargs="+", default=[], help="Keep only entries of these members.")
    add("--max-window-entries", type=int, default=MAX_WINDOW_ENTRIES,
        help="Shrink a time window the API says holds more entries than this.")


def _fetch(args, position: Dict, settings: HttpSettings, secret: Tuple[str, ...], log) -> Iterator[Batch]:
    client = NcmecClient(args.api_url, *secret[:2], settings)
    log(f"signed in as member {client.status()}")
    return fetch(client, position, window_end_now(), frozenset(member_filter(args.member_id)),
                 args.max_window_entries, log)


# ---------------------------------------------------------------------------- feedback

FEEDBACK_NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
_LONGEST_NAME = 200  # file systems allow 255 bytes a name


def entry_of(entry_id: str) -> Optional[Tuple[str, str]]:
    """(member id, entry id) of an `ncmec:MEMBER-ID` entry, else None."""
    if not entry_id.startswith(NAME + ":"):
        return None
    member, dash, entry = entry_id[len(NAME) + 1:].partition("-")
    return (member, entry) if dash and member and entry else None


def feedback_file_name(member: str, entry: str, fingerprint: str) -> str:
    """The file of one feedback document: the ids percent-encoded (no "/", NUL or ".." path
    survives), a long one cut and told apart by a digest of the whole."""
    name = urllib.parse.quote(f"{member}-{entry}-{fingerprint}", safe="-_.~")
    if len(name) > _LONGEST_NAME:
        name = f"{name[:_LONGEST_NAME - 17]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name + ".xml"


def feedback_document(verdict: str, reason_guid: Optional[str]) -> bytes:
    """A v2 `feedbackSubmission`: affirmative for a confirmed match, negative with a reason for a false one."""
    if verdict == "confirmed":
        vote = "<affirmative/>"
    else:
        if not reason_guid:
            raise FeedbackError("negative feedback to NCMEC needs a reason: --negative_reason GUID "
                                "(GET /v2/feedback/TYPE/reasons lists them), or --send to ask the API")
        vote = f"<negative><reasonIds><guid>{escape(reason_guid)}</guid></reasonIds></negative>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feedbackSubmission xmlns="{FEEDBACK_NAMESPACE}">'
            f"{vote}</feedbackSubmission>\n").encode()


def votes(reviews: Dict[str, Dict]) -> Dict[Tuple[str, str, str], str]:
    """(member, entry, FINGERPRINT) -> verdict, for every reviewed match of an NCMEC entry; a
    fingerprint confirmed anywhere is confirmed (one takedown is enough to vouch for it)."""
    found: Dict[Tuple[str, str, str], str] = {}
    for review in sorted(reviews.values(), key=lambda r: r["reviewed_at"]):
        entry = entry_of(review.get("entry_id") or "")
        signal = SIGNALS.get(review.get("signal_type") or "")
        kind = signal.feed_names.get(NAME) if signal else None
        if entry and kind:
            key = (*entry, kind)
            if found.get(key) != "confirmed":
                found[key] = review["verdict"]
    return found


def _feedback(args, reviews: Dict[str, Dict], write, secret, say) -> int:
    """One document per entry and fingerprint, written, and with --send PUT to
    /v2/entries/MEMBER/ID/FINGERPRINT/feedback (a negative one with --negative_reason, or else the
    API's only reason for that fingerprint type)."""
    client = NcmecClient(args.api_url or DEFAULT_URL, *secret()[:2], HttpSettings()) if args.send else None
    reasons: Dict[str, Dict] = {}
    documents = []
    for (member, entry, fingerprint), verdict in sorted(votes(reviews).items()):
        reason = args.negative_reason
        if verdict == "false_match" and not reason and client is not None:
            if fingerprint not in reasons:
                reasons[fingerprint] = client.feedback_reasons(fingerprint)
            if len(reasons[fingerprint]) != 1:
                raise FeedbackError(f"NCMEC offers {len(reasons[fingerprint])} reasons for negative {fingerprint} "
                                    f"feedback: choose one with --negative_reason ({reasons[fingerprint]})")
            reason = next(iter(reasons[fingerprint]))
        document = feedback_document(verdict, reason)
        write(feedback_file_name(member, entry, fingerprint), document)
        documents.append((member, entry, fingerprint, document))
    for member, entry, fingerprint, document in documents if client else ():
        client.send_feedback(member, entry, fingerprint, document)
    return len(documents)


FEED = Feed(
    name=NAME,
    default_url=DEFAULT_URL,
    credentials_env="TAKEDOWN_NCMEC_CREDENTIALS",
    credentials_form=("user", "password", ":"),
    credential_values=2,
    since_help="Fetch entries changed since this UTC time (ISO 8601) instead of the checkpoint.",
    since_form="an ISO 8601 UTC time such as 2024-01-31T00:00:00Z",
    parse_since=_since,
    first_position=lambda: {"from": 0, "cursor": None},
    restart=restart,
    overlap=lambda position, seconds: {"from": max(0, position["from"] - seconds), "cursor": None},
    where=lambda position: iso(position["from"]),
    add_options=_add_options,
    settings=lambda args: {"members": list(member_filter(args.member_id))},
    fetch=_fetch,
    id_form=f"{NAME}:MEMBER-ENTRY",
    owns=lambda entry_id: entry_of(entry_id) is not None,
    add_feedback_options=lambda add: add("--negative_reason", help="NCMEC: the reason GUID of negative feedback."),
    feedback=_feedback,
)
