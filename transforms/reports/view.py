"""The compliance team's view of an output folder: the committed runs chosen, their summaries,
matches, withdrawals and errors, read back from Parquet; a stable `match_id` per (object, entry,
signal); the flood guard; the text summary and the review queue rows.

The flood guard: an entry that matches more than `max_matches_per_entry` objects in one run, or
more than `max_match_share` of the objects that run listed, is a bad entry (a meme, a logo, a flat
picture) far more often than a mass re-upload. Its matches are held back from the review queue,
listed on their own with the entry's metadata, so that one bad entry cannot start a mass takedown.
"""
import hashlib
import json
import os
from datetime import datetime, timedelta, timezone
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple


from transforms.matching.suppression import Suppression
from transforms.schemas import match_columns
from transforms.storage import files

REPORT_MARKER = "_SUCCESS"
MAX_MATCHES_PER_ENTRY = 100
MAX_MATCH_SHARE = 0.01  # of the objects a run listed, counted only from this many objects on:
SHARE_FROM_OBJECTS = 1000
RECENT_DAYS = 30  # what `serve` and `act` look back over unless told
DISTANCE_BANDS = ((0, 0, "0"), (1, 10, "1-10"), (11, 20, "11-20"), (21, 31, "21-31"), (32, 256, "32+"))
QUEUE_COLUMNS = ("match_id", "run_id", "uri", "object_version", "media_type", "entry_id", "signal_type",
                 "distance", "found_by", "registry_version")


class ReportError(Exception):
    """The report cannot be made; str() is a one-line reason."""


@dataclass
class Report:
    runs: List[str]  # run ids, oldest first
    summaries: Dict[str, Dict]
    matches: List[Dict]
    withdrawn: List[Dict]
    errors: List[Dict]
    deleted: List[Dict] = field(default_factory=list)  # standing matches whose object is gone
    metadata_columns: Tuple[str, ...] = ()
    held: Set[Tuple[str, str]] = field(default_factory=set)  # (run_id, entry_id) held back
    reviews: Dict[str, Dict] = field(default_factory=dict)  # match_id -> its latest review
    history: List[Dict] = field(default_factory=list)  # every review, oldest first (reviews.judged)
    suppression: Suppression = Suppression()  # the list as it is now: it covers earlier runs' matches too
    acted: Dict[str, object] = field(default_factory=dict)  # match_id -> when its first action was done (act's log)


def match_id(row: Dict) -> str:
    """The same for the same object version, entry and signal type, in every run and report."""
    key = "\x1f".join(str(row[k]) for k in ("uri", "object_version", "entry_id", "signal_type"))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def committed_runs(output: str) -> List[str]:
    markers = files.matching(output, "run=*", REPORT_MARKER)
    return sorted(os.path.basename(os.path.dirname(path)).removeprefix("run=") for path in markers)


def recent_since(since: Optional[str], days: int = RECENT_DAYS) -> str:
    """--since of the commands that look back (serve, act): as given, else the UTC date `days` ago."""
    return since or (datetime.now(timezone.utc) - timedelta(days=days)).strftime("%Y-%m-%d")


def choose_runs(output: str, run: Optional[str] = None, since: Optional[str] = None) -> List[str]:
    """One run (--run), the runs from a UTC date on (--since YYYY-MM-DD), or the latest."""
    runs = committed_runs(output)
    if not runs:
        raise ReportError(f"{output} holds no committed run (run=RUN_ID/ with _SUCCESS)")
    if run:
        if run not in runs:
            raise ReportError(f"run {run} is not a committed run of this output (latest: {runs[-1]})")
        return [run]
    if since:
        day = since.replace("-", "")[:8]
        if not (len(day) == 8 and day.isdigit()):
            raise ReportError(f"--since {since!r} is not a date such as 2026-11-30")
        chosen = [r for r in runs if r[:8] >= day]
        if not chosen:
            raise ReportError(f"no committed run since {since} (latest: {runs[-1]})")
        return chosen
    return [runs[-1]]


def read_report(output: str, runs: Sequence[str]) -> Report:
    report = Report(list(runs), {}, [], [], [])
    for run in runs:
        run_dir = files.join(output, f"run={run}")
        report.summaries[run] = json.loads(files.read(files.join(run_dir, "summary.json")))
        report.matches += files.parquet_rows(run_dir, "matches", "*.parquet")
        report.withdrawn += files.parquet_rows(run_dir, "withdrawn", "*.parquet")
        report.deleted += files.parquet_rows(run_dir, "deleted", "*.parquet")  # none in runs older than the deleted/ report
        report.errors += files.parquet_rows(run_dir, "errors", "*.parquet")
    extra, known = [], set(match_columns())
    for row in report.matches:
        row["match_id"] = match_id(row)
        extra += [k for k in row if k not in known and k != "match_id" and k not in extra]
    report.metadata_columns = tuple(extra)
    return report


def flood_guard(report: Report, max_per_entry: int = MAX_MATCHES_PER_ENTRY, max_share: float = MAX_MATCH_SHARE) -> None:
    objects = defaultdict(set)
    for row in report.matches:
        objects[(row["run_id"], row["entry_id"])].add(row["uri"])
    for (run, entry), uris in objects.items():
        listed = report.summaries.get(run, {}).get("listed") or 0
        share_limit = listed * max_share if listed >= SHARE_FROM_OBJECTS else float("inf")
        if len(uris) > max_per_entry or len(uris) > share_limit:
            report.held.add((run, entry))


def is_held(report: Report, row: Dict) -> bool:
    """Whether the flood guard holds this match back."""
    return (row["run_id"], row["entry_id"]) in report.held


def totals(report: Report) -> Counter:
    """The object counts of the chosen runs added up."""
    total = Counter()
    for summary in report.summaries.values():
        for key in ("listed", "unchanged_skipped", "hashed", "failed", "suppressed"):
            total[key] += summary.get(key) or 0
    return total


def covered_now(report: Report) -> int:
    """The report's matches that the suppression list covers as it is now (added after they were
    found: the runs counted those covered then as `suppressed`)."""
    return sum(1 for r in report.matches if report.suppression.covers(r))


def queue_columns(report: Report) -> Tuple[str, ...]:
    return QUEUE_COLUMNS + report.metadata_columns


def queue(report: Report) -> List[Dict]:
    """The review queue: one row per match not held back, not suppressed and not reviewed yet,
    newest run first (a match judged a false match never comes back: the same object, entry and
    signal keep its id)."""
    rows = [r for r in report.matches if not is_held(report, r) and r["match_id"] not in report.reviews
            and not report.suppression.covers(r)]
    rows.sort(key=lambda r: (r["run_id"], r["entry_id"], r["uri"]), reverse=True)
    return [{k: r.get(k) for k in queue_columns(report)} for r in rows]


# A cell a spreadsheet would run as a formula starts with one of these (OWASP's CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """A queue value as a CSV cell that a spreadsheet shows and never runs: text that would start a
    formula gets a leading apostrophe, the value otherwise as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def distance_band(distance) -> str:
    if distance is None:
        return "exact"
    return next(name for low, high, name in DISTANCE_BANDS if low <= distance <= high)


def _top_prefixes(uris: Sequence[str]) -> Counter:
    """Counts by the first folder under the folder all the URIs share."""
    folders = [u.rsplit("/", 1)[0].split("/") for u in uris]
    common = []
    for level in zip(*folders):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    counts = Counter()
    for folder in folders:
        counts["/".join(folder[:len(common) + 1]) + "/"] += 1
    return counts


def _section(title: str, counts: Counter, limit: int = 10) -> List[str]:
    lines = [f"{title}:"]
    if not counts:
        return lines + ["  (none)"]
    for key, n in counts.most_common(limit):
        lines.append(f"  {n:>7,}  {key}")
    if len(counts) > limit:
        lines.append(f"  {sum(n for _, n in counts.most_common()[limit:]):>7,}  ({len(counts) - limit} more)")
    return lines


def _verdicts(report: Report) -> str:
    ids = {r["match_id"] for r in report.matches}
    counts = Counter(v["verdict"] for k, v in report.reviews.items() if k in ids)
    return ", ".join(f"{n:,} {verdict}" for verdict, n in sorted(counts.items())) or "none"


def render_text(report: Report) -> str:
    total = totals(report)
    first, last = report.runs[0], report.runs[-1]
    newest = report.summaries[last]
    lines = [
        f"takedown-scan report: {len(report.runs)} run(s), {first}" + (f" .. {last}" if last != first else ""),
        f"objects: {total['listed']:,} listed = {total['unchanged_skipped']:,} unchanged + "
        f"{total['hashed']:,} hashed + {total['failed']:,} failed",
        f"registry: version {newest.get('registry_version')}, {newest.get('registry_entries') or 0:,} entries, "
        f"{newest.get('registry_rejected') or 0:,} rows rejected, skipped by type: {newest.get('registry_skipped_by_type') or {}}",
        f"matches: {len(report.matches):,} ({len(queue(report)):,} to review, "
        f"{sum(1 for r in report.matches if is_held(report, r)):,} held back), "
        f"withdrawn: {len(report.withdrawn):,}, objects gone (deleted or replaced): {len(report.deleted):,}",
        f"reviewed: {_verdicts(report)}",
        f"suppressed (the platform's false matches): {total['suppressed']:,} when found, "
        f"{covered_now(report):,} more by the list since "
        f"({report.suppression.rows:,} list rows)",
        "",
    ]
    reviewable = [r for r in report.matches if not is_held(report, r)]
    by = lambda key: Counter(str(r.get(key)) for r in reviewable)  # noqa: E731
    lines += _section("matches by source", by("source")) if "source" in report.metadata_columns else []
    lines += _section("matches by entry", by("entry_id"))
    lines += _section("matches by classification", by("classification")) if "classification" in report.metadata_columns else []
    lines += _section("matches by distance", Counter(distance_band(r.get("distance")) for r in reviewable))
    lines += _section("matches by media type", by("media_type"))
    lines += _section("matches by how they were found", by("found_by"))
    lines += _section("matches by prefix", _top_prefixes([r["uri"] for r in reviewable]))
    lines += _section("withdrawn by entry", Counter(r["entry_id"] for r in report.withdrawn))
    lines += _section("objects gone, by entry", Counter(r["entry_id"] for r in report.deleted))
    lines += _section("errors by stage and reason", Counter(f"{e['stage']}/{e['reason']}" for e in report.errors))
    lines.append("held back by the flood guard (an entry matching too many objects in one run):")
    if not report.held:
        lines.append("  (none)")
    for run, entry in sorted(report.held):
        rows = [r for r in report.matches if (r["run_id"], r["entry_id"]) == (run, entry)]
        metadata = {k: rows[0].get(k) for k in report.metadata_columns if rows[0].get(k) is not None}
        lines.append(f"  {entry}: {len({r['uri'] for r in rows}):,} objects in run {run}; {metadata}")
    return "\n".join(lines) + "\n"
