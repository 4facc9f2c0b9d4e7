"""Math answers scored with Math-Verify, in-process (`verify_math`) or in killable workers (`MathPool`).

The gold is wrapped in `\\boxed{}` when it is bare, so a gold like `\\frac{1}{2}` or `3, 5` is read as one
LaTeX answer. The completion is scored on the text after `</think>` when there is one (`strip_think`); a
completion whose `<think>` never closes has no answer. Math-Verify's own timeouts use `signal.alarm`, which
works only in a main thread: `MathPool` runs each row in a worker process and kills and replaces a worker
that overruns the per-row timeout, so one pathological expression never stalls a whole data set.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import wait

from sftscope.records import Verdict, split_think
from sftscope.verify.boxed import last_boxed

PIPELINE = 4  # rows in flight per worker; replies are small, so pipes never fill up in both directions
MAX_COMPLETION_CHARS = 200_000  # longer answer parts are scored on their tail, where the final answer is
# `1\,000` (a thin space as a thousands separator) reads as 1 times 000 in Math-Verify: join the digits.
_THIN_SPACE_THOUSANDS = re.compile(r"(\d)\\[,;: ](?=\d{3}(?!\d))")


def answer_text(completion: str, *, strip_think: bool = True) -> str | None:
    """The part of a completion that is scored: `\\boxed{last box}` when there is a box, else the text
    (after `</think>` with `strip_think`). None when the think block never closes: there is no answer.
    """
    text = completion
    if strip_think:
        think, text = split_think(completion)
        if think is not None and not text.strip():
            return None
    text = text[-MAX_COMPLETION_CHARS:]
    boxed = last_boxed(text)
    if boxed is not None:
        # The last box is the answer (the paper's convention). Math-Verify alone joins every box of a text
        # into a set, so "\\boxed{2}. Wait, actually \\boxed{3}" would match neither 2 nor 3.
        text = "\\boxed{" + _THIN_SPACE_THOUSANDS.sub(r"\1", boxed) + "}"
    return text


def verify_math(gold: str, completion: str, *, strip_think: bool = True, timeout: float = 5.0) -> Verdict:
    """Does `completion`'s final answer equal `gold`? Runs in this process (use `MathPool` for many rows)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    if not isinstance(completion, str) or not isinstance(gold, str):
        return Verdict(False, None, "not_a_string")
    text = answer_text(completion, strip_think=strip_think)
    if text is None:
        return Verdict(False, None, "unfinished")
    # signal.alarm only works in the main thread; elsewhere the caller (MathPool) owns the timeout.
    seconds = max(1, round(timeout)) if threading.current_thread() is threading.main_thread() else None
    gold_text = gold if "\\boxed" in gold or "\\fbox" in gold else f"\\boxed{{{gold}}}"
    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold_parsed = parse(gold_text, configs, parsing_timeout=seconds)
    if not gold_parsed:
        return Verdict(False, None, "gold_unparseable")
    pred_parsed = parse(text, configs, parsing_timeout=seconds)
    if not pred_parsed:
        return Verdict(False, None, "unparseable")
    extracted = str(pred_parsed[-1]) if len(pred_parsed) > 1 else str(pred_parsed[0])
    ok = verify(gold_parsed, pred_parsed, timeout_seconds=seconds)
    return Verdict(bool(ok), extracted, "correct" if ok else "wrong")


def _worker_main(conn, strip_think: bool, timeout: float) -> None:
    import logging

    import math_verify  # noqa: F401  (import before "ready", so imports never count against a row's timeout)

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # its timeout warnings would flood stderr
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        index, gold, completion = job
        try:
            # Math-Verify's own alarm fires after the parent's deadline, so an overrun is always "timeout".
            # The parent already cut the completion down to its answer part (see `answer_text`).
            verdict = verify_math(gold, completion, strip_think=False, timeout=timeout + 2)
        except Exception as exc:  # a scorer bug must not kill the pool; the row is reported
            verdict = Verdict(False, None, f"error: {type(exc).__name__}")
        conn.send((index, verdict.correct, verdict.extracted, verdict.reason))


class _Worker:
    def __init__(self, ctx, strip_think: bool, timeout: float):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, strip_think, timeout), daemon=True)
        self.process.start()
        child.close()
        self.inflight: deque[int] = deque()  # submitted rows, oldest (the one being scored) first
        self.started = 0.0

    def wait_ready(self, seconds: float = 120.0) -> None:
        try:
            ready = self.conn.poll(seconds) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError("a Math-Verify worker process did not start (see its error above)")

    def submit(self, index: int, gold: str, completion: str) -> None:
        if not self.inflight:
            self.started = time.monotonic()
        self.inflight.append(index)
        self.conn.send((index, gold, completion))

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class MathPool:
    """Score many (gold, completion) pairs in `workers` processes with a hard per-row `timeout`.

    A row that overruns gets `Verdict(False, None, "timeout")`; its worker is killed and replaced. Use it
    as a context manager (or call `close()`) so that the workers exit.
    """

    def __init__(self, workers: int = 2, timeout: float = 5.0, *, strip_think: bool = True):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.n_workers, self.timeout, self.strip_think = workers, timeout, strip_think
        # forkserver: no fork of a parent that may hold torch/CUDA threads; workers start from a clean state.
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self._ctx = mp.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(["math_verify", "sftscope.verify.math"])
        self._workers: list[_Worker] = []
        self.timeouts = 0

    def __enter__(self) -> MathPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        fresh = [
            _Worker(self._ctx, self.strip_think, self.timeout)
            for _ in range(self.n_workers - len(self._workers))
        ]
        for worker in fresh:
            worker.wait_ready()
        self._workers.extend(fresh)

    def score(self, pairs: Sequence[tuple[str, str]], progress=None) -> list[Verdict]:
        """Verdicts in input order. `progress(n_done)` is called as rows finish, when given."""
        results: list[Verdict | None] = [None] * len(pairs)
        if not pairs:
            return []
        self._start()
        queue = deque(range(len(pairs)))
        done = 0
        while True:
            for worker in self._workers:
                # A few rows in flight per worker, so a worker never waits for the parent between rows.
                while len(worker.inflight) < PIPELINE and queue:
                    index = queue.popleft()
                    gold, completion = pairs[index]
                    text = (
                        answer_text(completion, strip_think=self.strip_think)
                        if isinstance(completion, str)
                        else completion
                    )
                    if text is None:  # decided here: no need to ship the row to a worker
                        results[index] = Verdict(False, None, "unfinished")
                        done += 1
                        continue
                    worker.submit(index, gold, text)
            busy = {worker.conn: worker for worker in self._workers if worker.inflight}
            if not busy:
                break
            deadline = min(worker.started for worker in busy.values()) + self.timeout
            ready = wait(list(busy), timeout=max(0.0, deadline - time.monotonic()))
            for conn in ready:
                worker = busy[conn]
                try:
                    index, correct, extracted, reason = conn.recv()
                except (EOFError, OSError):  # the worker died (e.g. out of memory): record and replace it
                    self._fail(worker, results, queue, "worker_died")
                    done += 1
                    continue
                worker.inflight.popleft()
                worker.started = time.monotonic()  # the next queued row starts now
                results[index] = Verdict(correct, extracted, reason)
                done += 1
            now = time.monotonic()
            for conn, worker in busy.items():
                if conn not in ready and worker.inflight and now - worker.started >= self.timeout:
                    self._fail(worker, results, queue, "timeout")
                    self.timeouts += 1
                    done += 1
            if progress is not None:
                progress(done)
        return [r if r is not None else Verdict(False, None, "error") for r in results]

    def _fail(self, worker: _Worker, results: list, queue: deque, reason: str) -> None:
        """The row a worker is on gets `reason`; its other queued rows go back to the queue; it is replaced."""
        results[worker.inflight.popleft()] = Verdict(False, None, reason)
        queue.extendleft(reversed(worker.inflight))
        worker.kill()
        fresh = _Worker(self._ctx, self.strip_think, self.timeout)
        fresh.wait_ready()
        self._workers[self._workers.index(worker)] = fresh

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=2)
            worker.conn.close()
        self._workers = []
