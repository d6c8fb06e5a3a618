"""Local folders: the walk, URIs for any file name, and reads that cannot block.

The walk lists regular files only. Symbolic links are not followed unless asked, and even then
never to a path outside the folder scanned; FIFOs, sockets and devices are never opened. Each of
these still gets an error row (reason `special_file`, `symlink_skipped` or `outside_media`), so
that every entry of the folder is counted. A file name that is not UTF-8 (or holds a `%`) gets a
URI with its bytes percent-encoded, as file:// URIs do; `local_path` turns it back.
"""
import errno
import os
import shutil
import stat
from typing import Iterator, Set, Union
from urllib.parse import quote, unquote_to_bytes

from transforms.reasons import MediaError, ScanError, stable_detail
from transforms.storage.objects import MediaObject

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def local_uri(path: str) -> str:
    """The path itself when it is UTF-8 without '%'; otherwise its bytes percent-encoded."""
    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return quote(raw, safe="/")
    return quote(raw, safe="/") if "%" in text else text


def local_path(uri: str) -> str:
    """The file a local URI names (see local_uri)."""
    return os.fsdecode(unquote_to_bytes(uri)) if "%" in uri else uri


def local_version(st: os.stat_result) -> str:
    return f"{st.st_size}-{st.st_mtime_ns}"


def copy_local(obj: MediaObject, root: str, remove: bool = False) -> str:
    """A listed file copied below the folder `root` (at its own absolute path under it), and
    removed after when `remove`; MediaError `gone` when the file is no longer the listed version,
    ValueError when the copy would land outside `root`.
    Symbolic links are never followed, and nothing is written outside `root`."""
    path = local_path(obj.uri)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise MediaError("gone", "deleted since listing") from None
    if not stat.S_ISREG(st.st_mode) or local_version(st) != obj.version:
        raise MediaError("gone", "replaced since listing")
    root = os.path.abspath(root)
    target = os.path.normpath(os.path.join(root, os.path.abspath(path).lstrip(os.sep)))
    if not _inside(target, root) or _inside(os.path.abspath(path), root):
        raise ValueError("the copy would not be below the target folder, or the file is in it already")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(path, target, follow_symlinks=False)
    if remove:
        os.remove(path)
    return target


def _error(path: str, reason: str, detail: str) -> ScanError:
    return ScanError(local_uri(path), None, "list", reason, stable_detail(detail))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def list_local(root: str, follow_symlinks: bool = False) -> Iterator[Union[MediaObject, ScanError]]:
    """Every regular file under a local folder (recursively, in a stable order), or the file itself;
    an error row for every other entry."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        yield from _entry(root, os.path.realpath(root), follow_symlinks, set(), given=True)
        return
    real_root = os.path.realpath(root)
    yield from _folder(root, real_root, follow_symlinks, {real_root})


def _folder(folder: str, real_root: str, follow: bool, visited: Set[str]) -> Iterator:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: os.fsencode(e.name))
    except OSError as e:
        yield _error(folder, "prefix_unlistable", f"{type(e).__name__}: {e.strerror}")
        return
    for entry in entries:
        yield from _entry(entry.path, real_root, follow, visited)


def _entry(path: str, real_root: str, follow: bool, visited: Set[str], given: bool = False) -> Iterator:
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) and not given:
            if not follow:
                yield _error(path, "symlink_skipped", "a symbolic link (--follow_symlinks follows links inside --media)")
                return
            target = os.path.realpath(path)
            if not _inside(target, real_root):
                yield _error(path, "outside_media", "a symbolic link to a path outside --media")
                return
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                if target in visited:
                    yield _error(path, "symlink_skipped", "a symbolic link to a folder listed already")
                    return
                visited.add(target)
        elif given:
            st = os.stat(path)
    except OSError as e:
        yield _error(path, "unlistable", f"{type(e).__name__}: {e.strerror}")
        return
    if stat.S_ISDIR(st.st_mode):
        yield from _folder(path, real_root, follow, visited)
    elif stat.S_ISREG(st.st_mode):
        yield MediaObject(local_uri(path), local_version(st), st.st_size)
    else:
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        yield _error(path, "special_file", f"{kind}: never opened")


def read_local(uri: str, max_bytes: int, follow_symlinks: bool = False) -> bytes:
    """Up to max_bytes + 1 bytes of a regular file. Opened without blocking (a FIFO put in its
    place since listing cannot hang the read) and, unless following, without following a link."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(local_path(uri), flags)
    except FileNotFoundError:
        raise MediaError("gone", "deleted between listing and reading") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise MediaError("unreadable", "became a symbolic link after listing") from None
        raise MediaError("unreadable", f"{type(e).__name__}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MediaError("unreadable", "not a regular file any more")
        try:
            return f.read(max_bytes + 1)
        except OSError as e:
            raise MediaError("unreadable", f"{type(e).__name__}: {e.strerror}") from None
