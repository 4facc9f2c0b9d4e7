"""`run_evaluation`: one model on the configured tasks into a results DB (what `eval run` does).

    result = run_evaluation("runs/lab/checkpoints/step-64", EvalConfig(suite="lab", db="results.db"), step=64)
    result.summary.generated, result.records

The sweep does the same per checkpoint (`eval.sweep`); both resolve tasks, protocols, sampling, the model's
identity and the scoring context the same way, from one `EvalConfig`. With `backend_options.data_parallel`
N > 1, N worker processes share the work (`eval.dataparallel`) and this process loads no model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftscope.errors import InputError
from sftscope.eval.config import EvalConfig
from sftscope.eval.runner import EvalSummary, Progress, check_configured_needs, evaluate
from sftscope.eval.scoring import check_needs, choose_protocol
from sftscope.eval.spec import TaskSpec
from sftscope.records import CheckpointRef, SampleRecord


@dataclass
class EvaluationResult:
    summary: EvalSummary
    records: list[SampleRecord]  # this checkpoint's samples of the tasks and protocols just run


def run_evaluation(
    model: str, cfg: EvalConfig, *, step: int = 0, progress: Progress | None = None
) -> EvaluationResult:
    from sftscope.eval.backends.base import close_backend, make_backend
    from sftscope.eval.identity import model_fingerprint
    from sftscope.store.db import Store

    tasks = resolve_tasks(cfg)
    run_name = cfg.run or Path(model.rstrip("/")).name
    db = cfg.db or "results.db"
    served = (cfg.backend_options.base_url or "default") if cfg.backend == "openai" else None
    model_id = model_fingerprint(model, served_at=served)
    ref = CheckpointRef(run=run_name, step=step, path=model)
    if cfg.backend_options.data_parallel > 1:
        summary = _evaluate_data_parallel(model, tasks, db, ref, cfg, model_id, progress)
        with Store(db) as store:
            return EvaluationResult(summary, _records(store, summary, tasks))
    context = cfg.score_context()
    for spec in tasks:  # a missing judge or sandbox fails before the model loads
        check_needs(spec, choose_protocol(spec, cfg.protocol), context)
    backend = make_backend(cfg.backend, model, **cfg.backend_options.for_backend(cfg.backend))
    try:
        with Store(db) as store:
            store.record_run(run_name, _stored_config(cfg, model, backend.describe()), _versions(tasks))
            summary = evaluate(
                backend, tasks, store, ref, cfg, context=context, model_id=model_id, progress=progress
            )
            return EvaluationResult(summary, _records(store, summary, tasks))
    finally:
        close_backend(backend)


def resolve_tasks(cfg: EvalConfig) -> list[TaskSpec]:
    """The config's tasks; a --data-path for a task that is not being run is an error."""
    from sftscope.eval.tasks import resolve_suite

    tasks = resolve_suite(cfg.suite)
    unknown = sorted(set(cfg.data_paths) - {t.name for t in tasks})
    if unknown:
        raise InputError(f"--data-path names tasks that are not being run: {', '.join(unknown)}")
    return tasks


def _evaluate_data_parallel(
    model: str, tasks: list[TaskSpec], db: str, ref: CheckpointRef, cfg: EvalConfig, model_id: str, progress
) -> EvalSummary:
    from sftscope.eval.dataparallel import evaluate_data_parallel
    from sftscope.store.db import Store

    for spec in tasks:  # fail before any worker loads a model
        check_configured_needs(spec, choose_protocol(spec, cfg.protocol), cfg)
    describe = {"backend": cfg.backend, "data_parallel": cfg.backend_options.data_parallel}
    with Store(db) as store:
        store.record_run(ref.run, _stored_config(cfg, model, describe), _versions(tasks))
        store.record_checkpoint(ref, model_id)  # the identity check, once, before the workers start
    return evaluate_data_parallel(model, tasks, db, ref, cfg, model_id=model_id, progress=progress)


def _stored_config(cfg: EvalConfig, model: str, describe: dict[str, Any]) -> dict[str, Any]:
    from sftscope import __version__

    return {**cfg.stored(), "model": model, "backend_describe": describe, "package_version": __version__}


def _versions(tasks: list[TaskSpec]) -> dict[str, str]:
    return {t.name: t.version for t in tasks}


def _records(store, summary: EvalSummary, tasks: list[TaskSpec]) -> list[SampleRecord]:
    versions = _versions(tasks)
    chosen = {(r.task, r.protocol) for r in summary.tasks}
    return [
        r
        for r in store.samples(run=summary.run, checkpoint=summary.checkpoint)
        if versions.get(r.task) == r.task_version and (r.task, r.protocol) in chosen
    ]
