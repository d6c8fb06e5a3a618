"""The closed set of stages and reason codes an object can fail with, and the error value.

Pure functions raise `MediaError(reason, detail)`; the DoFn that calls them turns it into a
`ScanError` value on its tagged `errors` output. Nothing else escapes: one bad object never stops
a run.
"""
import re
from typing import NamedTuple, Optional

# stage -> the reasons that stage can give
REASONS = {
    # prefix_unlistable: a folder, bucket prefix or inventory file whose objects are unknown (not
    # counted as objects); the others stand for one listed entry each
    "list": ("prefix_unlistable", "unlistable", "special_file", "symlink_skipped", "outside_media"),
    "read": ("empty", "too_large", "gone", "unreadable"),
    # over_budget: decoding would cost, or did cost, more CPU than the object's budget (media/costs.py)
    "decode": ("unsupported_type", "truncated", "corrupt", "too_many_pixels", "too_long", "no_video_stream",
               "over_budget"),
    "hash": ("hash_failed",),
}
STAGE_OF = {reason: stage for stage, reasons in REASONS.items() for reason in reasons}


class MediaError(Exception):
    """A reason code (one of REASONS) and a short human-readable detail."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in STAGE_OF:
            raise ValueError(f"unknown reason code {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def stage(self) -> str:
        return STAGE_OF[self.reason]


class ScanError(NamedTuple):
    """One object that could not be hashed: a row of `errors/`."""

    uri: str
    object_version: Optional[str]
    stage: str
    reason: str
    detail: str

    @classmethod
    def of(cls, uri: str, object_version: Optional[str], error: MediaError) -> "ScanError":
        return cls(uri, object_version, error.stage, error.reason, stable_detail(error.detail))


_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")
_TEMP_PATH = re.compile(r"/tmp/[\w.-]+")
DETAIL_CHARS = 300


def stable_detail(detail: str) -> str:
    """A detail that is the same every run for the same file: no memory addresses (a decoder's
    `<_io.BytesIO object at 0x7f...>`) or temporary paths, and short."""
    detail = _TEMP_PATH.sub("<temp>", _ADDRESS.sub(r"<\1>", detail))
    return detail if len(detail) <= DETAIL_CHARS else detail[: DETAIL_CHARS - 3] + "..."
