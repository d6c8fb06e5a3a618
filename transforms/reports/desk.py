"""The review desk: a small web application over an output folder, for reviewers to go from the
nights' matches to recorded verdicts in the browser alone.

What it serves: the queue (matches not held back, not suppressed, without a verdict), with the
clock of each (hours since its entry was first seen, and whether that is past the deadline), the
counts of the report, and the latest verdicts; a verdict posted from the page is recorded as
`review` records it (transforms/reports/reviews.py: one new file each, so two reviewers at once
both keep theirs, and the later one counts), a false match optionally added to the suppression
list. No media is ever shown or fetched: URIs, hashes, distances and metadata only, and the page's
Content-Security-Policy lets it load nothing but its own script and style.

Who may use it: every request carries the desk's token (a cookie set from the address printed at
start, or an `Authorization: Bearer` header), compared in constant time; requests naming another
host (DNS rebinding) and posts from another origin are refused. Names from outside (URIs, entry
ids, metadata, notes) reach the page as JSON and are shown as text, never as markup.

Bottle (one file, no dependencies, imported in milliseconds) routes the requests; the standard
library's WSGI server, one thread per request, serves them.
"""
import hmac
import json
import socket
from datetime import datetime, timezone
from socketserver import ThreadingMixIn
from typing import Callable, Dict, Optional, Sequence
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import bottle

from transforms.matching.suppression import add_to_list, suppression_row
from transforms.reports.clock import DEADLINE_H, hours_between, is_late
from transforms.reports.reviews import VERDICTS, find_match, judged, record_review
from transforms.reports.view import (ReportError, choose_runs, covered_now, flood_guard, is_held, queue, queue_columns,
                                     read_report, totals)
from transforms.schemas import utc_text

COOKIE = "takedown_desk"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
MAX_NOTE = 2000
MAX_BODY = 16 * 1024


class DeskSettings:
    """What a desk serves: the output, its runs (from `since`), its suppression list's folder,
    the deadline, the clock, and the token."""

    def __init__(self, output: str, token: str, suppressions: str, since: Optional[str] = None,
                 deadline_h: float = DEADLINE_H, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.output, self.token, self.suppressions = output, token, suppressions
        self.since, self.deadline_h, self.clock = since, deadline_h, clock


def queue_document(settings: DeskSettings) -> Dict:
    """What the page shows, as JSON: the counts, the queue with its clock, the latest verdicts."""
    report = judged(read_report(settings.output, choose_runs(settings.output, since=settings.since)), settings.output,
                    settings.suppressions)
    flood_guard(report)
    now = settings.clock()
    seen = {r["match_id"]: r.get("entry_seen_at") for r in report.matches}
    rows = []
    for row in queue(report):
        waited = hours_between(seen.get(row["match_id"]), now)
        rows.append({**{k: _json(v) for k, v in row.items()}, "waited_h": None if waited is None else round(waited, 1),
                     "late": is_late({"entry_seen_at": seen.get(row["match_id"])}, None, now, settings.deadline_h)})
    total = totals(report)
    ids = {r["match_id"] for r in report.matches}
    return {
        "runs": [report.runs[0], report.runs[-1]],
        "now": utc_text(now),
        "deadline_h": settings.deadline_h,
        "columns": list(queue_columns(report)),
        "counts": {"matches": len(report.matches), "to_review": len(rows), "late": sum(r["late"] for r in rows),
                   "held": sum(1 for r in report.matches if is_held(report, r)),
                   "reviewed": sum(1 for k in report.reviews if k in ids),
                   "awaiting_action": sum(1 for k, v in report.reviews.items()
                                          if k in ids and v["verdict"] == "confirmed" and k not in report.acted),
                   "suppressed": total["suppressed"] + covered_now(report),
                   "listed": total["listed"], "failed": total["failed"]},
        "queue": rows,
        "verdicts": [{k: v.get(k) for k in ("reviewed_at", "match_id", "verdict", "reviewer", "note", "entry_id", "uri")}
                     for v in report.history[-50:][::-1]],
    }


def _json(value):
    return value.isoformat() if isinstance(value, datetime) else value


def record_verdict(settings: DeskSettings, body: Dict) -> Dict:
    """A verdict posted by the page, recorded as `review` records it; ValueError for a bad one."""
    verdict, note = body.get("verdict"), body.get("note") or None
    reviewer, how = str(body.get("reviewer") or "").strip(), body.get("suppress") or None
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
    if not reviewer or len(reviewer) > 200:
        raise ValueError("say who you are (the reviewer field, at most 200 characters)")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise ValueError(f"a note is text of at most {MAX_NOTE} characters")
    if how not in (None, "entry", "hash") or (how and verdict != "false_match"):
        raise ValueError("suppress is entry or hash, with a false_match verdict only")
    match = find_match(settings.output, str(body.get("match_id") or ""))
    row = suppression_row(match, how) if how else None
    now = datetime.now(timezone.utc)
    path = record_review(settings.output, match, verdict, note, reviewer, now)
    answer = {"match_id": match["match_id"], "verdict": verdict, "recorded": path.rsplit("/", 1)[-1]}
    if row:
        add_to_list(settings.suppressions, *row, f"false match {match['match_id']}, {reviewer}", now)
        answer["suppressed"] = how
    return answer


def desk_app(settings: DeskSettings) -> bottle.Bottle:
    app = bottle.Bottle(autojson=False)

    @app.hook("before_request")
    def _guard():
        request = bottle.request
        if request.get_header("Host", "").lower() not in _hosts(request):
            raise bottle.HTTPError(403, "this desk answers to its own address only")
        token = request.query.get("token") if request.path == "/" else None
        given = token or request.get_cookie(COOKIE) or request.get_header("Authorization", "").removeprefix("Bearer ")
        if not given or not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise bottle.HTTPError(403, "the desk's token is missing or wrong: open the address printed at start")
        origin = request.get_header("Origin")
        if request.method != "GET" and origin and origin.split("//", 1)[-1].lower() not in _hosts(request):
            raise bottle.HTTPError(403, "posts from another origin are refused")

    @app.hook("after_request")
    def _headers():
        response = bottle.response
        response.set_header("Content-Security-Policy", CSP)
        response.set_header("X-Content-Type-Options", "nosniff")
        response.set_header("Referrer-Policy", "no-referrer")
        response.set_header("Cache-Control", "no-store")

    @app.get("/")
    def _page():
        if bottle.request.query.get("token"):  # set the cookie, and take the token out of the address bar
            bottle.response.set_cookie(COOKIE, settings.token, httponly=True, samesite="strict", path="/")
            bottle.response.status = 303
            bottle.response.set_header("Location", "/")
            return ""
        bottle.response.content_type = "text/html; charset=utf-8"
        return PAGE

    @app.get("/desk.js")
    def _script():
        bottle.response.content_type = "text/javascript; charset=utf-8"
        return SCRIPT

    @app.get("/desk.css")
    def _style():
        bottle.response.content_type = "text/css; charset=utf-8"
        return STYLE

    @app.get("/api/queue")
    def _queue():
        return _answer(lambda: queue_document(settings))

    @app.post("/api/verdict")
    def _verdict():
        request = bottle.request
        if request.content_length > MAX_BODY or not request.content_type.startswith("application/json"):
            raise bottle.HTTPError(400, "a verdict is a small JSON document")
        try:
            body = json.loads(request.body.read(MAX_BODY))
        except ValueError:
            raise bottle.HTTPError(400, "a verdict is a small JSON document") from None
        if not isinstance(body, dict):
            raise bottle.HTTPError(400, "a verdict is a JSON object")
        return _answer(lambda: record_verdict(settings, body))

    return app


def _hosts(request) -> Sequence[str]:
    """The Host headers this desk answers to: its own address and port, by number or as localhost."""
    host, port = request.environ.get("SERVER_NAME", ""), request.environ.get("SERVER_PORT", "")
    return [f"{name}:{port}" for name in {host.lower(), "127.0.0.1", "localhost", "[::1]"}]


def _answer(work: Callable[[], Dict]) -> str:
    bottle.response.content_type = "application/json"
    try:
        return json.dumps(work())
    except (ReportError, ValueError) as e:
        bottle.response.status = 400
        return json.dumps({"error": str(e)})


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """Logs a request's method, path and status, never its query (the token may be there)."""

    def log_request(self, code="-", size="-"):
        self.log_message('"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


def make_desk_server(settings: DeskSettings, host: str, port: int) -> WSGIServer:
    """A server of the desk on host:port (port 0: any free one), not yet serving."""
    server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
    return make_server(host, port, desk_app(settings), server_class=server_class, handler_class=_QuietHandler)



PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>takedown-scan review desk</title>
<link rel="stylesheet" href="/desk.css"></head><body>
<h1>Review desk</h1>
<p class="facts" id="facts">loading...</p>
<div class="tools">
<input id="filter" type="search" placeholder="filter: entry, URI, source, ..." aria-label="filter">
<label><input id="late-only" type="checkbox"> past the deadline only</label>
<label>reviewer <input id="reviewer" type="text" size="16" aria-label="reviewer"></label>
<span id="status" role="status"></span>
</div>
<h2>To review (<span id="shown">0</span> of <span id="total">0</span>)</h2>
<table id="queue"><thead><tr></tr></thead><tbody></tbody></table>
<h2>Latest verdicts</h2>
<table id="verdicts"><thead><tr><th>reviewed_at</th><th>match_id</th><th>verdict</th><th>reviewer</th><th>note</th>
<th>entry_id</th><th>uri</th></tr></thead><tbody></tbody></table>
<script src="/desk.js"></script></body></html>
"""

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.facts { color: #4a5868; margin: 0 0 12px; }
.tools { display: flex; gap: 16px; align-items: center; margin: 0 0 8px; flex-wrap: wrap; }
#filter { font: inherit; padding: 4px 8px; width: 320px; }
#status { color: #4a5868; } #status.error { color: #b3261e; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e8ee; vertical-align: top; white-space: nowrap; }
th { cursor: pointer; background: #f4f6f9; user-select: none; }
th.sorted-asc::after { content: " \\25b2"; } th.sorted-desc::after { content: " \\25bc"; }
td.uri { word-break: break-all; white-space: normal; min-width: 20em; }
tr.late td.waited { color: #b3261e; font-weight: 600; }
td.actions button { font: inherit; margin-right: 4px; } td.actions input { width: 10em; }
"""

SCRIPT = """
(function () {
  'use strict';
  var state = {doc: null, sort: 'waited_h', asc: false};
  var $ = function (id) { return document.getElementById(id); };
  var reviewer = $('reviewer');
  reviewer.value = localStorage.getItem('takedown-reviewer') || '';
  reviewer.addEventListener('change', function () { localStorage.setItem('takedown-reviewer', reviewer.value.trim()); });
  function say(text, error) { var s = $('status'); s.textContent = text; s.className = error ? 'error' : ''; }
  function cell(row, text, cls) {
    var td = row.insertCell(); td.textContent = text === null || text === undefined ? '' : String(text);
    if (cls) td.className = cls; return td;
  }
  function columns() { return ['late', 'waited_h'].concat(state.doc.columns); }
  function render() {
    var doc = state.doc, c = doc.counts;
    $('facts').textContent = 'runs ' + doc.runs[0] + ' .. ' + doc.runs[1] + '; at ' + doc.now + ', deadline ' +
      doc.deadline_h + ' h; matches ' + c.matches + ': ' + c.to_review + ' to review (' + c.late +
      ' past the deadline), ' + c.reviewed + ' reviewed (' + c.awaiting_action +
      ' confirmed, not acted on), ' + c.held + ' held back, ' + c.suppressed +
      ' suppressed; objects ' + c.listed + ' listed, ' + c.failed + ' failed';
    var head = $('queue').tHead.rows[0]; head.textContent = '';
    columns().concat(['actions']).forEach(function (name) {
      var th = document.createElement('th'); th.textContent = name; th.dataset.name = name;
      if (name === state.sort) th.className = state.asc ? 'sorted-asc' : 'sorted-desc';
      if (name !== 'actions') th.addEventListener('click', function () {
        state.asc = state.sort === name ? !state.asc : true; state.sort = name; render();
      });
      head.appendChild(th);
    });
    var needle = $('filter').value.trim().toLowerCase(), lateOnly = $('late-only').checked;
    var rows = doc.queue.filter(function (r) {
      if (lateOnly && !r.late) return false;
      return !needle || columns().some(function (k) { return String(r[k] === null ? '' : r[k]).toLowerCase().indexOf(needle) >= 0; });
    });
    rows.sort(function (a, b) {
      var x = a[state.sort], y = b[state.sort], d;
      if (typeof x === 'number' || typeof y === 'number') d = (x === null ? -1 : x) - (y === null ? -1 : y);
      else d = String(x === null ? '' : x).localeCompare(String(y === null ? '' : y));
      return state.asc ? d : -d;
    });
    var body = $('queue').tBodies[0]; body.textContent = '';
    rows.forEach(function (r) {
      var tr = body.insertRow(); tr.dataset.match = r.match_id; if (r.late) tr.className = 'late';
      columns().forEach(function (k) {
        var v = k === 'late' ? (r.late ? 'LATE' : '') : r[k];
        cell(tr, v, k === 'uri' ? 'uri' : (k === 'waited_h' ? 'waited' : ''));
      });
      var td = tr.insertCell(); td.className = 'actions';
      var note = document.createElement('input'); note.placeholder = 'note'; note.setAttribute('aria-label', 'note');
      var suppress = document.createElement('select'); suppress.setAttribute('aria-label', 'suppress');
      [['', 'no suppression'], ['entry', 'suppress entry'], ['hash', 'suppress picture']].forEach(function (o) {
        var opt = document.createElement('option'); opt.value = o[0]; opt.textContent = o[1]; suppress.appendChild(opt);
      });
      [['confirmed', 'Confirm'], ['false_match', 'False match']].forEach(function (b) {
        var button = document.createElement('button'); button.textContent = b[1]; button.dataset.verdict = b[0];
        button.addEventListener('click', function () { post(r.match_id, b[0], note.value, suppress.value); });
        td.appendChild(button);
      });
      td.appendChild(note); td.appendChild(suppress);
    });
    $('shown').textContent = rows.length; $('total').textContent = doc.queue.length;
    var verdicts = $('verdicts').tBodies[0]; verdicts.textContent = '';
    doc.verdicts.forEach(function (v) {
      var tr = verdicts.insertRow();
      ['reviewed_at', 'match_id', 'verdict', 'reviewer', 'note', 'entry_id', 'uri'].forEach(function (k) {
        cell(tr, v[k], k === 'uri' ? 'uri' : '');
      });
    });
  }
  function load() {
    return fetch('/api/queue', {credentials: 'same-origin'}).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || r.statusText); return body; });
    }).then(function (doc) { state.doc = doc; render(); }).catch(function (e) { say(String(e.message || e), true); });
  }
  function post(match, verdict, note, suppress) {
    var who = reviewer.value.trim();
    if (!who) { say('say who you are in the reviewer field first', true); reviewer.focus(); return; }
    localStorage.setItem('takedown-reviewer', who);
    say('recording ' + verdict + ' for ' + match + '...');
    fetch('/api/verdict', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({match_id: match, verdict: verdict, note: note, reviewer: who, suppress: suppress})})
      .then(function (r) { return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || r.statusText);
        say(verdict + ' recorded for ' + match + (body.suppressed ? ' (' + body.suppressed + ' suppressed)' : ''));
        return load();
      }); }).catch(function (e) { say(String(e.message || e), true); });
  }
  $('filter').addEventListener('input', function () { if (state.doc) render(); });
  $('late-only').addEventListener('change', function () { if (state.doc) render(); });
  load();
})();
"""
