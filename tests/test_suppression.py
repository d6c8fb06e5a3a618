"""Suppression lists: rows read or refused with the file and line, what a list covers, and the
list applied in a scan, in `rematch` and in the report's queue, with a false_match verdict adding
to it (`review --suppress`)."""
import glob
import json
import os

import pytest

from pipelines import report, review, rematch, scan
from tests.conftest import add_version, write
from tests.test_matching import BASE, flip
from tests.test_nightly import entry, found, stored
from transforms.matching.suppression import SuppressionError, parse_list, read_list


def listed(text: str):
    return parse_list([("list.csv", text)])


def test_rows_are_read_and_bad_ones_refused_with_their_file_and_line(tmp_path):
    good = listed("kind,value,distance,note\nentry,TID-1,,meme\nPDQ, %s ,12,logo\nmd5,%s,,\n" % (BASE.upper(), "ab" * 16))
    assert good.rows == 3 and good.entries == {"TID-1"}
    assert good.covers({"entry_id": "TID-1", "signal_type": "pdq", "item_hash": flip(BASE, 200)})
    assert good.covers({"entry_id": "X", "signal_type": "pdq", "item_hash": flip(BASE, 12)})
    assert not good.covers({"entry_id": "X", "signal_type": "pdq", "item_hash": flip(BASE, 13)})
    assert good.covers({"entry_id": "X", "signal_type": "md5", "item_hash": "ab" * 16})
    assert not good.covers({"entry_id": "X", "signal_type": "md5", "item_hash": "ab" * 15 + "ac"})
    assert not listed("kind,value\n") and not listed("kind,value\n").covers({"entry_id": "TID-1"})
    for text, said in (
        ("value,distance\nTID-1,0\n", "no column kind"),
        ("kind,value,distance\nentry,TID-1,\npdq,zz,3\n", "line 3: pdq value 'zz' is malformed (not_hex)"),
        (f"kind,value,distance\npdq,{BASE},\n", "line 2: a pdq row needs a whole number `distance`"),
        (f"kind,value,distance\npdq,{BASE},-1\n", "line 2: a pdq row needs a whole number"),
        ("kind,value,distance\nmd5,%s,3\n" % ("ab" * 16), "md5 matches exactly"),
        ("kind,value,distance\ntmk_pdqf,ab,3\n", "kind 'tmk_pdqf' is not one of entry, "),
        ("kind,value,distance\nentry,,\n", "an entry row needs the entry id"),
    ):
        with pytest.raises(SuppressionError, match=said.replace("(", r"\(").replace(")", r"\)")):
            listed(text)
    write(str(tmp_path / "l" / "latin.csv"), "kind,value\nentry,caf\xe9\n".encode("latin-1"))
    with pytest.raises(SuppressionError, match="is not UTF-8"):
        read_list(str(tmp_path / "l"))
    assert read_list(str(tmp_path / "none")).rows == 0


def night(media, registry, output, *flags):
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}", *flags]) == 0
    run = sorted(glob.glob(os.path.join(output, "run=*")))[-1]
    with open(os.path.join(run, "summary.json")) as f:
        return run, json.load(f)


def test_false_matches_suppressed_in_the_scan_rematch_and_report(tmp_path, capsys):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    for name, seed in (("a.jpg", 661), ("b.jpg", 662), ("c.jpg", 663)):
        write(os.path.join(media, name), stored(seed, "plain"))
    add_version(registry, "v1", [entry("A", 661), entry("B", 662), entry("C", 663)])
    first, summary = night(media, registry, output)
    assert [(uri, e) for uri, e, _ in found(first)] == [("a.jpg", "A"), ("b.jpg", "B"), ("c.jpg", "C")]
    assert summary["suppressed"] == 0

    from transforms.reports.view import read_report
    ids = {os.path.basename(r["uri"]): r["match_id"] for r in read_report(output, [os.path.basename(first)[4:]]).matches}
    base = [output, "--verdict=false_match", "--reviewer=r1"]
    assert review.main([*base, f"--match={ids['b.jpg']}", "--suppress=entry"]) == 0
    assert review.main([*base, f"--match={ids['c.jpg']}", "--suppress=hash", "--suppress_distance=8"]) == 0
    assert review.main([*base[:1], "--verdict=confirmed", f"--match={ids['a.jpg']}", "--suppress=entry"]) == 2
    assert "--suppress goes with --verdict false_match only" in capsys.readouterr().err
    assert read_list(os.path.join(output, "suppressions")).rows == 2

    # a rematch of the stored hashes, and a scan of the same media into a new output sharing the list
    hashes = os.path.join(output, "hashes")
    assert rematch.main([f"--hashes={hashes}", f"--registry={registry}", f"--output={tmp_path / 'r'}",
                         f"--suppressions={output}/suppressions"]) == 0
    (again,) = glob.glob(str(tmp_path / "r" / "run=*"))
    with open(os.path.join(again, "summary.json")) as f:
        summary = json.load(f)
    assert [e for _, e, _ in found(again)] == ["A"] and summary["suppressed"] == 2 and summary["matches"] == 1
    fresh, summary = night(media, registry, str(tmp_path / "fresh"), f"--suppressions={output}/suppressions")
    assert [e for _, e, _ in found(fresh)] == ["A"] and summary["suppressed"] == 2
    assert summary["suppression_rows"] == 2

    # the report of the first night, before any suppression, now queues A only
    capsys.readouterr()
    assert report.main([output, f"--csv={tmp_path / 'q.csv'}"]) == 0
    assert "suppressed (the platform's false matches): 0 when found, 2 more by the list since (2 list rows)" \
        in capsys.readouterr().out
    with open(tmp_path / "q.csv") as f:
        assert [line.split(",")[5] for line in f.read().splitlines()[1:]] == ["A"]

    write(os.path.join(output, "suppressions", "hand.csv"), b"kind,value,distance\nsha1,xyz,\n")
    assert report.main([output]) == 2
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 2
    assert "hand.csv line 2: sha1 value 'xyz' is malformed" in capsys.readouterr().err
