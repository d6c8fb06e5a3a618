"""Read one object's bytes into memory, once, under a size cap. No temporary files."""
from typing import Optional

from transforms.storage.local import read_local
from transforms.storage.stores import Stores
from transforms.storage.objects import MediaObject, is_remote
from transforms.reasons import MediaError


def read_object(obj: MediaObject, max_bytes: int, stores: Optional[Stores] = None,
                follow_symlinks: bool = False) -> bytes:
    """The object's bytes; MediaError `too_large`, `empty`, `gone` or `unreadable` otherwise.
    Objects in gs:// and s3:// are read through `stores` (retried, pinned to the listed version)."""
    if obj.size is not None and obj.size > max_bytes:
        raise MediaError("too_large", f"{obj.size} bytes > limit {max_bytes}")
    data = stores.read(obj, max_bytes) if is_remote(obj.uri) else read_local(obj.uri, max_bytes, follow_symlinks)
    if len(data) > max_bytes:
        raise MediaError("too_large", f"more than {max_bytes} bytes (grew after listing)")
    if not data:
        raise MediaError("empty", "0 bytes")
    return data
