"""Per-environment config files (configs/*.yaml): pipeline options as data.

A config is a YAML mapping of option names (as on the command line, without dashes) to values.
It becomes command-line flags placed before the user's own, so the command line overrides it.
"""
import argparse
import sys
from datetime import datetime
from typing import Callable, Dict, List, Optional, Set, Tuple

import yaml

from transforms.schemas import utc_time


class UsageError(Exception):
    """Bad options or input paths: the run cannot be done. str() is a one-line reason."""


def clock_options(deadline_h: float, now: Optional[str]) -> Optional[datetime]:
    """--deadline_h checked and --now read, for the commands that show the clock (report, serve):
    the fixed time, or None for the clock's own; a UsageError for a bad one."""
    if deadline_h <= 0:
        raise UsageError("--deadline_h must be more than 0")
    try:
        return utc_time(now)
    except ValueError:
        raise UsageError(f"--now {now!r} is not an ISO 8601 time such as 2026-12-07T09:00:00Z") from None


def run_command(work: Callable[[], None], refusals: Tuple[type, ...] = ()) -> int:
    """The exit status of a command that is not a Beam job: 0 once work() returns, 2 with one line
    on stderr for a UsageError, one of `refusals` (the command's own one-line errors) or an OSError."""
    try:
        work()
    except (UsageError, *refusals) as e:
        print(f"takedown-scan: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"takedown-scan: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse for the commands that are not Beam jobs: a mistake is a UsageError (one line,
    exit 2, as every job reports it), not argparse's usage block."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def config_flags(config: Dict, known: Optional[Set[str]] = None) -> List[str]:
    """{'pdq_threshold': 31, 'save_main_session': True} -> ['--pdq_threshold=31', '--save_main_session'].

    true is a bare flag (Beam's switches); false is the switch's --no_NAME where the options
    (`known`, option strings) have one (`dihedral: false` -> --no_dihedral), and leaves it out
    otherwise; lists repeat the flag.
    """
    flags = []
    for name, value in config.items():
        if value is True:
            flags.append(f"--{name}")
        elif value is False:
            if known is not None and f"--no_{name}" in known:
                flags.append(f"--no_{name}")
        elif value is None:
            continue
        elif isinstance(value, list):
            flags.extend(f"--{name}={item}" for item in value)
        else:
            flags.append(f"--{name}={value}")
    return flags


def load_config(path: str) -> Dict:
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"config {path} cannot be read: {e}") from None
    if not isinstance(config, dict):
        raise UsageError(f"config {path} is not a mapping of option names to values")
    return config


def unknown_options(parser: argparse.ArgumentParser, flags: List[str]) -> List[str]:
    """The options among `flags` that `parser` does not know (their names, without values)."""
    _, unknown = parser.parse_known_args(flags)
    return [flag.split("=", 1)[0] for flag in unknown if flag.startswith("-")]


def expand_config(argv: List[str], default: Optional[str] = None,
                  parser: Optional[argparse.ArgumentParser] = None) -> List[str]:
    """argv with the flags of its --config file (or of `default` without one) put before the rest.
    With `parser` (every option the job and Beam know), an unknown config key or option is a
    UsageError that names them."""
    config_parser = argparse.ArgumentParser(add_help=False)
    config_parser.add_argument("--config")
    given, _ = config_parser.parse_known_args(argv)
    path = given.config or default
    known = None if parser is None else {s for action in parser._actions for s in action.option_strings}
    flags = config_flags(load_config(path), known) if path else []
    if parser is not None:
        unknown = unknown_options(parser, flags)
        if unknown:
            keys = ", ".join(flag.lstrip("-") for flag in unknown)
            raise UsageError(f"config {path}: unknown key(s) {keys} (keys are option names, as in --help)")
        unknown = unknown_options(parser, list(argv))
        if unknown:
            raise UsageError(f"unknown option(s) {', '.join(unknown)} (see --help)")
    return flags + list(argv)
