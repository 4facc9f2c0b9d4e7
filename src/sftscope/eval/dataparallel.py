"""`--data-parallel N`: N generation engines over one results store, one per GPU (or per group of
`tensor_parallel_size` GPUs for vLLM), each in its own process.

    summary = evaluate_data_parallel(model, tasks, db, ref, cfg, model_id=...)

Worker k sees only its own GPUs (CUDA_VISIBLE_DEVICES, set before it imports torch or vLLM), loads its own
backend, and runs `runner.evaluate` on shard k: the examples with `runner.shard_of(task, id, N) == k`, a
stable hash of the id, so a resumed run gives every example to the same worker. The workers write to the
same SQLite store (WAL; each batch is one transaction and a writer waits for the others), and every sample
draws from its own seed, so the rows are the ones a single engine would have written. A worker that fails
stops the others (what they stored stays: the run resumes), and its one-line error is raised here.
Processes are started with `spawn`: CUDA cannot be forked, and vLLM starts processes of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable
from pathlib import Path

from sftscope.errors import InputError
from sftscope.eval.config import EvalConfig
from sftscope.eval.runner import EvalSummary, Progress, TaskResult
from sftscope.eval.spec import TaskSpec
from sftscope.records import CheckpointRef

POLL_SECONDS = 0.5
START_METHOD = "spawn"  # tests that patch the process's registries in place use "fork"


def worker_devices(cfg: EvalConfig, visible: str | None = None) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each worker (None: leave it alone, the worker runs on CPU)."""
    opts = cfg.backend_options
    n = opts.data_parallel
    if cfg.backend == "hf" and (opts.device or "").startswith(("cuda:", "mps", "xpu")):
        raise InputError(
            f"--device {opts.device} pins one device; with --data-parallel use --device cuda or cpu"
        )
    if cfg.backend == "hf" and (opts.device == "cpu" or (opts.device is None and not _has_cuda())):
        return [None] * n
    per = opts.tensor_parallel_size if cfg.backend == "vllm" else 1
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible is not None else None
    if ids is None:
        ids = [str(i) for i in range(_gpu_count())]
    if len(ids) < n * per:
        raise InputError(
            f"--data-parallel {n} x --tensor-parallel-size {per} needs {n * per} GPUs; {len(ids)} visible"
        )
    return [",".join(ids[k * per : (k + 1) * per]) for k in range(n)]


def evaluate_data_parallel(
    model: str,
    tasks: list[TaskSpec],
    db: str | Path,
    ref: CheckpointRef,
    cfg: EvalConfig,
    *,
    model_id: str = "",
    progress: Progress | None = None,
) -> EvalSummary:
    """Evaluate `tasks` for checkpoint `ref` with `cfg.backend_options.data_parallel` worker processes."""
    n = cfg.backend_options.data_parallel
    devices = worker_devices(cfg)
    ctx = multiprocessing.get_context(START_METHOD)
    messages = ctx.Queue()
    names = [t.name for t in tasks]
    workers = [
        ctx.Process(
            target=_work,
            args=(k, n, devices[k], model, names, str(db), ref, cfg, model_id, messages),
            name=f"sftscope-dp{k}",
        )
        for k in range(n)
    ]
    for w in workers:
        w.start()
    try:
        summaries = _collect(workers, messages, progress)
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join()
    return merge_summaries(summaries, ref)


def _collect(workers: list, messages, progress: Progress | None) -> list[EvalSummary]:
    """Wait for every worker's summary, forwarding progress; raise the first worker's error."""
    summaries: dict[int, EvalSummary] = {}
    counts: dict[tuple[int, str], tuple[int, int]] = {}
    suspects: set[int] = set()  # exited without a result at the last quiet poll
    while len(summaries) < len(workers):
        try:
            kind, k, *payload = messages.get(timeout=POLL_SECONDS)
        except queue.Empty:
            kind, k, payload = "quiet", -1, []
        if kind == "quiet":
            # A worker's last message is in the queue before it exits, so one more quiet poll after its
            # exit means it died without one (killed, out of memory).
            dead = {k for k, w in enumerate(workers) if k not in summaries and not w.is_alive()}
            for k in sorted(dead & suspects):
                code = workers[k].exitcode
                raise InputError(f"data-parallel worker {k} died (exit code {code}) without a result")
            suspects = dead
            continue
        if kind == "progress" and progress is not None:
            task, done, total = payload
            counts[(k, task)] = (done, total)
            parts = [v for (_, t), v in counts.items() if t == task]
            progress(task, sum(d for d, _ in parts), sum(t for _, t in parts))
        elif kind == "done":
            summaries[k] = payload[0]
        elif kind == "error":
            raise InputError(f"data-parallel worker {k}: {payload[0]}")
    return [summaries[k] for k in sorted(summaries)]


def merge_summaries(summaries: list[EvalSummary], ref: CheckpointRef) -> EvalSummary:
    """One summary from the shards' (examples and warnings are per task, the same in every shard)."""
    first = summaries[0]
    merged = EvalSummary(run=first.run, checkpoint=first.checkpoint, step=ref.step)
    for i, task in enumerate(first.tasks):
        parts = [s.tasks[i] for s in summaries]
        merged.tasks.append(
            TaskResult(
                task=task.task,
                protocol=task.protocol,
                examples=task.examples,
                generated=sum(p.generated for p in parts),
                skipped=sum(p.skipped for p in parts),
                tokens=sum(p.tokens for p in parts),
                score_errors=sum(p.score_errors for p in parts),
                warning=task.warning,
            )
        )
    return merged


def _work(
    k: int,
    n: int,
    devices: str | None,
    model: str,
    task_names: list[str],
    db: str,
    ref: CheckpointRef,
    cfg: EvalConfig,
    model_id: str,
    messages,
) -> None:
    """One worker: its GPUs, its backend, its shard; reports progress, then its summary or its error."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before anything imports torch or vllm
    try:
        summary = _evaluate_shard(k, n, model, task_names, db, ref, cfg, model_id, messages.put)
        messages.put(("done", k, summary))
    except InputError as exc:
        messages.put(("error", k, str(exc)))
    except BaseException as exc:  # the parent gets one line; the traceback goes to this worker's stderr
        traceback.print_exc()
        messages.put(("error", k, f"{type(exc).__name__}: {exc}"))


def _evaluate_shard(
    k: int,
    n: int,
    model: str,
    task_names: list[str],
    db: str,
    ref: CheckpointRef,
    cfg: EvalConfig,
    model_id: str,
    send: Callable[[tuple], None],
) -> EvalSummary:
    import dataclasses

    from sftscope.eval.backends.base import close_backend, make_backend
    from sftscope.eval.runner import evaluate
    from sftscope.eval.tasks import get_task
    from sftscope.store.db import Store

    tasks = [get_task(name) for name in task_names]
    opts = dataclasses.replace(cfg.backend_options, data_parallel=1)  # the worker's GPUs are its cuda:0...
    backend = make_backend(cfg.backend, model, **opts.for_backend(cfg.backend))
    try:
        with Store(db) as store:
            return evaluate(
                backend,
                tasks,
                store,
                ref,
                cfg,
                context=cfg.score_context(),
                model_id=model_id,
                progress=lambda task, done, total: send(("progress", k, task, done, total)),
                shard=(k, n),
            )
    finally:
        close_backend(backend)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
