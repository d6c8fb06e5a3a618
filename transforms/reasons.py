"""The closed set of stages and reason codes an object can fail with, and the error value.

Pure functions raise `MediaError(reason, detail)`; the DoFn that calls them turns it into a
`ScanError` value on its tagged `errors` output. Nothing else escapes: one bad object never stops
a run.
"""
from typing import NamedTuple, Optional

# stage -> the reasons that stage can give
REASONS = {
    "list": ("unlistable",),
    "read": ("empty", "too_large", "gone", "unreadable"),
    "decode": ("unsupported_type", "truncated", "corrupt", "too_many_pixels", "too_long", "no_video_stream"),
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
        return cls(uri, object_version, error.stage, error.reason, error.detail[:500])
