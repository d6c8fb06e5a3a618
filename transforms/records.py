"""The record that passes between the stages of a scan: an object's hashes, from hashing to the
hash store and to matching. It lives on a floor of its own so that those stages import it
without importing one another (or the decoders)."""
from dataclasses import dataclass
from typing import Mapping, Tuple

from transforms.signals.base import SignalHash


@dataclass(frozen=True)
class MediaHashes:
    """Everything the scan keeps of one object: its hashes of every signal type, by type."""

    uri: str
    object_version: str
    media_type: str  # "image" | "video"
    hashes: Mapping[str, Tuple[SignalHash, ...]]  # signal type -> its hashes of the object
    partial: bool = False  # only part of it could be decoded (a video that ends early)
