"""`run_evaluation`: one model on the configured tasks into a results DB (what `eval run` does).

    result = run_evaluation("runs/lab/checkpoints/step-64", EvalConfig(suite="lab", db="results.db"), step=64)
    result.summary.generated, result.records

The sweep does the same per checkpoint (`eval.sweep`); both resolve tasks, protocols, sampling, the model's
identity and the scoring context the same way, from one `EvalConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sftscope.errors import InputError
from sftscope.eval.config import EvalConfig
from sftscope.eval.runner import EvalSummary, Progress, evaluate
from sftscope.records import CheckpointRef, SampleRecord


@dataclass
class EvaluationResult:
    summary: EvalSummary
    records: list[SampleRecord]  # this checkpoint's samples of the tasks and protocols just run


def run_evaluation(
    model: str, cfg: EvalConfig, *, step: int = 0, progress: Progress | None = None
) -> EvaluationResult:
    from sftscope import __version__
    from sftscope.eval.backends.base import make_backend
    from sftscope.eval.identity import model_fingerprint
    from sftscope.eval.tasks import resolve_suite
    from sftscope.store.db import Store

    tasks = resolve_suite(cfg.suite)
    unknown = sorted(set(cfg.data_paths) - {t.name for t in tasks})
    if unknown:
        raise InputError(f"--data-path names tasks that are not being run: {', '.join(unknown)}")
    context = cfg.score_context()
    run_name = cfg.run or Path(model.rstrip("/")).name
    db = cfg.db or "results.db"
    backend = make_backend(cfg.backend, model, **cfg.backend_options.for_backend(cfg.backend))
    served = (cfg.backend_options.base_url or "default") if cfg.backend == "openai" else None
    model_id = model_fingerprint(model, served_at=served)
    stored_config = {
        **cfg.stored(),
        "model": model,
        "backend_describe": backend.describe(),
        "package_version": __version__,
    }
    try:
        with Store(db) as store:
            store.record_run(run_name, stored_config, {t.name: t.version for t in tasks})
            ref = CheckpointRef(run=run_name, step=step, path=model)
            summary = evaluate(
                backend, tasks, store, ref, cfg, context=context, model_id=model_id, progress=progress
            )
            versions = {t.name: t.version for t in tasks}
            chosen = {(r.task, r.protocol) for r in summary.tasks}
            records = [
                r
                for r in store.samples(run=run_name, checkpoint=summary.checkpoint)
                if versions.get(r.task) == r.task_version and (r.task, r.protocol) in chosen
            ]
    finally:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
    return EvaluationResult(summary, records)
