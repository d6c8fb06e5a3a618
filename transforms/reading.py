"""Read one object's bytes into memory, once, under a size cap. No temporary files."""
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.listing import MediaObject
from transforms.reasons import MediaError


def read_object(obj: MediaObject, max_bytes: int) -> bytes:
    """The object's bytes; MediaError `too_large`, `empty`, `gone` or `unreadable` otherwise."""
    if obj.size is not None and obj.size > max_bytes:
        raise MediaError("too_large", f"{obj.size} bytes > limit {max_bytes}")
    try:
        # UNCOMPRESSED: a media object named .gz must not be inflated by the filesystem layer.
        with FileSystems.open(obj.uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise MediaError("gone", "deleted between listing and reading") from None
    except (OSError, IOError) as e:
        raise MediaError("unreadable", f"{type(e).__name__}: {e}") from None
    if len(data) > max_bytes:
        raise MediaError("too_large", f"more than {max_bytes} bytes (grew after listing)")
    if not data:
        raise MediaError("empty", "0 bytes")
    return data
