"""Run a scoring function in worker processes with a hard per-row timeout: `WorkerPool`.

Why not `concurrent.futures.ProcessPoolExecutor`: it cannot stop one task that hangs (Math-Verify can spin
in sympy or C code long past its own signal-based timeout), short of killing the whole pool. Here each
worker scores one row at a time; a row that overruns gets `on_timeout(row)`, and its worker is killed and
replaced while the other workers carry on.

A row is sent only to an idle worker, which is already blocked in `recv()`, so the parent never blocks on
a full pipe while a busy worker is not reading (the cause of missed timeouts with pipelined sends), and a
replacement worker starts in the background, so the other rows' deadlines are still enforced meanwhile.

The function runs in the worker and is named by import path, `"package.module:function"`, so a higher layer
(eval) can put its own scorer in workers without this module importing it. It gets the row's arguments
(a tuple) and must return something picklable. `MathPool` (`data verify`) and the eval scoring path
(`scoring="processes"`) both run on this one pool.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

START_TIMEOUT_S = 120.0  # a worker that has not imported its scorer by then is reported, not waited on


def _resolve(target: str) -> Callable[..., Any]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def _worker_main(conn, target: str, preload: Sequence[str], warmup: str | None) -> None:
    for name in preload:
        importlib.import_module(name)
    fn = _resolve(target)
    if warmup:  # first-call costs (Math-Verify builds its regexes) are paid before "ready", not by a row
        _resolve(warmup)()
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, args = job
        try:
            result = ("ok", fn(*args))
        except Exception as exc:  # a scorer bug must not kill the worker; the row is reported
            result = ("error", f"{type(exc).__name__}: {exc}"[:500])
        conn.send((index, result))


class _Worker:
    def __init__(self, ctx, target: str, preload: Sequence[str], warmup: str | None):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, target, tuple(preload), warmup), daemon=True
        )
        self.process.start()
        child.close()
        self.row: int | None = None  # the row being scored
        self.started = 0.0
        self.spawned = time.monotonic()
        self.ready = False

    def check_ready(self) -> None:
        """Non-blocking: a replacement starts while the other workers' deadlines are still watched."""
        try:
            if self.conn.poll(0):
                self.ready = self.conn.recv() == "ready"
                return
        except (EOFError, OSError):
            pass
        else:
            if time.monotonic() - self.spawned < START_TIMEOUT_S and self.process.is_alive():
                return
        self.kill()
        raise RuntimeError(
            f"a scoring worker did not start within {START_TIMEOUT_S:.0f} s (see its error above)"
        )

    def submit(self, index: int, args: tuple) -> None:
        self.row, self.started = index, time.monotonic()
        self.conn.send((index, args))

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """Score rows in `workers` processes; `map(rows)` returns one result per row, in order.

    A result is ("ok", value), ("error", message) when the function raised, or ("timeout", None) when the
    row overran `timeout` seconds (its worker is replaced). Use as a context manager.
    """

    def __init__(
        self,
        target: str,
        *,
        workers: int = 2,
        timeout: float = 10.0,
        preload: Sequence[str] = (),
        warmup: str | None = None,
    ):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if not timeout > 0:
            raise ValueError("timeout must be > 0")
        self.target, self.n_workers, self.timeout, self.preload = target, workers, timeout, tuple(preload)
        self.warmup = warmup
        # forkserver: never fork a parent that may hold torch/CUDA threads; workers start clean.
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self._ctx = mp.get_context(method)
        if method == "forkserver" and self.preload:
            # The server imports these once and forks every worker from it, so a replacement after a
            # timeout is ready in ~0.1 s instead of re-importing (~0.6 s for Math-Verify). The server is
            # per process and reads this list when it starts: the first pool to start it decides, and
            # `_worker_main` still imports `preload` itself in case another pool's list was used.
            self._ctx.set_forkserver_preload(list(self.preload))
        self._workers: list[_Worker] = []
        self.timeouts = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self.target, self.preload, self.warmup)

    def map(
        self, rows: Sequence[tuple], progress: Callable[[int], None] | None = None
    ) -> list[tuple[str, Any]]:
        results: list[tuple[str, Any] | None] = [None] * len(rows)
        if not rows:
            return []
        while len(self._workers) < self.n_workers:
            self._workers.append(self._spawn())
        queue, done = deque(range(len(rows))), 0
        while True:
            for worker in self._workers:
                if not worker.ready:
                    worker.check_ready()
                if worker.ready and worker.row is None and queue:
                    index = queue.popleft()
                    worker.submit(index, rows[index])
            scoring = [w for w in self._workers if w.row is not None]
            if not scoring and not queue:
                break
            # Watch the rows being scored and the workers still starting (so a ready one gets work at once).
            busy = {w.conn: w for w in self._workers if w.row is not None or not w.ready}
            deadline = min((w.started + self.timeout for w in scoring), default=time.monotonic() + 0.5)
            ready = wait(list(busy), timeout=max(0.0, deadline - time.monotonic()))
            for conn in ready:
                worker = busy[conn]
                if not worker.ready:
                    continue  # its "ready" message: read at the top of the loop
                try:
                    index, result = conn.recv()
                except (EOFError, OSError):  # the worker died (out of memory, a segfault): record, replace
                    self._replace(worker, results, ("error", "scoring worker died"))
                else:
                    results[index], worker.row = result, None
                done += 1
            now = time.monotonic()
            for conn, worker in busy.items():
                if worker.row is not None and conn not in ready and now - worker.started >= self.timeout:
                    self._replace(worker, results, ("timeout", None))
                    self.timeouts += 1
                    done += 1
            if progress is not None:
                progress(done)
        return [r if r is not None else ("error", "not scored") for r in results]

    def _replace(self, worker: _Worker, results: list, outcome: tuple[str, Any]) -> None:
        results[worker.row] = outcome
        worker.kill()
        self._workers[self._workers.index(worker)] = self._spawn()

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
