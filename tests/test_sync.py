"""`takedown-scan sync` against local servers that speak NCMEC's and StopNCII's protocols: complete
versions with entries out of time order, updates and deletes, windows too full, faults, refused
credentials, a sync killed mid-way and resumed, and sync -> scan -> sync -> scan end to end."""
import base64
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines import cli, scan, sync
from tests.conftest import REPO, write
from tests.feeds import NcmecEntry, NcmecServer, StopnciiServer, iso
from tests.media import encode, pdq_of_rgb, photo
from transforms.registry import ncmec, stopncii
from transforms.registry.feed import Record, newest, records_table
from transforms.registry.journal import Journal
from transforms.registry.snapshots import complete_versions, load_registry, resolve_snapshot
from transforms.signals.tmk import TmkFeatures

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
BURST = T0 + 200 * 86400  # one second that holds more entries than a window may
MEMBER, OTHER = "7", "9"


def pdq(seed) -> str:
    return hashlib.sha256(f"pdq-{seed}".encode()).hexdigest()


def md5(seed) -> str:
    return hashlib.md5(f"md5-{seed}".encode()).hexdigest()


def run(capsys, argv, env):
    """sync.main in this process with env set; (exit status, stdout, stderr)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        status = sync.main(argv)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out, err = capsys.readouterr()
    return status, out, err


def ncmec_env(server):
    return {"TAKEDOWN_NCMEC_CREDENTIALS": f"{server.user}:{server.password}"}


def datetime_now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ncmec_argv(server, root, *extra):
    return ["ncmec", f"--registry={root}", f"--api-url={server.url}", f"--member-id={MEMBER}",
            "--max-window-entries=30", "--retry-wait-s=0.01", *extra]


def table(root, name="ncmec.parquet"):
    version = complete_versions(str(root))[-1]
    return pq.read_table(os.path.join(version, name))


def rows(root, name="ncmec.parquet"):
    t = table(root, name)
    return set(zip(t["entry_id"].to_pylist(), t["signal_type"].to_pylist(), t["signal_value"].to_pylist()))


def expected_rows(server, members=(MEMBER,)):
    """What a complete sync must hold: the newest record of every entry, unless deleted, of the
    members kept, with every fingerprint sent by value (a malformed PDQ is quarantined instead)."""
    newest = {}
    for e in server.log:
        key = (e.member, e.id)
        if key not in newest or e.ts >= newest[key].ts:
            newest[key] = e
    valid, bad = set(), set()
    for e in newest.values():
        if e.deleted or e.member not in members:
            continue
        for name, value in e.fingerprints.items():
            if value.startswith("link:"):
                if value[5:] not in server.linked:
                    continue
                value = server.linked[value[5:]].hex()
            kind = name.lower().replace("-", "_")
            row = (f"ncmec:{e.member}-{e.id}", kind, value.lower() if kind in ("pdq", "md5", "sha1") else value)
            (bad if name == "pdq" and len(value) != 64 else valid).add(row)
    return valid, bad


def ncmec_registry(server):
    for i in range(40):  # spread over months, out of time order in each window
        server.log.append(NcmecEntry(MEMBER, f"img{i}", T0 + i * 7 * 3600 * 11, fingerprints={"pdq": pdq(i), "md5": md5(i)}))
    for i in range(45):
        server.log.append(NcmecEntry(MEMBER, f"burst{i}", BURST, fingerprints={"pdq": pdq(1000 + i)}))
    for i in range(10):
        server.log.append(NcmecEntry(OTHER, f"other{i}", T0 + i * 5000, fingerprints={"pdq": pdq(2000 + i)}))
    server.log += [
        # an update: the newer record is listed before the older one in some window
        NcmecEntry(MEMBER, "upd", T0 + 10 * 86400 + 60, fingerprints={"pdq": pdq("upd-new")}, classification="B2"),
        NcmecEntry(MEMBER, "upd", T0 + 10 * 86400, fingerprints={"pdq": pdq("upd-old")}),
        NcmecEntry(MEMBER, "gone", T0 + 11 * 86400, fingerprints={"pdq": pdq("gone")}),
        NcmecEntry(MEMBER, "gone", T0 + 60 * 86400, deleted=True),
        NcmecEntry(MEMBER, "vid", T0 + 12 * 86400, kind="video",
                   fingerprints={"md5": md5("vid"), "sha1": hashlib.sha1(b"vid").hexdigest(),
                                 "tmk-pdqf": "link:/v2/entries/vid/fingerprints/TMK_PDQF",
                                 "videntifier": "link:/v2/entries/vid/fingerprints/VIDENTIFIER"}),
        # a link the API cannot answer, one to another server (never sent the credentials)
        NcmecEntry(MEMBER, "vid-missing", T0 + 12 * 86400 + 1, kind="video",
                   fingerprints={"md5": md5("vid-missing"), "tmk-pdqf": "link:/v2/entries/vid-missing/fingerprints/TMK_PDQF"}),
        NcmecEntry(MEMBER, "vid-elsewhere", T0 + 12 * 86400 + 2, kind="video",
                   fingerprints={"md5": md5("vid-elsewhere"), "tmk-pdqf": "link:https://elsewhere.example/TMK_PDQF"}),
        NcmecEntry(MEMBER, "pdna", T0 + 13 * 86400, fingerprints={"pdna": "c29tZSBwaG90b0ROQQ=="}),
        NcmecEntry(MEMBER, "bad", T0 + 14 * 86400, fingerprints={"pdq": "not-a-pdq-hash"}),
    ]


def tmk_value(seed) -> bytes:
    """A well-formed TMK+PDQF value (random features)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha1(str(seed).encode()).digest()[:4], "big"))
    shape = (4, 32, 256)
    return TmkFeatures(30, rng.normal(size=256).astype(np.float32), rng.normal(size=shape).astype(np.float32),
                       rng.normal(size=shape).astype(np.float32)).to_bytes()


@pytest.fixture
def ncmec_server():
    server = NcmecServer()
    ncmec_registry(server)
    server.linked["/v2/entries/vid/fingerprints/TMK_PDQF"] = tmk_value("vid")
    yield server
    server.close()


@pytest.fixture
def stopncii_server():
    server = StopnciiServer()
    yield server
    server.close()


def test_the_newest_record_of_an_entry_wins_whatever_the_order():
    old, new, gone = (Record("e", 10, False, (("pdq", pdq(1)),)), Record("e", 20, False, (("pdq", pdq(2)),)),
                      Record("e", 30, True))
    other, later_same_time = Record("f", 5, False, (("md5", md5(1)),)), Record("f", 5, False, (("md5", md5(2)),))
    for order in ((old, new), (new, old)):
        assert newest(records_table(list(order))).to_pylist() == records_table([new]).to_pylist()
    assert (newest(records_table([gone, other, new, old, later_same_time])).to_pylist()
            == records_table([gone, later_same_time]).to_pylist())
    assert newest(records_table([])).num_rows == 0


def test_ncmec_sync_writes_a_complete_version(ncmec_server, tmp_path, capsys):
    root = tmp_path / "registry"
    ncmec_server.faults = {4: 503, 9: 429}
    status, out, err = run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))
    assert status == 0, err
    valid, bad = expected_rows(ncmec_server)
    assert rows(root) == valid
    quarantined = rows(root, "quarantine/ncmec.parquet")
    assert quarantined == {("ncmec:7-bad", "pdq", "not-a-pdq-hash")}
    t = table(root).to_pylist()
    upd = [r for r in t if r["entry_id"] == "ncmec:7-upd"]
    assert [r["classification"] for r in upd] == ["B2"] and upd[0]["status"] == "active"
    assert {r["source"] for r in t} == {"ncmec"} and {r["member_id"] for r in t} == {MEMBER}
    # the faults were retried, a full window was shrunk, the burst second paged through
    statuses = [ncmec_server.requests[i - 1][0] for i in (4, 9)]
    assert all(p.endswith(("/v2/entries", "/v2/status")) for p in statuses)
    windows = ncmec_server.windows()
    firsts = [w for w in windows if w[2] is None]
    assert any(a[0] == b[0] and a[1] > b[1] for a, b in zip(firsts, firsts[1:])), "no window was shrunk"
    assert len({r[0] for r in valid if "burst" in r[0]}) == 45
    # the manifest: checkpoint, counts, a sha256 per file; the scan's loader reads the version
    version = complete_versions(str(root))[-1]
    manifest = json.load(open(os.path.join(version, "manifest.json")))
    facts = manifest["sources"]["ncmec"]
    assert facts["checkpoint"]["cursor"] is None and facts["checkpoint"]["from"] > BURST
    assert facts["quarantined_rows"] == 1
    assert {k: v for k, v in facts["skipped"].items() if k.startswith("linked")} == {
        "linked_fetched:tmk_pdqf": 1, "linked_missing:tmk_pdqf": 1, "linked_elsewhere:tmk_pdqf": 1,
        "linked_skipped:videntifier": 1}
    assert ("ncmec:7-vid", "tmk_pdqf", tmk_value("vid").hex()) in rows(root)
    for name, file_facts in manifest["files"].items():
        data = open(os.path.join(version, name), "rb").read()
        assert hashlib.sha256(data).hexdigest() == file_facts["sha256"]
    registry = load_registry(resolve_snapshot(str(root)))
    assert registry.version == os.path.basename(version) and registry.rejects == []
    assert registry.skipped_by_type == {"pdna": 1}
    summary = json.loads(out)
    assert summary["entries"] == len({r[0] for r in valid}) and summary["rows"] == len(valid)
    # no credential anywhere: output, logs, files of the root
    for text in (out, err):
        assert ncmec_server.password not in text
    for path in glob.glob(str(root / "**" / "*"), recursive=True):
        if os.path.isfile(path):
            assert ncmec_server.password.encode() not in open(path, "rb").read()
    assert not os.path.exists(root / "_sync" / "ncmec"), "the journal outlived its version"


def test_ncmec_update_and_delete_of_earlier_entries(ncmec_server, tmp_path, capsys):
    root = tmp_path / "registry"
    assert run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))[0] == 0
    first = {r["entry_id"]: r for r in table(root).to_pylist()}
    checkpoint = json.load(open(os.path.join(complete_versions(str(root))[-1], "manifest.json")))["sources"]["ncmec"]["checkpoint"]
    now = checkpoint["from"]  # the next window starts there (its from is inclusive)
    while ncmec.window_end_now() <= now:  # and ends at least a second later
        time.sleep(0.1)
    ncmec_server.log += [
        NcmecEntry(MEMBER, "img3", now, fingerprints={"pdq": pdq("img3-new")}),
        NcmecEntry(MEMBER, "img4", now, deleted=True),
        NcmecEntry(MEMBER, "new", now, fingerprints={"md5": md5("new")}),
    ]
    served = len(ncmec_server.requests)
    status, out, err = run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))
    assert status == 0, err
    assert rows(root) == expected_rows(ncmec_server)[0]
    second = {r["entry_id"]: r for r in table(root).to_pylist() if r["signal_type"] == "pdq"}
    assert second["ncmec:7-img3"]["signal_value"] == pdq("img3-new")
    assert second["ncmec:7-img3"]["added_at"] == first["ncmec:7-img3"]["added_at"] != second["ncmec:7-img3"]["updated_at"]
    assert "ncmec:7-img4" not in second
    # when this platform first fetched an entry: kept through its update, today's for a new one
    assert second["ncmec:7-img3"]["seen_at"] == first["ncmec:7-img3"]["seen_at"] <= datetime_now_iso()
    assert {r["entry_id"]: r["seen_at"] for r in table(root).to_pylist()}["ncmec:7-new"] >= first["ncmec:7-img3"]["seen_at"]
    # the second sync asked only for what changed since the checkpoint, less the overlap
    later = [(q["from"], q["to"]) for p, q in ncmec_server.requests[served:] if p.endswith("/v2/entries")]
    assert later and all(w[0] >= iso(checkpoint["from"] - sync.OVERLAP_S) for w in later)
    assert len(complete_versions(str(root))) == 2


def test_a_sync_larger_than_its_memory_budget_merges_by_buckets_to_the_same_version(ncmec_server, tmp_path, capsys):
    whole, bounded = tmp_path / "whole", tmp_path / "bounded"

    def both():
        facts = []
        for root, extra in ((whole, ()), (bounded, ("--merge-rows=7",))):
            status, out, err = run(capsys, ncmec_argv(ncmec_server, root, *extra), ncmec_env(ncmec_server))
            assert status == 0, err
            facts.append(json.loads(out))
        for name in ("ncmec.parquet", "quarantine/ncmec.parquet"):  # all but the fetch times, seconds apart
            kept = lambda root: sorted(table(root, name).drop_columns(["seen_at"]).to_pylist(), key=str)  # noqa: E731
            assert kept(bounded) == kept(whole)
        counted = ("rows", "entries", "quarantined_rows", "entries_changed", "entries_removed")
        assert [{k: f[k] for k in counted} for f in facts] == [{k: facts[0][k] for k in counted}] * 2
        return facts

    first = both()
    assert first[0]["merge_buckets"] == 1 and first[1]["merge_buckets"] == -(-first[1]["records_fetched"] // 7) > 1
    assert first[0]["entries"] == len({e for e, _, _ in rows(whole)}) and table(whole, "quarantine/ncmec.parquet").num_rows
    now = first[0]["checkpoint"]["from"]
    while ncmec.window_end_now() <= now:
        time.sleep(0.1)
    ncmec_server.log += [NcmecEntry(MEMBER, f"img{i}", now, fingerprints={"pdq": pdq(f"img{i}-new")}) for i in range(3, 40)]
    ncmec_server.log += [NcmecEntry(MEMBER, "img2", now, deleted=True)]
    second = both()  # the previous version's rows split into buckets too, each entry keeping its added_at
    assert second[1]["merge_buckets"] > 1 and second[0]["entries_removed"] == 1
    assert rows(bounded) == expected_rows(ncmec_server)[0]


@pytest.mark.parametrize("overlap_s, found", [(None, True), (0, False)])
def test_an_entry_made_visible_late_under_an_older_time_is_fetched_by_the_next_sync(
        ncmec_server, tmp_path, capsys, overlap_s, found):
    root = tmp_path / "registry"
    assert run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))[0] == 0
    checkpoint = json.load(open(os.path.join(complete_versions(str(root))[-1], "manifest.json")))["sources"]["ncmec"]["checkpoint"]
    # published after the first sync, stamped ten minutes before its checkpoint
    ncmec_server.log.append(NcmecEntry(MEMBER, "late", checkpoint["from"] - 600, fingerprints={"md5": md5("late")}))
    argv = ncmec_argv(ncmec_server, root) + ([f"--overlap-s={overlap_s}"] if overlap_s is not None else [])
    status, out, err = run(capsys, argv, ncmec_env(ncmec_server))
    assert status == 0, err
    assert ("ncmec:7-late" in set(table(root)["entry_id"].to_pylist())) is found


def test_ncmec_sync_killed_mid_way_resumes_and_equals_an_uninterrupted_one(ncmec_server, tmp_path, capsys):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run(capsys, ncmec_argv(ncmec_server, whole), ncmec_env(ncmec_server))[0] == 0
    # hold the third page of the burst second, then kill the sync there
    burst = iso(BURST)
    ncmec_server.hold_if = lambda path, q: path.endswith("/v2/entries") and q.get("start") == "21" and q["from"] <= burst <= q["to"]
    env = dict(os.environ, **ncmec_env(ncmec_server))
    process = subprocess.Popen([sys.executable, "-m", "pipelines.sync", *ncmec_argv(ncmec_server, cut, "--journal-every=5")],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert ncmec_server.held.wait(120), "the sync never reached the burst's third page"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        ncmec_server.release.set()
    assert complete_versions(str(cut)) == [], "a killed sync left a version"
    progress = json.load(open(cut / "_sync" / "ncmec" / "progress.json"))
    assert progress["position"]["cursor"] and progress["pages"] >= 1
    served = len(ncmec_server.requests)
    status, out, err = run(capsys, ncmec_argv(ncmec_server, cut, "--journal-every=5"), ncmec_env(ncmec_server))
    assert status == 0, err
    assert "resuming an unfinished sync" in err
    resumed = [q for p, q in ncmec_server.requests[served:] if p.endswith("/v2/entries")]
    assert resumed[0].get("start") and resumed[0]["to"] == progress["position"]["cursor"]["next"].split("to=")[1].split("&")[0].replace("%3A", ":")
    # the same rows, but for when each entry was fetched: before the kill, or after the resume
    assert table(cut).drop_columns(["seen_at"]).equals(table(whole).drop_columns(["seen_at"]))


def test_ncmec_refused_credentials_leave_the_root_as_it_was(ncmec_server, tmp_path, capsys):
    root = tmp_path / "registry"
    status, out, err = run(capsys, ncmec_argv(ncmec_server, root), {"TAKEDOWN_NCMEC_CREDENTIALS": "platform:wrong-pw"})
    assert status == 2 and out == ""
    assert err.strip().count("\n") == 0 and "credentials were refused" in err and "wrong-pw" not in err
    assert not os.path.exists(root)
    status, out, err = run(capsys, ncmec_argv(ncmec_server, root), {"TAKEDOWN_NCMEC_CREDENTIALS": "no-colon"})
    assert status == 2 and "user:password" in err and "no-colon" not in err


def test_ncmec_unreachable_or_unparsable_keeps_the_last_good_version(ncmec_server, tmp_path, capsys):
    root = tmp_path / "registry"
    assert run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))[0] == 0
    good = complete_versions(str(root))
    ncmec_server.faults = {n: 503 for n in range(len(ncmec_server.requests) + 1, len(ncmec_server.requests) + 50)}
    status, out, err = run(capsys, ncmec_argv(ncmec_server, root, "--retries=2"), ncmec_env(ncmec_server))
    assert status == 2 and "after 3 tries" in err and err.strip().splitlines()[-1].startswith("takedown-scan: ncmec")
    ncmec_server.faults = {}
    ncmec_server.answer = lambda path, query: (200, b"<queryResult><images>", "application/xml")
    status, out, err = run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))
    assert status == 2 and "not XML" in err.strip().splitlines()[-1]
    assert complete_versions(str(root)) == good


def test_stopncii_sync_drops_withdrawn_and_deleted_hashes(stopncii_server, tmp_path, capsys):
    server, root = stopncii_server, tmp_path / "registry"
    for i in range(120):
        server.put(pdq(i), T0 + i * 60)
    server.put(md5("video"), T0 + 10, signal_type="VideoMD5")
    video_tmk = base64.b64encode(tmk_value("stop")).decode()  # a large value, sent as base64
    server.put(video_tmk, T0 + 11, signal_type="VideoTMK")
    server.put(pdq("odd"), T0 + 12, signal_type="ImageFooHash")
    server.put(pdq("strange"), T0 + 13, status="Quarantined")
    server.put(pdq("early-withdrawn"), T0 + 14, status="Withdrawn")
    server.put(pdq("early-deleted"), T0 + 15, status="Deleted")
    server.put("nothex", T0 + 16)
    server.faults = {2: 429, 3: 503}
    env = {"TAKEDOWN_STOPNCII_KEYS": f"{server.fetch_key},{server.subscription_key}"}
    argv = ["stopncii", f"--registry={root}", f"--api-url={server.url}", "--retry-wait-s=0.01", "--page-size=40"]
    status, out, err = run(capsys, argv, env)
    assert status == 0, err
    got = rows(root, "stopncii.parquet")
    assert ("stopncii:" + pdq("early-withdrawn"), "pdq", pdq("early-withdrawn")) not in got
    assert ("stopncii:" + pdq("early-deleted"), "pdq", pdq("early-deleted")) not in got
    assert {("stopncii:" + pdq(i), "pdq", pdq(i)) for i in range(120)} <= got
    assert ("stopncii:" + md5("video"), "md5", md5("video")) in got
    assert ("stopncii:sha256:" + hashlib.sha256(video_tmk.encode()).hexdigest(), "tmk_pdqf",
            tmk_value("stop").hex()) in got
    assert ("stopncii:" + pdq("odd"), "imagefoohash", pdq("odd")) in got
    assert ("stopncii:" + pdq("strange"), "pdq", pdq("strange")) in got
    assert rows(root, "quarantine/stopncii.parquet") == {("stopncii:nothex", "pdq", "nothex")}
    facts = json.loads(out)
    assert facts["skipped"] == {"unknown_signal_type:ImageFooHash": 1, "unknown_status:Quarantined": 1}
    assert len([p for p, q in server.requests if "nextPageToken" in q]) >= 3
    # night two: a withdrawal, a deletion, an update, a new hash; fetched from the checkpoint (less the overlap) on
    checkpoint = facts["checkpoint"]
    later = checkpoint["start"] + 100
    server.put(pdq(1), later, status="Withdrawn")
    server.put(pdq(2), later, status="Deleted")
    server.put(pdq(3), later, status="Active", cases=("case-1", "case-2"))
    server.put(pdq("new"), later)
    served = len(server.requests)
    status, out, err = run(capsys, argv, env)
    assert status == 0, err
    got = rows(root, "stopncii.parquet")
    assert not {("stopncii:" + pdq(i), "pdq", pdq(i)) for i in (1, 2)} & got
    assert ("stopncii:" + pdq("new"), "pdq", pdq("new")) in got
    three = [r for r in table(root, "stopncii.parquet").to_pylist() if r["entry_id"] == "stopncii:" + pdq(3)]
    assert three[0]["case_numbers"] == "case-1,case-2" and three[0]["regions"] == "US"
    overlapped = max(stopncii.DEFAULT_START, checkpoint["start"] - sync.OVERLAP_S)
    assert all(int(q["startTimestamp"]) == overlapped for p, q in server.requests[served:])
    assert f"{server.fetch_key}" not in err + out and server.subscription_key not in err + out


def test_versions_carry_other_sources_forward_and_keep_prunes(ncmec_server, stopncii_server, tmp_path, capsys):
    root = tmp_path / "registry"
    bank = b"entry_id,signal_type,signal_value\nbank-1,pdq," + pdq("bank").encode() + b"\n"
    write(str(root / "20200101T000000.000000Z" / "bank.csv"), bank)
    write(str(root / "20200101T000000.000000Z" / "_SUCCESS"), b"")
    stopncii_server.put(pdq("s"), T0)
    s_env = {"TAKEDOWN_STOPNCII_KEYS": f"{stopncii_server.fetch_key},{stopncii_server.subscription_key}"}
    s_argv = ["stopncii", f"--registry={root}", f"--api-url={stopncii_server.url}"]
    assert run(capsys, s_argv, s_env)[0] == 0
    assert run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))[0] == 0
    version = complete_versions(str(root))[-1]
    assert sorted(os.listdir(version)) == ["_SUCCESS", "bank.csv", "manifest.json", "ncmec.parquet", "quarantine", "stopncii.parquet"]
    assert open(os.path.join(version, "bank.csv"), "rb").read() == bank
    manifest = json.load(open(os.path.join(version, "manifest.json")))
    assert set(manifest["sources"]) == {"ncmec", "stopncii"} and manifest["files"]["bank.csv"]["rows"] == 1
    registry = load_registry(resolve_snapshot(str(root)))
    assert {"bank-1", "stopncii:" + pdq("s")} <= set(registry.entry_ids.to_pylist())
    write(str(root / "20200102T000000.000000Z" / "ncmec.parquet"), b"unfinished")  # a sync that died
    assert run(capsys, s_argv + ["--keep=2"], s_env)[0] == 0
    assert [os.path.basename(v) for v in complete_versions(str(root))] == [os.path.basename(version),
                                                                             os.path.basename(complete_versions(str(root))[-1])]
    assert sorted(os.listdir(root)) == sorted(os.path.basename(v) for v in complete_versions(str(root)))


def test_sync_then_scan_then_withdrawal_then_scan(ncmec_server, tmp_path, capsys):
    ncmec_server.log = []
    media, root, output = tmp_path / "media", tmp_path / "registry", tmp_path / "reports"
    for seed in (701, 702, 703):
        write(str(media / f"p{seed}.jpg"), encode(photo(seed), "JPEG", quality=90))
        ncmec_server.log.append(NcmecEntry(MEMBER, f"e{seed}", T0 + seed,
                                           fingerprints={"pdq": pdq_of_rgb(np.asarray(photo(seed))).pdq.hex()}))
    assert run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))[0] == 0
    assert scan.main([f"--media={media}", f"--registry={root}", f"--output={output}"]) == 0
    first = sorted(glob.glob(str(output / "run=*")))[-1]
    found = set(pq.read_table(os.path.join(first, "matches")).column("entry_id").to_pylist())
    assert found == {"ncmec:7-e701", "ncmec:7-e702", "ncmec:7-e703"}
    checkpoint = json.load(open(os.path.join(complete_versions(str(root))[-1], "manifest.json")))["sources"]["ncmec"]["checkpoint"]
    ncmec_server.log.append(NcmecEntry(MEMBER, "e702", checkpoint["from"], deleted=True))
    assert run(capsys, ncmec_argv(ncmec_server, root), ncmec_env(ncmec_server))[0] == 0
    capsys.readouterr()
    assert scan.main([f"--media={media}", f"--registry={root}", f"--output={output}"]) == 0
    second = sorted(glob.glob(str(output / "run=*")))[-1]
    withdrawn = pq.read_table(os.path.join(second, "withdrawn")).to_pylist()
    assert [(r["entry_id"], r["uri"].endswith("p702.jpg")) for r in withdrawn] == [("ncmec:7-e702", True)]


def test_stopncii_keys_from_a_file_through_the_console_script_and_refused_keys(stopncii_server, tmp_path, capsys):
    server, root, keys = stopncii_server, tmp_path / "registry", tmp_path / "stopncii.keys"
    server.put(pdq("k"), T0)
    keys.write_text(f"{server.fetch_key},{server.subscription_key}\n")
    argv = ["sync", "stopncii", f"--registry={root}", f"--api-url={server.url}", f"--credentials-file={keys}"]
    os.environ.pop("TAKEDOWN_STOPNCII_KEYS", None)
    assert cli.main(argv) == 0
    assert rows(root, "stopncii.parquet") == {("stopncii:" + pdq("k"), "pdq", pdq("k"))}
    good = complete_versions(str(root))
    keys.write_text(f"{server.fetch_key},wrong-subscription-key\n")
    capsys.readouterr()
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "credentials were refused" in err
    assert "wrong-subscription-key" not in err and server.fetch_key not in err
    assert complete_versions(str(root)) == good and not os.path.exists(root / "_sync")


def test_a_root_in_s3_gets_versions_journals_and_prunes_like_a_local_one(stopncii_server, capsys):
    from tests.object_servers import s3_client, s3_server

    server = stopncii_server
    for i in range(30):
        server.put(pdq(i), T0 + i)
    env = {"TAKEDOWN_STOPNCII_KEYS": f"{server.fetch_key},{server.subscription_key}"}
    with s3_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket="sync-root")  # moto keeps other tests' buckets
        env["AWS_ENDPOINT_URL"] = endpoint
        argv = ["stopncii", "--registry=s3://sync-root/root", f"--api-url={server.url}", "--page-size=10",
                "--journal-every=5", "--keep=1"]
        status, out, err = run(capsys, argv, env)
        assert status == 0, err
        server.put(pdq(1), T0 + 100, status="Withdrawn")
        status, out, err = run(capsys, argv, env)
        assert status == 0, err
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="sync-root")["Contents"])
        version = json.loads(out)["version"].rsplit("/", 1)[1]
        assert keys == [f"root/{version}/{name}" for name in
                        ("_SUCCESS", "manifest.json", "quarantine/stopncii.parquet", "stopncii.parquet")]
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            registry = load_registry(resolve_snapshot("s3://sync-root/root"))
        finally:
            os.environ.pop("AWS_ENDPOINT_URL")
        assert registry.version == version and len(registry) == 29


def test_a_journal_older_than_a_next_link_lives_restarts_its_window(ncmec_server, tmp_path, capsys):
    whole, old = tmp_path / "whole", tmp_path / "old"
    assert run(capsys, ncmec_argv(ncmec_server, whole), ncmec_env(ncmec_server))[0] == 0
    settings = {"source": "ncmec", "api_url": ncmec_server.url, "members": [MEMBER], "since": None}
    journal = Journal(str(old), "ncmec", settings)
    journal.start(None, {"from": T0, "cursor": {"to": BURST, "next": "/v2/entries?from=x&to=y&start=11&size=10&max=99"}})
    progress = json.load(open(old / "_sync" / "ncmec" / "progress.json"))
    progress["saved_at"] -= 13 * 3600
    (old / "_sync" / "ncmec" / "progress.json").write_text(json.dumps(progress))
    served = len(ncmec_server.requests)
    status, out, err = run(capsys, ncmec_argv(ncmec_server, old), ncmec_env(ncmec_server))
    assert status == 0 and "resuming an unfinished sync" in err
    first = [q for p, q in ncmec_server.requests[served:] if p.endswith("/v2/entries")][0]
    assert "start" not in first and first["from"] == iso(T0)
    assert rows(old) == rows(whole)
