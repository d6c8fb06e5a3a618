"""Registry servers that misbehave: redirects to another server (the credentials must not follow),
bodies sent a byte at a time (the deadline holds), JSON nested too deep or numbers out of range
(one line and exit 2, or a counted malformed record), a secret in --api-url (never written), and
a registry file of 10,000 metadata columns (refused from its header)."""
import glob
import json
import os
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines import feedback, scan
from pipelines.scan import SAMPLE
from tests.feeds import NcmecServer, StopnciiServer
from tests.test_sync import T0, ncmec_argv, ncmec_env, ncmec_registry, pdq, run
from transforms.registry.http import FeedError, HttpSettings, get
from transforms.reports.reviews import record_review


def reviewed_output(tmp_path, verdicts):
    """An output folder whose reviews/ holds these (entry_id, signal_type, registry_hash, verdict)."""
    output = tmp_path / "out"
    for number, (entry, signal_type, value, verdict) in enumerate(verdicts):
        match = {"match_id": f"m{number}", "entry_id": entry, "signal_type": signal_type, "registry_hash": value}
        record_review(str(output), match, verdict, None, "tester", datetime.now(timezone.utc))
    return output


class Hostile:
    """A server on 127.0.0.1 whose every request is answered by `respond(handler)`; it logs each
    request's path and headers."""

    def __init__(self, respond):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                outer.requests.append((self.path, dict(self.headers)))
                respond(self)

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self._http.server_address[1]}"

    def close(self):
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def hostile():
    servers = []

    def start(respond):
        servers.append(Hostile(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def redirect_to(target, status=302):
    def respond(handler):
        handler.send_response(status)
        handler.send_header("Location", target + handler.path)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return respond


def body(data: bytes, kind="application/json"):
    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return respond


def test_ncmec_credentials_never_follow_a_redirect_to_another_port(hostile, tmp_path, capsys):
    server = NcmecServer()
    try:
        ncmec_registry(server)
        elsewhere = hostile(body(b"<status/>", "application/xml"))
        front = hostile(redirect_to(elsewhere.base))
        argv = ncmec_argv(server, tmp_path / "registry")
        argv[2] = f"--api-url={front.base}/v2-base"
        status, out, err = run(capsys, argv, ncmec_env(server))
    finally:
        server.close()
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert "redirects to another server" in err and server.password not in err
    assert elsewhere.requests == []  # not even asked: the credentials went nowhere
    assert not glob.glob(str(tmp_path / "registry" / "*" / "_SUCCESS"))


@pytest.mark.parametrize("status", [301, 307, 308])
def test_stopncii_keys_never_follow_a_redirect_to_another_host_or_scheme(hostile, tmp_path, capsys, status):
    keys = StopnciiServer()
    keys.close()
    elsewhere = hostile(body(b'{"hashRecords": [], "hasMoreRecords": false}'))
    target = elsewhere.base.replace("127.0.0.1", "localhost") if status != 308 else "https://127.0.0.1:1"
    front = hostile(redirect_to(target, status))
    argv = ["stopncii", f"--registry={tmp_path / 'registry'}", f"--api-url={front.base}/v1", "--retries=0"]
    code, out, err = run(capsys, argv, {"TAKEDOWN_STOPNCII_KEYS": f"{keys.fetch_key},{keys.subscription_key}"})
    assert code == 2 and err.count("\n") == 1 and "redirects to another server" in err, err
    assert elsewhere.requests == []
    assert keys.fetch_key not in err and keys.subscription_key not in err


def test_a_redirect_within_the_configured_server_is_followed(hostile):
    state = {}

    def respond(handler):
        if handler.path == "/old":
            handler.send_response(302)
            handler.send_header("Location", f"{state['base']}/new")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        else:
            body(b"moved here")(handler)

    server = hostile(respond)
    state["base"] = server.base
    assert get(f"{server.base}/old", {"Authorization": "Basic x"}, HttpSettings(retries=0), "ncmec") == b"moved here"
    assert [h.get("Authorization") for _, h in server.requests] == ["Basic x", "Basic x"]


def drip(in_headers: bool):
    """A server that sends a byte every 0.2 s: in its headers, or in a body of 1,000 bytes."""
    def respond(handler):
        try:
            if in_headers:
                for _ in range(1000):
                    handler.wfile.write(b"H")
                    handler.wfile.flush()
                    time.sleep(0.2)
            handler.send_response(200)
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.flush()
            for _ in range(1000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
    return respond


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_the_deadline_holds_against_a_server_that_sends_a_byte_at_a_time(hostile, in_headers):
    server = hostile(drip(in_headers))
    started = time.monotonic()
    with pytest.raises(FeedError, match="deadline"):
        get(f"{server.base}/v2/status", {}, HttpSettings(retries=0, deadline_s=1.5, timeout_s=5), "ncmec")
    assert time.monotonic() - started < 4


def stopncii_sync(capsys, root, url):
    keys = StopnciiServer()
    keys.close()
    argv = ["stopncii", f"--registry={root}", f"--api-url={url}", "--retries=0"]
    return run(capsys, argv, {"TAKEDOWN_STOPNCII_KEYS": f"{keys.fetch_key},{keys.subscription_key}"})


@pytest.mark.parametrize("document", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"hashRecords": [], "hasMoreRecords": false, "nextSetTimestamp": 1' + b"0" * 5000 + b"}",
    b'{"hashRecords": [], "hasMoreRecords": false, "nextSetTimestamp": 1' + b"0" * 400 + b"}",
], ids=["nested", "digits", "out_of_range"])
def test_a_malformed_stopncii_answer_is_one_line_and_exit_2(hostile, tmp_path, capsys, document):
    server = hostile(body(document))
    status, out, err = stopncii_sync(capsys, tmp_path / "registry", server.base + "/v1")
    assert status == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("takedown-scan: stopncii")


def test_a_timestamp_out_of_range_is_a_counted_malformed_record(hostile, tmp_path, capsys):
    records = [{"hashValue": pdq(1), "signalType": "ImagePDQ", "hashStatus": "Active", "lastModtimestamp": T0},
               {"hashValue": pdq(2), "signalType": "ImagePDQ", "hashStatus": "Active", "lastModtimestamp": 10 ** 400}]
    server = hostile(body(json.dumps({"hashRecords": records, "hasMoreRecords": False}).encode()))
    status, out, err = stopncii_sync(capsys, tmp_path / "registry", server.base + "/v1")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["rows"] == 1 and summary["skipped"] == {"malformed_record": 1}


def test_a_secret_in_the_api_url_is_written_nowhere(hostile, tmp_path, capsys):
    records = [{"hashValue": pdq(1), "signalType": "ImagePDQ", "hashStatus": "Active", "lastModtimestamp": T0}]
    server = hostile(body(json.dumps({"hashRecords": records, "hasMoreRecords": False}).encode()))
    root = tmp_path / "registry"
    status, out, err = stopncii_sync(capsys, root, f"{server.base}/v1?token=SECRET-TOKEN-42")
    assert status == 0, err
    written = [path for path in glob.glob(str(root / "**" / "*"), recursive=True)
               if path.endswith((".json", ".parquet")) and b"SECRET-TOKEN-42" in open(path, "rb").read()]
    assert written == [] and "SECRET-TOKEN-42" not in out + err
    assert json.load(open(glob.glob(str(root / "*" / "manifest.json"))[0]))


def test_feedback_send_refuses_a_redirect_too(hostile, tmp_path, capsys):
    elsewhere = hostile(body(b"{}"))
    front = hostile(redirect_to(elsewhere.base, 307))
    keys = StopnciiServer()
    keys.close()
    output = reviewed_output(tmp_path, [("stopncii:" + pdq(1), "pdq", pdq(1), "confirmed")])
    (tmp_path / "keys").write_text(f"{keys.fetch_key},{keys.subscription_key},{keys.feedback_key}")
    status = feedback.main([str(output), "--to=stopncii", f"--out={tmp_path / 'fb'}", "--send",
                            f"--api-url={front.base}/v1", f"--credentials-file={tmp_path / 'keys'}"])
    err = capsys.readouterr().err
    assert status == 2 and "redirects to another server" in err and elsewhere.requests == []


def test_a_registry_with_too_many_metadata_columns_is_refused_at_once(tmp_path, capsys):
    columns = [f"m{i}" for i in range(10_000)]
    registry = tmp_path / "registry.csv"
    registry.write_text("entry_id,signal_type,signal_value," + ",".join(columns) + "\n"
                        + f"E1,pdq,{pdq(1)}," + ",".join("x" for _ in columns) + "\n")
    status = scan.main([f"--media={os.path.join(SAMPLE, 'media')}", f"--registry={registry}",
                        f"--output={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert status == 2 and "10000 metadata columns" in err and err.count("\n") == 1, err


def test_a_next_link_that_names_another_server_is_refused(hostile):
    from transforms.registry.ncmec import NcmecClient

    elsewhere = hostile(body(b"<queryResult/>", "application/xml"))
    port = elsewhere.base.rsplit(":", 1)[1]
    client = NcmecClient("http://127.0.0.1:1", "user", "password", HttpSettings(retries=0))
    with pytest.raises(FeedError, match="link to another server"):
        client.entries(0, 1, f"@localhost:{port}/v2/entries?from=x")
    assert elsewhere.requests == []


@pytest.mark.parametrize("encoding", ["WTF-8", "UTF-16"])
def test_an_ncmec_page_in_an_encoding_expat_cannot_use_is_a_feed_error(encoding):
    """Found by `benchmarks.fuzz --feeds` (20,000 inputs): LookupError, a traceback."""
    from transforms.registry.ncmec import parse_entries

    with pytest.raises(FeedError, match="not XML"):
        parse_entries(f'<?xml version="1.0" encoding="{encoding}"?><queryResult/>'.encode())
