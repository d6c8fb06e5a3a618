"""Per-environment config files (configs/*.yaml): pipeline options as data.

A config is a YAML mapping of option names (as on the command line, without dashes) to values.
It becomes command-line flags placed before the user's own, so the command line overrides it.
"""
import argparse
from typing import Dict, List, Optional

import yaml


class UsageError(Exception):
    """Bad options or input paths: the run cannot be done. str() is a one-line reason."""


def config_flags(config: Dict) -> List[str]:
    """{'pdq_threshold': 31, 'save_main_session': True} -> ['--pdq_threshold=31', '--save_main_session'].

    true is a bare flag (Beam's switches); false leaves a switch out; lists repeat the flag.
    """
    flags = []
    for name, value in config.items():
        if value is True:
            flags.append(f"--{name}")
        elif value is False or value is None:
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


def expand_config(argv: List[str], default: Optional[str] = None) -> List[str]:
    """argv with the flags of its --config file (or of `default` without one) put before the rest."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config")
    known, _ = parser.parse_known_args(argv)
    path = known.config or default
    if not path:
        return list(argv)
    return config_flags(load_config(path)) + list(argv)
