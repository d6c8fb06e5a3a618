"""`act`: rules read or refused in one line; judged matches turned into quarantine copies and
webhooks on a local folder, logged, and not done twice; a dry run that changes nothing; a replaced
object left alone; a failing webhook tried again; and tags, copies and moves on real local S3 and
GCS servers, pinned to the version that matched."""
import http.server
import json
import os
import shutil
import threading

import pytest
import yaml

from pipelines import act, review
from tests.conftest import match_ids, write
from tests.object_servers import gcs_client, gcs_server, listed, s3_client, s3_server
from transforms.reports.actions import Action, Due, Rule, RulesError, parse_rules, read_log
from transforms.reports.executors import Executors
from transforms.storage.stores import StoreSettings, Stores


class Receiver:
    """A local HTTP server that records the webhooks it receives and answers `status`."""

    def __init__(self):
        self.received, self.status = [], 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?key=q"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def rules_file(tmp_path, document):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_bad_rules_are_refused_in_one_line(tmp_path, capsys):
    for document, said in (
        ({}, "must hold `rules:`"),
        ({"rules": [{"actions": [{"tag": {"a": "b"}, "copy_to": "s3://q/"}]}]}, "exactly one of tag"),
        ({"rules": [{"actions": [{"delete": True}]}]}, "exactly one of tag"),
        ({"rules": [{"verdicts": ["maybe"], "actions": [{"tag": {"a": "b"}}]}]}, "verdicts are confirmed"),
        ({"rules": [{"verdicts": ["false_match"], "actions": [{"move_to": "s3://q/"}]}]}, "move_to removes"),
        ({"rules": [{"actions": [{"webhook": "ftp://x"}]}]}, "http:// or https://"),
        ({"rules": [{"actions": [{"copy_to": "s3://q/", "headers_env": {"A": "B"}}]}]}, "with a webhook only"),
        ({"rules": [{"name": "x", "actions": [{"tag": {"a": 1}}]}, {"name": "x", "actions": [{"tag": {"a": 1}}]}]},
         "unique"),
        ({"rules": [{"actions": []}]}, "needs actions"),
    ):
        with pytest.raises(RulesError, match=said):
            parse_rules(document, "rules.yaml")
    (tmp_path / "bad.yaml").write_text("rules: [\n")
    assert act.main([str(tmp_path), f"--rules={tmp_path / 'bad.yaml'}"]) == 2
    assert act.main([str(tmp_path), f"--rules={tmp_path / 'none.yaml'}"]) == 2
    err = capsys.readouterr().err
    assert "is not YAML" in err and "cannot be read: FileNotFoundError" in err and err.count("\n") == 2


def test_judged_matches_become_actions_once(three_matches, tmp_path, receiver, capsys, monkeypatch):
    output = str(tmp_path / "out")
    shutil.copytree(three_matches["output"], output)
    media = three_matches["media"]  # this module's own night: its c.jpg is replaced below
    ids = match_ids(output)
    quarantine = str(tmp_path / "quarantine")
    rules = rules_file(tmp_path, {"rules": [
        {"name": "quarantine", "verdicts": ["confirmed"], "sources": ["take_it_down"],
         "actions": [{"copy_to": quarantine}, {"webhook": receiver.url, "headers_env": {"Authorization": "HOOK_AUTH"}}]},
        {"name": "tell", "verdicts": ["false_match"], "actions": [{"webhook": receiver.url}]},
        {"name": "other-source", "sources": ["stopncii"], "actions": [{"copy_to": quarantine}]},
    ]})
    monkeypatch.setenv("HOOK_AUTH", "Bearer s3cret")
    for name, verdict in (("a.jpg", "confirmed"), ("b.jpg", "false_match")):
        assert review.main([output, f"--match={ids[name]}", f"--verdict={verdict}", "--reviewer=ana"]) == 0
    capsys.readouterr()

    assert act.main([output, f"--rules={rules}", "--dry_run", "--since=2000-01-01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("would ") and "key=q" not in line for line in out)
    assert receiver.received == [] and not os.path.exists(quarantine) and read_log(output) == []

    assert act.main([output, f"--rules={rules}", "--since=2000-01-01", "--actor=bot"]) == 0
    a = os.path.realpath(os.path.join(media, "a.jpg"))
    with open(a, "rb") as original, open(quarantine + a, "rb") as copy:
        assert original.read() == copy.read()
    assert sorted((p, body["match_id"], body["verdict"], h.get("Authorization")) for p, h, body in receiver.received) == sorted([
        ("/hook?key=q", ids["a.jpg"], "confirmed", "Bearer s3cret"), ("/hook?key=q", ids["b.jpg"], "false_match", None)])
    log = read_log(output)
    assert sorted((r["rule"], r["action"], r["status"], r["actor"]) for r in log) == [
        ("quarantine", "copy_to", "done", "bot"), ("quarantine", "webhook", "done", "bot"), ("tell", "webhook", "done", "bot")]
    assert all(r["target"].endswith("/hook") for r in log if r["action"] == "webhook")  # the URL's query is not logged
    assert Action("webhook", "https://user:pw@hooks.example/t?key=q").shown == "https://hooks.example/t"
    assert act.main([output, f"--rules={rules}", "--since=2000-01-01"]) == 0  # again: nothing to do
    assert len(receiver.received) == 2 and len(read_log(output)) == 3
    assert "0 done, 0 gone (deleted or replaced), 0 failed, of 0 due" in capsys.readouterr().err

    # c is confirmed after its file was replaced: the copy is moot; the webhook fails, then is retried
    write(os.path.join(media, "c.jpg"), b"another picture")
    assert review.main([output, f"--match={ids['c.jpg']}", "--verdict=confirmed", "--reviewer=ana"]) == 0
    receiver.status = 400
    assert act.main([output, f"--rules={rules}", "--since=2000-01-01"]) == 1
    assert "webhook of " in capsys.readouterr().err
    on_c = sorted((r["action"], r["status"]) for r in read_log(output) if r["match_id"] == ids["c.jpg"])
    assert on_c == [("copy_to", "gone"), ("webhook", "failed")]
    receiver.status = 200
    assert act.main([output, f"--rules={rules}", "--since=2000-01-01"]) == 0
    assert [body["match_id"] for _, _, body in receiver.received[-1:]] == [ids["c.jpg"]]
    assert sorted(r["status"] for r in read_log(output) if r["match_id"] == ids["c.jpg"]) == ["done", "failed", "gone"]


def due(uri, version, action, tmp_rule="r"):
    match = {"match_id": "m-" + uri, "uri": uri, "object_version": version, "entry_id": "E"}
    return Due("id-" + uri, Rule(tmp_rule, frozenset({"confirmed"}), None, (action,)), action, match,
               {"verdict": "confirmed"})


def test_tags_copies_and_moves_on_s3_pinned_to_the_matched_version():
    with s3_server() as endpoint:
        client = s3_client(endpoint)
        for bucket in ("media", "quarantine"):
            client.create_bucket(Bucket=bucket)
        for key in ("x/a.jpg", "x/b.jpg", "x/c.jpg"):
            client.put_object(Bucket="media", Key=key, Body=key.encode(), Tagging="owner=platform")
        settings = StoreSettings(s3_endpoint_url=endpoint)
        version = {o.uri: o.version for o in listed(Stores(settings).get("s3"), "media", "x/")}
        run = Executors(settings).run
        tag = Action("tag", "takedown=confirmed", tags=(("takedown", "confirmed"),))
        assert run(due("s3://media/x/a.jpg", version["s3://media/x/a.jpg"], tag)) == ("done", "takedown=confirmed")
        tags = client.get_object_tagging(Bucket="media", Key="x/a.jpg")["TagSet"]
        assert sorted((t["Key"], t["Value"]) for t in tags) == [("owner", "platform"), ("takedown", "confirmed")]
        move = Action("move_to", "s3://quarantine/held/")
        assert run(due("s3://media/x/b.jpg", version["s3://media/x/b.jpg"], move))[0] == "done"
        assert client.get_object(Bucket="quarantine", Key="held/media/x/b.jpg")["Body"].read() == b"x/b.jpg"
        assert [o["Key"] for o in client.list_objects_v2(Bucket="media")["Contents"]] == ["x/a.jpg", "x/c.jpg"]
        client.put_object(Bucket="media", Key="x/c.jpg", Body=b"replaced")
        status, detail = run(due("s3://media/x/c.jpg", version["s3://media/x/c.jpg"], move))
        assert status == "gone" and client.get_object(Bucket="media", Key="x/c.jpg")["Body"].read() == b"replaced"
        assert run(due("s3://media/x/a.jpg", version["s3://media/x/a.jpg"], Action("copy_to", "gs://q/")))[0] == "failed"


def test_tags_copies_and_moves_on_gcs_pinned_to_the_matched_generation():
    with gcs_server():
        client = gcs_client()
        for bucket in ("media", "quarantine"):
            client.create_bucket(bucket)
        for key in ("x/a.jpg", "x/b.jpg", "x/c.jpg"):
            client.bucket("media").blob(key).upload_from_string(key.encode())
        version = {o.uri: o.version for o in listed(Stores(StoreSettings()).get("gs"), "media", "x/")}
        run = Executors().run
        tag = Action("tag", "takedown=confirmed", tags=(("takedown", "confirmed"),))
        assert run(due("gs://media/x/a.jpg", version["gs://media/x/a.jpg"], tag))[0] == "done"
        assert client.bucket("media").get_blob("x/a.jpg").metadata == {"takedown": "confirmed"}
        move = Action("move_to", "gs://quarantine/held/")
        assert run(due("gs://media/x/b.jpg", version["gs://media/x/b.jpg"], move))[0] == "done"
        assert client.bucket("quarantine").blob("held/media/x/b.jpg").download_as_bytes() == b"x/b.jpg"
        assert sorted(b.name for b in client.list_blobs("media")) == ["x/a.jpg", "x/c.jpg"]
        client.bucket("media").blob("x/c.jpg").upload_from_string(b"replaced")
        assert run(due("gs://media/x/c.jpg", version["gs://media/x/c.jpg"], move))[0] == "gone"
        assert client.bucket("media").blob("x/c.jpg").download_as_bytes() == b"replaced"
