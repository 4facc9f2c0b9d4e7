"""The HTML report in real headless Chromium: it renders, every image loads, and the console stays clean.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ending in
NUL on fds 3 and 4), so no websocket library is needed. Skipped when `chromium` is not installed (Debian
package `chromium`; `make sysdeps` installs it). Set SFTSCOPE_SCREENSHOT=path.png to keep the screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import contextlib

from report_data import synthetic_records

from sftscope.records import CheckpointRef
from sftscope.report.build import build_report
from sftscope.store.db import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
    "--remote-debugging-pipe",
]


class Browser:
    """A minimal DevTools client over Chromium's debugging pipe."""

    def __init__(self, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: the protocol lives on fds 3 (in) and 4 (out)
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            # pass_fds keeps 3 and 4 open: the child closes other fds only after wire_fds has run.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds,
            pass_fds=(3, 4),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(
        self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60
    ) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.read(deadline - time.monotonic())
            if event.get("method") == method:
                return event
            self.events.append(event)
        raise TimeoutError(method)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)


def open_page(browser: Browser, url: str) -> tuple[str, dict, list[str]]:
    """Load `url` in a fresh tab; return (session, page facts, console/log errors)."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_event("Page.loadEventFired")
    facts = browser.send(
        "Runtime.evaluate",
        {
            "expression": "JSON.stringify({title: document.title, h1: document.querySelector('h1')?.textContent,"
            " images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),"
            " text: document.body.innerText.length, height: document.body.scrollHeight})",
            "returnByValue": True,
        },
        session=session,
    )["result"]["value"]
    errors = []
    for event in browser.events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(json.dumps(params.get("args")))
        elif event.get("method") == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails")))
        elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return session, json.loads(facts), errors


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "lab"
    run_dir.mkdir()
    records = synthetic_records(run="lab", n_questions=40)
    with Store(run_dir / "sftscope.db") as store:
        store.record_run("lab", {"model": "tiny"})
        for step in sorted({r.step for r in records}):
            store.record_checkpoint(CheckpointRef("lab", step, f"step-{step}"))
        store.add_samples(records)
    return build_report(run_dir, n_boot=200).html


def test_report_renders_with_every_image_and_no_console_error(browser, report_html, tmp_path):
    session, facts, errors = open_page(browser, report_html.as_uri())
    assert facts["title"] == "sftscope report: lab"
    assert facts["h1"] == "sftscope report: lab"
    assert len(facts["images"]) == 4
    assert all(complete and width > 0 and height > 0 for complete, width, height in facts["images"])
    assert facts["text"] > 1000 and facts["height"] > 1600
    assert errors == []
    shot = base64.b64decode(
        browser.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session
        )["data"]
    )
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
    keep = os.environ.get("SFTSCOPE_SCREENSHOT")
    (Path(keep) if keep else tmp_path / "report.png").write_bytes(shot)


def test_the_harness_catches_a_broken_image_and_a_console_error(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body><h1>x</h1>"
        '<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body></html>'
    )
    _, facts, errors = open_page(browser, page.as_uri())
    assert facts["images"][0][1] == 0
    assert any("boom" in e for e in errors)
