"""The review desk (`serve`): driven in Debian's headless chromium through Playwright, a click
records a verdict and the queue updates, a false match is suppressed from the page, two reviewers'
verdicts on one match are both kept (the later counts), a wrong token is refused, and the deadline
flag turns on between 47 h and 49 h of a fixed clock; over plain HTTP, the token, the host and the
origin are checked, bad verdicts get a reason, and the token never reaches the log."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import REPO, match_ids
from tests.test_report import CHROMIUM, CHROMIUM_FLAGS
from transforms.matching.suppression import read_list
from transforms.reports.desk import DeskSettings, make_desk_server
from transforms.reports.reviews import read_history, read_reviews

TOKEN = "t0ken-for-the-desk-tests"


@pytest.fixture
def output(three_matches, tmp_path):
    copy = str(tmp_path / "out")
    shutil.copytree(three_matches["output"], copy)
    return copy


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@contextmanager
def desk(output, clock=None):
    settings = DeskSettings(output, TOKEN, os.path.join(output, "suppressions"), since="2000-01-01",
                            clock=clock or (lambda: datetime.now(timezone.utc)))
    server = make_desk_server(settings, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (./dev.sh test installs it with apt-get where it runs as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS[1:]))
        try:
            yield launched
        finally:
            launched.close()


def open_desk(browser, address, reviewer):
    page = browser.new_context().new_page()
    assert page.goto(f"http://{address}/?token={TOKEN}").status == 200
    assert page.url == f"http://{address}/"  # the token left the address bar for a cookie
    page.wait_for_selector("#queue tbody tr")
    page.fill("#reviewer", reviewer)
    page.dispatch_event("#reviewer", "change")
    return page


def queued(page):
    return page.eval_on_selector_all("#queue tbody tr", "rows => rows.map(r => r.dataset.match)")


def row(page, match):
    return page.locator(f'#queue tbody tr[data-match="{match}"]')


def test_verdicts_from_the_browser_alone(browser, output):
    ids = match_ids(output)
    with desk(output) as address:
        ana, ben = open_desk(browser, address, "ana"), open_desk(browser, address, "ben")
        assert sorted(queued(ana)) == sorted(ids.values())
        assert "3 to review (0 past the deadline)" in ana.inner_text("#facts")

        row(ana, ids["a.jpg"]).locator("input[aria-label=note]").fill("=HYPERLINK(\"x\") <b>seen</b>")
        row(ana, ids["a.jpg"]).locator("button[data-verdict=confirmed]").click()
        expect(ana.locator("#queue tbody tr")).to_have_count(2)
        assert ids["a.jpg"] not in queued(ana)
        (review,) = read_history(output)
        assert (review["match_id"], review["verdict"], review["reviewer"], review["note"]) == (
            ids["a.jpg"], "confirmed", "ana", "=HYPERLINK(\"x\") <b>seen</b>")
        assert ana.locator("#verdicts tbody tr").first.inner_text().count("<b>seen</b>") == 1  # text, not markup

        b = row(ana, ids["b.jpg"])
        b.locator("select[aria-label=suppress]").select_option("entry")
        b.locator("button[data-verdict=false_match]").click()
        expect(ana.locator("#queue tbody tr")).to_have_count(1)
        assert read_list(os.path.join(output, "suppressions")).entries == {"B"}
        assert "(entry suppressed)" in ana.inner_text("#status")

        # ben's page still shows c (and a, b): both judge c, ana first; both verdicts are kept
        row(ana, ids["c.jpg"]).locator("button[data-verdict=confirmed]").click()
        expect(ana.locator("#queue tbody tr")).to_have_count(0)
        assert len(ben.locator("#queue tbody tr").all()) == 3
        row(ben, ids["c.jpg"]).locator("button[data-verdict=false_match]").click()
        expect(ben.locator("#queue tbody tr")).to_have_count(0)
        on_c = [(v["reviewer"], v["verdict"]) for v in read_history(output) if v["match_id"] == ids["c.jpg"]]
        assert on_c == [("ana", "confirmed"), ("ben", "false_match")]
        assert read_reviews(output)[ids["c.jpg"]]["verdict"] == "false_match"
        assert ben.locator("#verdicts tbody tr").count() == 4

        stranger = browser.new_context().new_page()
        assert stranger.goto(f"http://{address}/?token=wrong-{TOKEN}").status == 403
        assert stranger.goto(f"http://{address}/api/queue").status == 403
        assert "token is missing or wrong" in stranger.content()
    assert len(read_history(output)) == 4


def test_the_deadline_flag_at_47_and_49_hours(browser, output, three_matches):
    clock = Clock(three_matches["seen"] + timedelta(hours=47))
    with desk(output, clock) as address:
        page = open_desk(browser, address, "ana")
        assert page.locator("#queue tbody tr.late").count() == 0
        assert [float(t) for t in page.locator("#queue td.waited").all_inner_texts()] == [47.0] * 3
        clock.now = three_matches["seen"] + timedelta(hours=49)
        page.reload()
        page.wait_for_selector("#queue tbody tr.late")
        assert page.locator("#queue tbody tr.late").count() == 3
        assert "3 to review (3 past the deadline)" in page.inner_text("#facts")
        page.check("#late-only")
        assert page.locator("#queue tbody tr").count() == 3
        page.locator("#queue tbody tr").first.locator("button[data-verdict=confirmed]").click()
        expect(page.locator("#queue tbody tr.late")).to_have_count(2)


def request(address, method, path, body=None, **headers):
    connection = http.client.HTTPConnection(address, timeout=30)
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    return answer.status, answer.read().decode()


def test_the_desk_over_plain_http_checks_token_host_and_origin(output, capsys):
    ids = match_ids(output)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    post = {**auth, "Content-Type": "application/json"}
    with desk(output) as address:
        status, body = request(address, "GET", "/api/queue", **auth)
        assert status == 200 and json.loads(body)["counts"]["to_review"] == 3
        assert request(address, "GET", "/api/queue")[0] == 403
        assert request(address, "GET", "/api/queue", Authorization="Bearer nearly" + TOKEN)[0] == 403
        assert request(address, "GET", "/api/queue", **auth, Host="evil.example:80")[0] == 403  # DNS rebinding
        verdict = json.dumps({"match_id": ids["a.jpg"], "verdict": "confirmed", "reviewer": "ana"})
        assert request(address, "POST", "/api/verdict", verdict, **post, Origin="http://evil.example")[0] == 403
        for body, said in ((b"{", "small JSON"), (b"[]", "JSON object"),
                           (json.dumps({"match_id": ids["a.jpg"], "verdict": "maybe", "reviewer": "ana"}), "verdict must"),
                           (json.dumps({"match_id": ids["a.jpg"], "verdict": "confirmed"}), "say who you are"),
                           (json.dumps({"match_id": "0" * 16, "verdict": "confirmed", "reviewer": "a"}), "holds a match"),
                           (json.dumps({"match_id": ids["a.jpg"], "verdict": "confirmed", "reviewer": "a",
                                        "suppress": "entry"}), "false_match verdict only"),
                           (b"x" * 20000, "small JSON")):
            status, answer = request(address, "POST", "/api/verdict", body, **post)
            assert status == 400 and said in answer, (body, answer)
        assert read_history(output) == []
        status, body = request(address, "POST", "/api/verdict", verdict, **post, Origin=f"http://{address}")
        assert status == 200 and json.loads(body)["verdict"] == "confirmed"
        request(address, "GET", f"/?token={TOKEN}")
    assert TOKEN not in capsys.readouterr().err


def test_the_serve_command_prints_its_address_and_refuses_what_it_cannot_serve(output, tmp_path):
    env = {**os.environ, "TAKEDOWN_DESK_TOKEN": TOKEN}
    desk_process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", output, "--port=0",
                                     "--since=2000-01-01"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
    try:
        line = desk_process.stdout.readline()
        address = line.split("http://")[1].split("/")[0]
        assert line.startswith(f"takedown-scan: review desk of {output} at http://127.0.0.1:") and TOKEN in line
        assert request(address, "GET", "/api/queue", Authorization=f"Bearer {TOKEN}")[0] == 200
    finally:
        desk_process.terminate()
        desk_process.wait(timeout=30)
    for argv, said in (([str(tmp_path / "none")], "holds no committed run"),
                       ([output, "--since=2999-01-01"], "no committed run since 2999-01-01"),
                       ([output, "--port=70000"], "--port must be"),
                       ([output, "--now=later"], "--now 'later' is not")):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", *argv], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1, done.stderr
