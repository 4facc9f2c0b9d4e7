"""WorkerPool: results in order, a row past its timeout is killed without stalling the others, a raising
row is reported, and a huge row sent to a busy pool never blocks the parent past the timeout."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from sftscope.verify.workers import WorkerPool


def work(kind: str, payload: str = "") -> str:
    if kind == "sleep":
        time.sleep(60)
    if kind == "raise":
        raise ValueError("bad row")
    return f"{kind}:{len(payload)}"


TARGET = f"{__name__}:work"


def test_results_in_order_timeouts_and_errors():
    rows = [("a",), ("sleep",), ("b",), ("raise",), ("c",)]
    started = time.monotonic()
    with WorkerPool(TARGET, workers=2, timeout=1.0) as pool:
        out = pool.map(rows)
        assert pool.timeouts == 1
        assert pool.map([("d",)]) == [("ok", "d:0")]  # the replaced worker serves later calls
    assert time.monotonic() - started < 30
    assert out == [
        ("ok", "a:0"),
        ("timeout", None),
        ("ok", "b:0"),
        ("error", "ValueError: bad row"),
        ("ok", "c:0"),
    ]


def test_a_huge_row_does_not_block_the_parent_behind_a_busy_worker():
    """With one worker stuck on a slow row, a 20 MB row waits for it in the parent's queue (never written
    into a pipe nobody reads), so the slow row still times out on time."""
    big = "x" * (20 << 20)
    started = time.monotonic()
    with WorkerPool(TARGET, workers=1, timeout=1.0) as pool:
        out = pool.map([("sleep",), ("big", big)])
    assert out == [("timeout", None), ("ok", f"big:{len(big)}")]
    assert time.monotonic() - started < 30


def test_the_forkserver_preloads_the_scorer_modules(monkeypatch):
    """Replacement workers fork from a server that has already imported `preload` (no re-import per worker)."""
    if "forkserver" not in mp.get_all_start_methods():
        pytest.skip("no forkserver start method here: workers are spawned and import preload themselves")
    asked: list[list[str]] = []
    monkeypatch.setattr(mp.get_context("forkserver"), "set_forkserver_preload", asked.append)
    WorkerPool(TARGET, preload=("json", "sftscope.verify.harness"))
    WorkerPool(TARGET)  # no preload: another pool's list is left alone
    assert asked == [["json", "sftscope.verify.harness"]]
