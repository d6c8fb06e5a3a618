"""The review page: one self-contained static HTML file of a report (no external assets, works
offline, a Content-Security-Policy that lets it load nothing), with the review queue as a table
that sorts and filters, small inline charts, and no media ever shown: only URIs, hashes,
distances, shares and entry metadata.

The address can filter and sort the queue: `page.html#filter=NCII-77&sort=-distance`.
"""
import html
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from transforms.reports.view import Report, distance_band, is_held, queue, totals

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
BANDS = ("0", "1-10", "11-20", "21-31", "32+", "exact")
# The page's queue columns (the CSV has every queue column, object_version and registry_version too).
PAGE_COLUMNS = ("match_id", "uri", "entry_id", "signal_type", "distance", "found_by", "media_type", "run_id")

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.facts { color: #4a5868; margin: 0 0 12px; }
.charts { display: flex; gap: 32px; flex-wrap: wrap; }
.chart h3 { font-size: 13px; margin: 0 0 4px; color: #4a5868; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e8ee; vertical-align: top; }
th { cursor: pointer; background: #f4f6f9; user-select: none; white-space: nowrap; }
th.sorted-asc::after { content: " \\25b2"; } th.sorted-desc::after { content: " \\25bc"; }
td.uri { word-break: break-all; min-width: 24em; } td { white-space: nowrap; } td.uri { white-space: normal; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
#filter { font: inherit; padding: 4px 8px; width: 320px; margin: 0 0 8px; }
"""

SCRIPT = """
(function () {
  var table = document.getElementById('queue'), body = table.tBodies[0];
  var input = document.getElementById('filter'), shown = document.getElementById('shown');
  function apply() {
    var needle = input.value.trim().toLowerCase(), n = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var hit = !needle || row.textContent.toLowerCase().indexOf(needle) >= 0;
      row.hidden = !hit; if (hit) n++;
    });
    shown.textContent = n;
  }
  input.addEventListener('input', apply);
  function sortBy(th, asc) {
    var column = th.cellIndex, numeric = th.dataset.type === 'num';
    Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.classList.remove('sorted-asc', 'sorted-desc'); });
    th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].textContent, y = b.cells[column].textContent;
      var d = numeric ? (parseFloat(x || '-1') - parseFloat(y || '-1')) : x.localeCompare(y);
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener('click', function () { sortBy(th, !th.classList.contains('sorted-asc')); });
  });
  // The address can hold #filter=TEXT and #sort=COLUMN (or -COLUMN, descending), joined by &.
  decodeURIComponent(location.hash.replace(/^#/, '')).split('&').forEach(function (part) {
    if (part.indexOf('filter=') === 0) input.value = part.slice(7);
    if (part.indexOf('sort=') === 0) {
      var name = part.slice(5), asc = name.charAt(0) !== '-';
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
        if (th.textContent === name.replace(/^-/, '')) sortBy(th, asc);
      });
    }
  });
  apply();
})();
"""


def _e(value) -> str:
    return "" if value is None else html.escape(str(value))


def bar_chart(title: str, bars: Sequence[Tuple[str, int]], width: int = 320) -> str:
    """A horizontal bar chart as inline SVG."""
    row, label_w = 18, 110
    top = max([n for _, n in bars] + [1])
    height = row * max(len(bars), 1) + 4
    parts = [f'<div class="chart"><h3>{_e(title)}</h3>'
             f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, n) in enumerate(bars):
        y = i * row + 2
        w = (width - label_w - 50) * n / top
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">{_e(label)[:18]}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 5}" fill="#3d7bd9"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11">{n:,}</text>')
    if not bars:
        parts.append('<text x="0" y="14" font-size="11">(none)</text>')
    return "".join(parts) + "</svg></div>"


def _charts(report: Report) -> str:
    per_night = [(run[:15], report.summaries[run].get("matches") or 0) for run in report.runs]
    bands = Counter(distance_band(r.get("distance")) for r in report.matches)
    errors = Counter(e["reason"] for e in report.errors)
    return ('<div class="charts">' + bar_chart("matches per night", per_night)
            + bar_chart("distance", [(b, bands[b]) for b in BANDS if bands[b]])
            + bar_chart("errors by reason", errors.most_common(8)) + "</div>")


def _table(table_id: str, columns: Sequence[str], rows: List[Dict], numeric=("distance",)) -> str:
    head = "".join(f'<th data-type="{"num" if c in numeric else "text"}">{_e(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            kind = "num" if c in numeric else ("uri" if c == "uri" else "")
            cells.append(f'<td class="{kind}">{_e(row.get(c))}</td>')
        body.append(f'<tr data-entry="{_e(row.get("entry_id"))}">' + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>' + "".join(body) + "</tbody></table>"


def render_page(report: Report) -> str:
    rows = queue(report)
    total = totals(report)
    newest = report.summaries[report.runs[-1]]
    held = [r for r in report.matches if is_held(report, r)]
    runs = report.runs[0] + (f" .. {report.runs[-1]}" if len(report.runs) > 1 else "")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>takedown-scan review queue: {_e(runs)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Review queue</h1><p class=\"facts\">runs {_e(runs)}; registry version {_e(newest.get('registry_version'))}; "
        f"objects: {total['listed']:,} listed, {total['unchanged_skipped']:,} unchanged, {total['hashed']:,} hashed, "
        f"{total['failed']:,} failed; matches: {len(report.matches):,}, {len(rows):,} to review, {len(held):,} held back; "
        f"withdrawn: {len(report.withdrawn):,}; objects gone: {len(report.deleted):,}</p>",
        _charts(report),
        f'<h2>To review (<span id="shown">{len(rows)}</span> of {len(rows)})</h2>',
        '<input id="filter" type="search" placeholder="filter: entry, URI, source, ..." aria-label="filter">',
        _table("queue", PAGE_COLUMNS + report.metadata_columns, rows),
        f"<h2>Held back by the flood guard ({len(held):,})</h2>",
        _table("held", ("run_id", "entry_id", "uri", "signal_type", "distance") + report.metadata_columns, held),
        f"<h2>Withdrawn ({len(report.withdrawn):,})</h2>",
        _table("withdrawn", ("run_id", "uri", "entry_id", "signal_type", "reported_run"), report.withdrawn),
        f"<h2>Objects gone: deleted or replaced ({len(report.deleted):,})</h2>",
        _table("deleted", ("run_id", "uri", "object_version", "listed_version", "entry_id", "signal_type", "reported_run"),
               report.deleted),
        f"<h2>Errors ({len(report.errors):,})</h2>",
        _table("errors", ("run_id", "uri", "stage", "reason", "detail"), report.errors),
        f"<script>{SCRIPT}</script></body></html>\n",
    ])

