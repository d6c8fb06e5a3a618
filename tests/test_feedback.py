"""Verdicts back to the registries: sync from the local NCMEC and StopNCII servers, scan, review,
then `takedown-scan feedback` writes the documents each API takes and, with --send, sends them."""
import csv
import json
import os

import numpy as np
import pytest

from pipelines import cli, scan, sync
from tests.conftest import write
from tests.feeds import NcmecEntry, NcmecServer, StopnciiServer
from tests.media import encode, pdq_of_rgb, photo
from tests.test_sync import MEMBER, T0, ncmec_argv, ncmec_env

PHOTOS = {"n1": 811, "n2": 812, "s1": 813}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """An output whose matches of ncmec:7-n1 and stopncii:<s1> are confirmed, ncmec:7-n2 false."""
    root = tmp_path_factory.mktemp("feedback")
    media, registry, output = root / "media", root / "registry", root / "out"
    ncmec_server, stopncii_server = NcmecServer(), StopnciiServer()
    values = {name: pdq_of_rgb(np.asarray(photo(seed))).pdq.hex() for name, seed in PHOTOS.items()}
    for name, seed in PHOTOS.items():
        write(str(media / f"{name}.jpg"), encode(photo(seed), "JPEG", quality=90))
    for name in ("n1", "n2"):
        ncmec_server.log.append(NcmecEntry(MEMBER, name, T0, fingerprints={"pdq": values[name]}))
    stopncii_server.put(values["s1"], T0)
    keys = f"{stopncii_server.fetch_key},{stopncii_server.subscription_key},{stopncii_server.feedback_key}"
    env = {**ncmec_env(ncmec_server), "TAKEDOWN_STOPNCII_KEYS": keys}
    os.environ.update(env)
    assert sync.main(ncmec_argv(ncmec_server, registry)) == 0
    assert sync.main(["stopncii", f"--registry={registry}", f"--api-url={stopncii_server.url}"]) == 0
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    queue = root / "queue.csv"
    assert cli.main(["report", str(output), f"--csv={queue}"]) == 0
    ids = {r["entry_id"]: r["match_id"] for r in csv.DictReader(open(queue))}
    verdicts = {"ncmec:7-n1": "confirmed", "ncmec:7-n2": "false_match", f"stopncii:{values['s1']}": "confirmed"}
    for entry, verdict in verdicts.items():
        assert cli.main(["review", str(output), f"--match={ids[entry]}", f"--verdict={verdict}"]) == 0
    yield {"output": str(output), "ncmec": ncmec_server, "stopncii": stopncii_server, "values": values}
    for name in env:
        os.environ.pop(name, None)
    ncmec_server.close()
    stopncii_server.close()


def test_ncmec_feedback_files_and_send(reviewed, tmp_path, capsys):
    server, out = reviewed["ncmec"], tmp_path / "fb"
    capsys.readouterr()
    assert cli.main(["feedback", reviewed["output"], "--to=ncmec", f"--out={out}"]) == 2
    assert "--negative_reason" in capsys.readouterr().err  # a false match needs a reason to be sent
    assert cli.main(["feedback", reviewed["output"], "--to=ncmec", f"--out={out}", "--send",
                     f"--api-url={server.url}"]) == 0
    assert sorted(os.listdir(out / "ncmec")) == [f"{MEMBER}-n1-PDQ.xml", f"{MEMBER}-n2-PDQ.xml"]
    sent = {path: body for method, path, body in server.received}
    assert set(sent) == {f"/hashsharing/v2/entries/{MEMBER}/n1/PDQ/feedback", f"/hashsharing/v2/entries/{MEMBER}/n2/PDQ/feedback"}
    assert b"<affirmative/>" in sent[f"/hashsharing/v2/entries/{MEMBER}/n1/PDQ/feedback"]
    assert NcmecServer.REASON.encode() in sent[f"/hashsharing/v2/entries/{MEMBER}/n2/PDQ/feedback"]
    assert open(out / "ncmec" / f"{MEMBER}-n2-PDQ.xml", "rb").read() == sent[f"/hashsharing/v2/entries/{MEMBER}/n2/PDQ/feedback"]


def test_stopncii_feedback_files_and_send(reviewed, tmp_path):
    server, out = reviewed["stopncii"], tmp_path / "fb"
    assert cli.main(["feedback", reviewed["output"], "--to=stopncii", f"--out={out}", "--tag=Nude", "--send",
                     f"--api-url={server.url}"]) == 0
    document = json.load(open(out / "stopncii" / "feedback.json"))
    assert document == {"count": 1, "hashFeedbacks": [{"hashValue": reviewed["values"]["s1"], "feedbackValue": "Blocked",
                                                         "tags": ["Nude"]}]}
    ((method, path, body),) = server.received
    assert (method, path, json.loads(body)) == ("POST", "/v1/SubmitFeedback", document)


def test_a_videotmk_verdict_is_left_out_of_stopncii_feedback_not_sent_as_a_digest():
    from transforms.registry.stopncii import feedback_document as stopncii_document

    reviews = {
        "a": {"entry_id": "stopncii:" + "ab" * 32, "signal_type": "pdq", "registry_hash": "ab" * 32,
              "verdict": "confirmed", "reviewed_at": "2026-12-01T00:00:00Z"},
        "b": {"entry_id": "stopncii:sha256:" + "cd" * 32, "signal_type": "tmk_pdqf",
              "registry_hash": "sha256:" + "ef" * 32, "verdict": "confirmed", "reviewed_at": "2026-12-01T00:00:01Z"},
    }
    document = stopncii_document(reviews, [])
    assert [item["hashValue"] for item in document["hashFeedbacks"]] == ["ab" * 32]
