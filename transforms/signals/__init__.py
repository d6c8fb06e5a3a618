"""Signal types, one module each (`pdq`, `exact`, `tmk`), each one `Signal` object (base.py) that
declares all that is its own. Everything else loops over SIGNALS instead of naming types; a new
type is one module and one `register` call.
"""
from typing import Dict, Iterator, Tuple

from transforms.signals.base import Option, ScoreColumn, Signal
from transforms.signals.exact import DIGESTS
from transforms.signals.pdq import PDQ
from transforms.signals.tmk import TMK_PDQF

SIGNALS: Dict[str, Signal] = {}


def register(signal: Signal) -> None:
    """Make a signal type known to every stage: options, hashing, the store, the registry, matching."""
    if not signal.name.isidentifier() or signal.name in SIGNALS:
        raise ValueError(f"signal type name {signal.name!r} is taken or not an identifier")
    SIGNALS[signal.name] = signal


for _signal in (PDQ, TMK_PDQF, *DIGESTS):
    register(_signal)


def signal_options() -> Iterator[Option]:
    """The matching options of every signal type."""
    for signal in SIGNALS.values():
        yield from signal.options


def score_columns() -> Tuple[ScoreColumn, ...]:
    """The match-row columns that signal types fill with their own scores."""
    return tuple(column for signal in SIGNALS.values() for column in signal.score_columns)


def hasher_version(media_type: str) -> str:
    """The version of the hashing of a media type: its signal types' versions there. Stored hashes
    of another version are hashed again; an unknown media type has none and is never current."""
    return "+".join(v for v in (s.hasher_versions.get(media_type) for s in SIGNALS.values()) if v)
