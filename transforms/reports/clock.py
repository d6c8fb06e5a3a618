"""The 48-hour clock: for the matches of a report, how long each took from the moment this
platform first saw its registry entry (`entry_seen_at`) to being found (`found_at`), to a
reviewer's verdict (`reviewed_at`) and to the first action done on it (`acted_at`, from `act`'s
log), in aggregate (median, 95th percentile, worst), and which matches are late: their entry was
seen longer ago than the deadline, and they have neither a false_match verdict nor an action done
(no verdict yet, or confirmed and not acted on). Matches of runs written before these times were
kept have none, and are counted as such rather than guessed.
"""
from datetime import datetime
from typing import Dict, List, Optional, Sequence

from transforms.reports.view import Report, is_held
from transforms.schemas import utc_text, utc_time

DEADLINE_H = 48.0


def hours_between(earlier, later) -> Optional[float]:
    """Hours from one time to another (datetimes of match rows, ISO text of reviews), or None."""
    start, end = utc_time(earlier), utc_time(later)
    return (end - start).total_seconds() / 3600 if start and end else None


def spread(values: Sequence[float]) -> Optional[Dict[str, float]]:
    """Median, 95th percentile (nearest rank) and worst of some durations, or None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, -(-95 * len(ordered) // 100) - 1)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"median": median, "p95": ordered[rank], "worst": ordered[-1]}


def is_late(row: Dict, review: Optional[Dict], now: datetime, deadline_h: float = DEADLINE_H,
            acted_at: Optional[datetime] = None) -> bool:
    """The entry was seen longer ago than the deadline, and the match is not finished: no verdict,
    or confirmed without an action done."""
    if acted_at is not None or (review or {}).get("verdict") == "false_match":
        return False
    waited = hours_between(row.get("entry_seen_at"), now)
    return waited is not None and waited > deadline_h


def _said(name: str, durations: Sequence[float], unknown: int) -> str:
    numbers = spread(durations)
    if numbers is None:
        return f"{name}: no match with both times" + (f" ({unknown:,} without them)" if unknown else "")
    return (f"{name}: median {numbers['median']:.1f} h, 95th percentile {numbers['p95']:.1f} h, worst "
            f"{numbers['worst']:.1f} h over {len(durations):,} match(es)" + (f"; {unknown:,} without times" if unknown else ""))


CLOCK_COLUMNS = ("match_id", "run_id", "entry_id", "uri", "entry_seen_at", "found_at", "reviewed_at", "verdict",
                 "acted_at", "to_find_h", "to_review_h", "to_act_h", "late")


def clock_rows(report: Report, now: datetime, deadline_h: float = DEADLINE_H) -> List[Dict]:
    """Per match (not held back), its times and the hours between them, and whether it is late:
    what a compliance team shows match by match. Times are ISO 8601 UTC text, hours rounded to 0.01."""
    def hours(earlier, later) -> Optional[float]:
        between = hours_between(earlier, later)
        return None if between is None else round(between, 2)

    rows = []
    for row in (r for r in report.matches if not is_held(report, r)):
        review, acted = report.reviews.get(row["match_id"]), report.acted.get(row["match_id"])
        reviewed = (review or {}).get("reviewed_at")
        rows.append({
            "match_id": row["match_id"], "run_id": row["run_id"], "entry_id": row["entry_id"], "uri": row["uri"],
            "entry_seen_at": utc_text(row.get("entry_seen_at")), "found_at": utc_text(row.get("found_at")),
            "reviewed_at": utc_text(reviewed), "verdict": (review or {}).get("verdict"), "acted_at": utc_text(acted),
            "to_find_h": hours(row.get("entry_seen_at"), row.get("found_at")),
            "to_review_h": hours(row.get("found_at"), reviewed), "to_act_h": hours(reviewed, acted),
            "late": is_late(row, review, now, deadline_h, acted),
        })
    return rows


def clock_lines(report: Report, now: datetime, deadline_h: float = DEADLINE_H) -> List[str]:
    """The report's clock section, as text lines."""
    rows = [r for r in report.matches if not is_held(report, r)]
    to_find = [hours_between(r.get("entry_seen_at"), r.get("found_at")) for r in rows]
    reviewed = [(r, report.reviews[r["match_id"]]) for r in rows if r["match_id"] in report.reviews]
    to_review = [hours_between(r.get("found_at"), v.get("reviewed_at")) for r, v in reviewed]
    to_act = [hours_between(v.get("reviewed_at"), report.acted[r["match_id"]]) for r, v in reviewed
              if r["match_id"] in report.acted]
    late = [r for r in rows
            if is_late(r, report.reviews.get(r["match_id"]), now, deadline_h, report.acted.get(r["match_id"]))]
    lines = ["the clock (from the entry first seen on this platform):",
             "  " + _said("to find", [h for h in to_find if h is not None], to_find.count(None)),
             "  " + _said("found to verdict", [h for h in to_review if h is not None], to_review.count(None)),
             "  " + _said("verdict to action", [h for h in to_act if h is not None], to_act.count(None)),
             f"  late: without a verdict, or confirmed and not acted on, although the entry was seen more "
             f"than {deadline_h:g} h ago (at {utc_text(now)}): {len(late):,}"]
    for row in sorted(late, key=lambda r: utc_time(r["entry_seen_at"]))[:10]:
        step = "no action" if row["match_id"] in report.reviews else "no verdict"
        lines.append(f"    {row['match_id']}  {row['entry_id']}  seen {hours_between(row['entry_seen_at'], now):.1f} h ago, "
                     f"{step}")
    return lines
