"""Hostile local folders: special files, links in and out, names that are not UTF-8. Every entry
ends in exactly one row, nothing outside --media is read, and nothing blocks."""
import json
import os
import socket

import pytest

from pipelines import scan
from tests.conftest import write
from tests.media import encode, photo
from transforms.reasons import MediaError, ScanError
from transforms.storage.local import list_local, local_path, local_uri, read_local


def add_special_entries(media, outside) -> None:
    """A FIFO, a socket, and links: to media/plain.jpg, to outside/secret.jpg, to /dev/zero, to the
    outside folder."""
    os.mkfifo(media / "x.jpg")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(media / "sock.jpg"))
    os.symlink(media / "plain.jpg", media / "link-in.jpg")
    os.symlink(outside / "secret.jpg", media / "link-out.jpg")
    os.symlink("/dev/zero", media / "zero.jpg")
    os.symlink(outside, media / "folder-out")


@pytest.fixture
def hostile(tmp_path):
    media, outside = tmp_path / "media", tmp_path / "outside"
    picture = encode(photo(3, 64, 48), "JPEG")
    write(str(media / "plain.jpg"), picture)
    write(str(outside / "secret.jpg"), picture)
    write(str(media / "sub" / "inner.jpg"), picture)
    add_special_entries(media, outside)
    os.symlink(media / "sub", media / "folder-link")
    with open(os.path.join(os.fsencode(media), b"upload_\xfe\xff.jpg"), "wb") as f:
        f.write(picture)
    write(str(media / "100%.jpg"), picture)
    return media


def outcome(items):
    return {os.path.basename(local_path(i.uri)): (i.reason if isinstance(i, ScanError) else "object") for i in items}


def test_every_entry_gets_exactly_one_row_and_only_regular_files_are_objects(hostile):
    assert outcome(list_local(str(hostile))) == {
        "plain.jpg": "object", "inner.jpg": "object", "upload_\udcfe\udcff.jpg": "object", "100%.jpg": "object",
        "x.jpg": "special_file", "sock.jpg": "special_file",
        "link-in.jpg": "symlink_skipped", "link-out.jpg": "symlink_skipped", "zero.jpg": "symlink_skipped",
        "folder-link": "symlink_skipped", "folder-out": "symlink_skipped",
    }


def test_followed_links_stay_inside_the_media_folder(hostile):
    items = list(list_local(str(hostile), follow_symlinks=True))
    rows = {local_path(i.uri)[len(str(hostile)) + 1:]: (i.reason if isinstance(i, ScanError) else "object") for i in items}
    assert rows["link-in.jpg"] == "object" and rows["folder-link/inner.jpg"] == "object"
    assert rows["link-out.jpg"] == rows["zero.jpg"] == rows["folder-out"] == "outside_media"
    assert not any("secret" in path for path in rows)


def test_names_that_are_not_utf8_keep_their_bytes_in_the_uri():
    raw = "/m/upload_" + os.fsdecode(b"\xfe\xff") + ".jpg"
    assert local_uri(raw) == "/m/upload_%FE%FF.jpg" and local_path(local_uri(raw)) == raw
    assert local_uri("/m/100%.jpg") == "/m/100%25.jpg" and local_path("/m/100%25.jpg") == "/m/100%.jpg"
    assert local_uri("/m/café.jpg") == "/m/café.jpg"
    local_uri(raw).encode("utf-8")  # what Beam's coders need


def test_a_read_never_blocks_on_a_fifo_or_follows_a_link_it_was_not_asked_to(hostile):
    with pytest.raises(MediaError) as fifo:
        read_local(str(hostile / "x.jpg"), 100)
    assert fifo.value.reason == "unreadable"
    with pytest.raises(MediaError) as link:
        read_local(str(hostile / "zero.jpg"), 100)
    assert link.value.reason == "unreadable"
    assert read_local(str(hostile / "link-in.jpg"), 10, follow_symlinks=True)


def test_a_hostile_folder_scans_to_the_end_with_every_entry_counted(hostile, tmp_path, capsys):
    argv = [f"--media={hostile}", f"--registry={os.path.dirname(__file__)}/../pipelines/sample/registry",
            f"--output={tmp_path / 'out'}"]
    assert scan.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["listed"] == 11 and summary["hashed"] == 4 and summary["failed"] == 7
    assert summary["listed"] == summary["unchanged_skipped"] + summary["hashed"] + summary["failed"]
