"""Local HTTP servers on 127.0.0.1 that speak the registries' protocols as python-threatexchange's
clients and tests document them: NCMEC's Hash Sharing API v2 (XML, HTTP Basic, time windows and
next links, feedback PUTs) and StopNCII's v1 FetchHashes and SubmitFeedback (JSON, two key
headers, page tokens).

Both keep a log of the requests they served, answer chosen requests with a fault status (503,
429), and can hold one request open and then drop it (for a client to be killed mid-way). The NCMEC server
returns a window's entries newest first (not in time order), and a next link answers only for
the exact from/to it was issued for: another window gets an empty page, as the real API did when
a client changed the window end mid-way.
"""
import base64
import bisect
import calendar
import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(ts: int) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(ts))


def _parse(text: str) -> int:
    return calendar.timegm(time.strptime(text.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S"))


class FeedServer:
    """What both servers share: the thread, the request log, faults and a held request."""

    def __init__(self):
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        self.received: List[Tuple[str, str, bytes]] = []  # accepted PUTs and POSTs: (method, path, body)
        self.faults: Dict[int, int] = {}  # number of the request (1-based) -> HTTP status to answer
        self.hold_if = None  # (path, query) -> bool: the first request it accepts is held until released
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server._serve(self)

            def do_PUT(self):
                server._receive(self)

            do_POST = do_PUT

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self._http.shutdown()
        self._http.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((parts.path, query))
            number = len(self.requests)
        if self.hold_if is not None and self.hold_if(parts.path, query):
            self.hold_if = None
            self.held.set()
            self.release.wait(120)
            return
        fault = self.faults.get(number)
        if fault:
            return self._send(handler, fault, b"try later", "text/plain", {"Retry-After": "0"} if fault == 429 else {})
        if not self.authorized(handler.headers):
            return self._send(handler, 401, b"unauthorized", "text/plain")
        status, body, kind = self.answer(parts.path, query)
        self._send(handler, status, body, kind)

    def _receive(self, handler: BaseHTTPRequestHandler) -> None:
        """A PUT or POST (feedback): logged with its body in `received` when accepted."""
        path = urllib.parse.urlsplit(handler.path).path
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests.append((path, {"method": handler.command}))
            number = len(self.requests)
        if self.faults.get(number):
            return self._send(handler, self.faults[number], b"try later", "text/plain")
        if not self.authorized(handler.headers):
            return self._send(handler, 401, b"unauthorized", "text/plain")
        status, answer = self.receive(handler.command, path, handler.headers, body)
        if status == 200:
            self.received.append((handler.command, path, body))
        self._send(handler, status, answer, "text/plain")

    def receive(self, method: str, path: str, headers, body: bytes) -> Tuple[int, bytes]:
        return 405, b"not allowed"

    @staticmethod
    def _send(handler, status: int, body: bytes, kind: str, headers=None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def authorized(self, headers) -> bool:
        raise NotImplementedError

    def answer(self, path: str, query: Dict[str, str]) -> Tuple[int, bytes, str]:
        raise NotImplementedError


# ---------------------------------------------------------------------------- NCMEC


@dataclass
class NcmecEntry:
    member: str
    id: str
    ts: int
    kind: str = "image"  # image | video
    deleted: bool = False
    classification: Optional[str] = "A1"
    fingerprints: Dict[str, str] = field(default_factory=dict)  # tag -> value; "link:" + path for a link


class NcmecServer(FeedServer):
    PREFIX = "/hashsharing"
    REASON = "01234567-abcd-0123-4567-0123456789ab"

    def __init__(self, user="platform", password="s3cret-pw", page_size=10, member="7"):
        self.user, self.password, self.page_size, self.member = user, password, page_size, member
        self.log: List[NcmecEntry] = []  # every record the registry holds, newest state last
        self.cursors: Dict[Tuple[str, str], List[NcmecEntry]] = {}
        self.linked: Dict[str, bytes] = {}  # path under the API -> a large fingerprint's bytes
        self._by_time: Tuple = ((None, 0), [], [])
        super().__init__()

    @property
    def url(self) -> str:
        return self.base + self.PREFIX

    def authorized(self, headers) -> bool:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return headers.get("Authorization") == f"Basic {token}"

    def windows(self) -> List[Tuple[str, str, Optional[str]]]:
        """(from, to, start) of every entries request served."""
        return [(q.get("from"), q.get("to"), q.get("start")) for p, q in self.requests if p.endswith("/v2/entries")]

    def answer(self, path, query):
        if path == self.PREFIX + "/v2/status":
            body = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    f'<status xmlns="https://hashsharing.ncmec.org/hashsharing/v2"><ipAddress>127.0.0.1</ipAddress>'
                    f'<username>{escape(self.user)}</username><member id="{self.member}">Test Platform</member></status>')
            return 200, body.encode(), "application/xml"
        if path.startswith(self.PREFIX + "/v2/feedback/") and path.endswith("/reasons"):
            kind = path.split("/")[-2]
            body = (f'<?xml version="1.0" encoding="UTF-8"?><feedbackReasons xmlns="https://hashsharing.ncmec.org/hashsharing/v2">'
                    f'<availableFeedbackReasons><reason guid="{self.REASON}" name="Not the content" type="{kind}"/>'
                    f"</availableFeedbackReasons></feedbackReasons>")
            return 200, body.encode(), "application/xml"
        if path[len(self.PREFIX):] in self.linked:
            return 200, self.linked[path[len(self.PREFIX):]], "application/octet-stream"
        if path != self.PREFIX + "/v2/entries":
            return 404, b"not found", "text/plain"
        window = (query["from"], query["to"])
        if "start" not in query:
            found = self._between(_parse(window[0]), _parse(window[1]))
            # The API's own order, not time order: newest first, then by a digest of the id.
            found.sort(key=lambda e: (-e.ts, hashlib.sha1(f"{e.member}-{e.id}".encode()).digest()))
            self.cursors[window] = found
            start = 1
        elif window in self.cursors:
            start = int(query["start"])
        else:  # a next link used with another window: nothing, silently
            return 200, self._page([], window, 1, 0), "application/xml"
        found = self.cursors[window]
        return 200, self._page(found[start - 1:start - 1 + self.page_size], window, start, len(found)), "application/xml"

    def _between(self, low: int, high: int) -> List[NcmecEntry]:
        """The records stamped low..high, by bisection of the log in time order (sorted again
        when records were added), so that a log of millions answers each window quickly."""
        if self._by_time[0] != (id(self.log), len(self.log)):
            ordered = sorted(self.log, key=lambda e: e.ts)
            self._by_time = ((id(self.log), len(self.log)), ordered, [e.ts for e in ordered])
        _, ordered, times = self._by_time
        return ordered[bisect.bisect_left(times, low):bisect.bisect_right(times, high)]

    def receive(self, method, path, headers, body):
        """PUT /v2/entries/MEMBER/ID/FINGERPRINT/feedback with a feedbackSubmission: one vote,
        affirmative, or negative with a known reason GUID."""
        parts = path[len(self.PREFIX):].split("/")
        if method != "PUT" or len(parts) != 7 or parts[1:3] != ["v2", "entries"] or parts[6] != "feedback":
            return 404, b"not found"
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 400, b"not XML"
        namespace = "{https://hashsharing.ncmec.org/hashsharing/v2}"
        votes = list(root)
        if root.tag != namespace + "feedbackSubmission" or len(votes) != 1:
            return 400, b"not one feedbackSubmission vote"
        vote = votes[0]
        if vote.tag == namespace + "affirmative" and not len(vote):
            return 200, b""
        guids = [g.text for g in vote.iter(namespace + "guid")]
        if vote.tag == namespace + "negative" and guids == [self.REASON]:
            return 200, b""
        return 400, b"a negative vote needs one known reason"

    def _page(self, entries: List[NcmecEntry], window, start: int, total: int) -> bytes:
        groups = []
        for kind, tag in (("image", "images"), ("video", "videos")):
            mine = [e for e in entries if e.kind == kind]
            newest = max((e.ts for e in mine), default=None)
            attrs = f' count="{len(mine)}"' + (f' maxTimestamp="{iso(newest)}"' if newest is not None else "")
            groups.append(f"<{tag}{attrs}>" + "".join(self._entry(e) for e in mine) + f"</{tag}>")
        paging = ""
        following = start + len(entries)
        if entries and following <= total:
            link = "/v2/entries?" + urllib.parse.urlencode(
                {"from": window[0], "to": window[1], "start": following, "size": self.page_size, "max": total})
            paging = f"<paging><next>{escape(link)}</next></paging>"
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">'
                + "".join(groups) + paging + "</queryResult>").encode()

    @staticmethod
    def _entry(e: NcmecEntry) -> str:
        tag = ("deleted" + e.kind.capitalize()) if e.deleted else e.kind
        parts = [f'<member id="{e.member}">Member {e.member}</member>', f"<timestamp>{iso(e.ts)}</timestamp>",
                 f"<id>{escape(e.id)}</id>"]
        if not e.deleted:
            if e.classification:
                parts.append(f"<classification>{escape(e.classification)}</classification>")
            prints = []
            for name, value in e.fingerprints.items():
                if value.startswith("link:"):
                    prints.append(f'<{name} rel="self" href={quoteattr(value[5:])}/>')
                else:
                    prints.append(f"<{name}>{escape(value)}</{name}>")
            parts.append("<fingerprints>" + "".join(prints) + "</fingerprints>")
        return f"<{tag}>" + "".join(parts) + f"</{tag}>"


# ---------------------------------------------------------------------------- StopNCII


class StopnciiServer(FeedServer):
    PREFIX = "/v1"

    def __init__(self, fetch_key="fetch-key-123", subscription_key="sub-key-456", max_page=50,
                 feedback_key="feedback-key-789"):
        self.fetch_key, self.subscription_key, self.max_page = fetch_key, subscription_key, max_page
        self.feedback_key = feedback_key  # SubmitFeedback's own function key
        self.hashes: Dict[str, Dict] = {}  # hashValue -> the current record
        super().__init__()

    @property
    def url(self) -> str:
        return self.base + self.PREFIX

    def put(self, value: str, ts: int, status: str = "Active", signal_type: str = "ImagePDQ", cases=("case-1",)):
        self.hashes[value] = {"lastModtimestamp": ts, "hashValue": value, "hashStatus": status,
                              "signalType": signal_type, "caseNumbers": {c: status for c in cases},
                              "hashRegions": ["US"], "CSPFeedbacks": []}

    def authorized(self, headers) -> bool:
        return (headers.get("x-functions-key") in (self.fetch_key, self.feedback_key)
                and headers.get("Ocp-Apim-Subscription-Key") == self.subscription_key)

    def receive(self, method, path, headers, body):
        """POST SubmitFeedback: {"count": n, "hashFeedbacks": [{hashValue, feedbackValue, tags}]}."""
        if method != "POST" or path != self.PREFIX + "/SubmitFeedback":
            return 404, b"not found"
        if headers.get("x-functions-key") != self.feedback_key:
            return 401, b"this function key does not open SubmitFeedback"
        try:
            document = json.loads(body)
            items = document["hashFeedbacks"]
            good = document["count"] == len(items) and all(
                isinstance(i["hashValue"], str) and i["feedbackValue"] in ("Blocked", "NotBlocked", "None")
                and isinstance(i["tags"], list) for i in items)
        except (ValueError, KeyError, TypeError):
            good = False
        return (200, b"{}") if good else (400, b"not a SubmitFeedback document")

    def answer(self, path, query):
        if path != self.PREFIX + "/FetchHashes":
            return 404, b"not found", "text/plain"
        start = int(query["startTimestamp"])
        size = min(int(query.get("pageSize", 100)), self.max_page)
        offset = 0
        if "nextPageToken" in query:
            token = json.loads(base64.urlsafe_b64decode(query["nextPageToken"]))
            if token["t"] != start:
                return 400, b'{"error": "the token belongs to another startTimestamp"}', "application/json"
            offset = token["o"]
        found = sorted((r for r in self.hashes.values() if r["lastModtimestamp"] >= start),
                       key=lambda r: (r["lastModtimestamp"], r["hashValue"]))
        page = found[offset:offset + size]
        more = offset + size < len(found)
        body = {
            "count": len(page),
            "hashRecords": page,
            "hasMoreRecords": more,
            "nextPageToken": base64.urlsafe_b64encode(json.dumps({"t": start, "o": offset + size}).encode()).decode()
            if more else None,
            "nextSetTimestamp": max([start] + [r["lastModtimestamp"] for r in found]),
        }
        return 200, json.dumps(body).encode(), "application/json"
