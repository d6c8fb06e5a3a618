"""Actions on judged matches (HMA's "actioner"): the rules file, which actions are due, and the
action log.

Rules (YAML), each applying to the matches whose latest verdict and entry source it names:

    rules:
      - name: quarantine-confirmed
        verdicts: [confirmed]            # default: [confirmed]
        sources: [take_it_down]          # default: every source
        actions:
          - tag: {takedown-scan: confirmed}            # S3 object tags, GCS custom metadata
          - copy_to: s3://quarantine/takedown/         # the object copied below this prefix
          - move_to: gs://quarantine/                  # copied, then deleted
          - webhook: https://hooks.example/takedown    # a POST of the match as JSON
            headers_env: {Authorization: TAKEDOWN_WEBHOOK_AUTH}   # header values from the environment

The log, OUTPUT/actions/*.parquet, is append-only: one file per `act` run, one row per action
tried (schemas.ACTION_LOG_SCHEMA). An action has a stable id (the match, the rule and the action), so
acting again does nothing for an action already done, or found moot because the object is gone or
replaced; a failed one is tried again. No Beam here: `act` and the report read the log.
"""
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.registry.http import safe_url
from transforms.schemas import ACTION_LOG_SCHEMA
from transforms.storage import files
from transforms.storage.objects import is_remote

ACTIONS = "actions"
KINDS = ("tag", "copy_to", "move_to", "webhook")
FINAL = ("done", "gone")  # statuses after which an action is not tried again


class RulesError(ValueError):
    """The rules file cannot be used; str() is a one-line reason."""


@dataclass(frozen=True)
class Action:
    kind: str  # one of KINDS
    target: str  # the destination prefix, the webhook URL, or the tags as k=v,...
    tags: Tuple[Tuple[str, str], ...] = ()
    headers_env: Tuple[Tuple[str, str], ...] = ()  # (header, environment variable holding its value)

    @property
    def shown(self) -> str:
        """The target as logs and messages show it: a webhook's URL without its user part or query."""
        return safe_url(self.target) if self.kind == "webhook" else self.target


@dataclass(frozen=True)
class Rule:
    name: str
    verdicts: FrozenSet[str]
    sources: Optional[FrozenSet[str]]  # None: every source
    actions: Tuple[Action, ...]

    def applies(self, match: Dict, verdict: str) -> bool:
        return verdict in self.verdicts and (self.sources is None or match.get("source") in self.sources)


@dataclass(frozen=True)
class Due:
    """An action due on a match: what to do, on what, and why."""

    action_id: str
    rule: Rule
    action: Action
    match: Dict
    review: Dict


def _strings(value, what: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise RulesError(f"{what} must be a non-empty list of names")
    return tuple(value)


def _action(item, where: str, verdicts: Sequence[str]) -> Action:
    if not isinstance(item, dict):
        raise RulesError(f"{where} must be a mapping such as {{copy_to: s3://bucket/prefix/}}")
    kinds = [k for k in item if k in KINDS]
    extra = set(item) - set(KINDS) - {"headers_env"}
    if len(kinds) != 1 or extra:
        raise RulesError(f"{where} must have exactly one of {', '.join(KINDS)} (and headers_env with a webhook only)")
    kind, value = kinds[0], item[kinds[0]]
    if "headers_env" in item and kind != "webhook":
        raise RulesError(f"{where}: headers_env goes with a webhook only")
    if kind == "tag":
        if not isinstance(value, dict) or not value or not all(
                isinstance(k, str) and k and isinstance(v, (str, int, float)) for k, v in value.items()):
            raise RulesError(f"{where}: tag must be a mapping of tag names to values")
        tags = tuple(sorted((k, str(v)) for k, v in value.items()))
        return Action(kind, ",".join(f"{k}={v}" for k, v in tags), tags=tags)
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}: {kind} must be a URI")
    if kind == "webhook":
        if not value.lower().startswith(("http://", "https://")):
            raise RulesError(f"{where}: a webhook is an http:// or https:// URL")
        headers = item.get("headers_env") or {}
        if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise RulesError(f"{where}: headers_env maps header names to environment variable names")
        return Action(kind, value, headers_env=tuple(sorted(headers.items())))
    if kind == "move_to" and set(verdicts) != {"confirmed"}:
        raise RulesError(f"{where}: move_to removes the object, so its rule's verdicts must be [confirmed] only")
    return Action(kind, value if value.endswith("/") or not is_remote(value) else value + "/")


def parse_rules(document, name: str) -> Tuple[Rule, ...]:
    """The rules of a loaded YAML document; RulesError naming what is wrong."""
    rules = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(rules, list) or not rules:
        raise RulesError(f"{name} must hold `rules:`, a list of rules (see transforms/reports/actions.py)")
    parsed, names = [], set()
    for i, rule in enumerate(rules, 1):
        where = f"{name} rule {i}"
        if not isinstance(rule, dict) or set(rule) - {"name", "verdicts", "sources", "actions"}:
            raise RulesError(f"{where} may have name, verdicts, sources and actions only")
        rule_name = rule.get("name") or f"rule-{i}"
        if not isinstance(rule_name, str) or rule_name in names:
            raise RulesError(f"{where}: its name must be text, and unique")
        names.add(rule_name)
        verdicts = _strings(rule.get("verdicts", ["confirmed"]), f"{where} verdicts")
        if set(verdicts) - {"confirmed", "false_match"}:
            raise RulesError(f"{where}: verdicts are confirmed and false_match")
        sources = frozenset(_strings(rule["sources"], f"{where} sources")) if "sources" in rule else None
        actions = rule.get("actions")
        if not isinstance(actions, list) or not actions:
            raise RulesError(f"{where} needs actions: a list")
        parsed.append(Rule(rule_name, frozenset(verdicts), sources,
                           tuple(_action(a, f"{where} action {j}", verdicts) for j, a in enumerate(actions, 1))))
    return tuple(parsed)


def action_id(match_id: str, rule: Rule, action: Action) -> str:
    """The same for the same match, rule name and action, on every run of `act`."""
    key = "\x1f".join((match_id, rule.name, action.kind, action.target))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def due(matches: Iterable[Dict], reviews: Dict[str, Dict], rules: Sequence[Rule], finished: FrozenSet[str]) -> List[Due]:
    """The actions due: for each judged match (once, however many runs reported it), each action
    of each rule that applies to its latest verdict, unless the log has it done or moot."""
    result, seen = [], set()
    for match in matches:
        review = reviews.get(match["match_id"])
        if review is None or match["match_id"] in seen:
            continue
        seen.add(match["match_id"])
        for rule in rules:
            if rule.applies(match, review["verdict"]):
                for action in rule.actions:
                    key = action_id(match["match_id"], rule, action)
                    if key not in finished:
                        result.append(Due(key, rule, action, match, review))
    return result


def destination(uri: str, prefix: str) -> str:
    """Where copy_to/move_to puts an object: below the prefix, at its bucket and key (or its path),
    in the same kind of store."""
    if is_remote(uri) != is_remote(prefix) or (is_remote(uri) and uri.split("://")[0] != prefix.split("://")[0]):
        raise ValueError(f"{prefix} is not in the same kind of store as the object")
    return prefix + uri.split("://", 1)[1] if is_remote(uri) else prefix


def log_row(item: Due, status: str, detail: str, now: datetime, actor: str) -> Dict:
    return {"action_id": item.action_id, "match_id": item.match["match_id"], "rule": item.rule.name,
            "action": item.action.kind, "target": item.action.shown, "status": status, "detail": detail[:500],
            "acted_at": now, "actor": actor, "uri": item.match["uri"],
            "object_version": item.match.get("object_version"), "entry_id": item.match["entry_id"],
            "verdict": item.review["verdict"], "reviewed_at": item.review.get("reviewed_at")}


def webhook_document(item: Due) -> bytes:
    """The JSON a webhook receives: the action's id (to drop repeats), the match and its verdict."""
    keep = ("match_id", "uri", "object_version", "media_type", "entry_id", "signal_type", "distance", "source",
            "registry_version", "run_id")
    document = {"action_id": item.action_id, "rule": item.rule.name, "verdict": item.review["verdict"],
                "reviewed_at": item.review.get("reviewed_at"), "reviewer": item.review.get("reviewer"),
                **{k: item.match.get(k) for k in keep}}
    return json.dumps(document, default=str, sort_keys=True).encode()


def read_log(output: str) -> List[Dict]:
    return files.parquet_rows(output, ACTIONS, "*.parquet")


def first_done(log: Iterable[Dict]) -> Dict[str, datetime]:
    """match_id -> when its first action was done: the clock's `acted_at`."""
    first = {}
    for row in log:
        if row["status"] == "done" and (row["match_id"] not in first or row["acted_at"] < first[row["match_id"]]):
            first[row["match_id"]] = row["acted_at"]
    return first


def finished(log: Iterable[Dict]) -> FrozenSet[str]:
    return frozenset(row["action_id"] for row in log if row["status"] in FINAL)


def write_log(output: str, rows: List[Dict], now: datetime) -> str:
    """A new file of the log with these rows; its path."""
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=ACTION_LOG_SCHEMA), sink)
    path = files.join(output, ACTIONS, files.stamped_name(now, ".parquet"))
    with files.create(path) as f:
        f.write(sink.getvalue())
    return path
