"""What the jobs share on the command line: JobOptions (registry, output, hash store, config and
matching), the default config, --help (pipelines/launch.py runs the jobs).

Beam parses every direct subclass of PipelineOptions together, so an option is defined once, here
or in one job's own class; a job reads these through `options.view_as(JobOptions)`.
"""
import argparse
import os

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import UsageError
from transforms.matching.matcher import MatchSettings, parse_source_limits
from transforms.matching.suppression import Suppression, SuppressionError, list_folder, read_list
from transforms.registry.snapshots import DEFAULT_MAX_REJECT_SHARE
from transforms.signals import signal_options

# The options a run without --config starts from: the DirectRunner as measured fastest here.
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "local.yaml")


class JobOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        group = parser.add_argument_group("takedown-scan")
        group.add_argument("--registry", help="A registry snapshot file, or a root of VERSION/ folders.")
        group.add_argument("--output", help="Where run=RUN_ID/ folders of reports are written.")
        group.add_argument("--hashes", help="The hash store (default: OUTPUT/hashes).")
        group.add_argument("--config", help="A configs/*.yaml file of options; flags override it.")
        group.add_argument("--suppressions", help="A folder of suppression lists (CSV: kind,value,distance,note): "
                                                  "matches they cover are counted, not reported (default: OUTPUT/suppressions).")
        _add_match_arguments(group)


def option_parser() -> argparse.ArgumentParser:
    """Every option Beam and the jobs know, as Beam gathers them (each direct subclass of
    PipelineOptions once), for finding mistyped ones."""
    parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    classes = {}
    for option_class in PipelineOptions.__subclasses__():
        classes.setdefault(str(option_class), option_class)
    for option_class in classes.values():
        option_class._add_argparse_args(parser)
    return parser


def print_help(prog: str, description: str, *option_classes) -> None:
    """--help of a job: its own options and the shared ones (Beam's options are not listed)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for option_class in option_classes:
        option_class._add_argparse_args(parser)
    parser.print_help()


def _add_match_arguments(group) -> None:
    """The options of matching and of the registry, on an argparse group."""
    for option in signal_options():
        group.add_argument(f"--{option.name}", type=option.type, default=option.default, help=option.help)
    group.add_argument("--min_quality", type=int, default=MatchSettings.min_quality,
                       help="PDQ hashes of lower quality never match.")
    group.add_argument("--max_registry_reject_share", type=float, default=DEFAULT_MAX_REJECT_SHARE,
                       help="Refuse a registry with a larger share of malformed rows.")
    group.add_argument("--min_matched_frame_share", type=float, default=MatchSettings.min_matched_frame_share,
                       help="A video matches an entry only if this share of its frames matched it.")
    group.add_argument("--min_registry_frame_share", type=float, default=MatchSettings.min_registry_frame_share,
                       help="A video matches an entry only if this share of the entry's frames was found.")
    group.add_argument("--dihedral", dest="dihedral", action="store_true", default=MatchSettings.dihedral,
                       help="Also match rotated and mirrored copies (the default).")
    group.add_argument("--no_dihedral", dest="dihedral", action="store_false",
                       help="Match pictures only as they are.")
    group.add_argument("--source_thresholds", default="",
                       help="Stricter limits for one registry source's entries: SIGNAL:SOURCE=MAX,... such as "
                            "pdq:stopncii=20 (matches of that source farther than MAX are not reported).")


def check_match_options(options) -> None:
    bounds = [(option.name, option.low, option.high) for option in signal_options()]
    bounds += [("min_quality", 0, 100)] + [(name, 0, 1) for name in (
        "max_registry_reject_share", "min_matched_frame_share", "min_registry_frame_share")]
    for name, low, high in bounds:
        if not low <= getattr(options, name) <= high:
            raise UsageError(f"--{name} must be between {low} and {high}")
    try:
        parse_source_limits(options.source_thresholds)
    except ValueError as e:
        raise UsageError(f"--source_thresholds {e}") from None


def suppression_list(options) -> Suppression:
    """The job's suppression list, read once by the launcher; a bad row is a UsageError."""
    try:
        return read_list(list_folder(options.output, options.suppressions))
    except SuppressionError as e:
        raise UsageError(str(e)) from None


def match_settings(options) -> MatchSettings:
    return MatchSettings(options.min_quality, options.min_matched_frame_share, options.min_registry_frame_share,
                         options.dihedral, tuple((o.name, getattr(options, o.name)) for o in signal_options()),
                         parse_source_limits(options.source_thresholds))
