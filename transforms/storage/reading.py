"""Read one object's bytes into memory, once, under a size cap. No temporary files."""
from typing import Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.storage.stores import Stores
from transforms.storage.objects import MediaObject, is_remote
from transforms.reasons import MediaError


def read_object(obj: MediaObject, max_bytes: int, stores: Optional[Stores] = None) -> bytes:
    """The object's bytes; MediaError `too_large`, `empty`, `gone` or `unreadable` otherwise.
    Objects in gs:// and s3:// are read through `stores` (retried, pinned to the listed version)."""
    if obj.size is not None and obj.size > max_bytes:
        raise MediaError("too_large", f"{obj.size} bytes > limit {max_bytes}")
    data = stores.read(obj, max_bytes) if is_remote(obj.uri) else _read_local(obj.uri, max_bytes)
    if len(data) > max_bytes:
        raise MediaError("too_large", f"more than {max_bytes} bytes (grew after listing)")
    if not data:
        raise MediaError("empty", "0 bytes")
    return data


def _read_local(path: str, max_bytes: int) -> bytes:
    try:
        # UNCOMPRESSED: a media object named .gz must not be inflated by the filesystem layer.
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read(max_bytes + 1)
    except FileNotFoundError:
        raise MediaError("gone", "deleted between listing and reading") from None
    except (OSError, IOError) as e:
        raise MediaError("unreadable", f"{type(e).__name__}: {e}") from None
