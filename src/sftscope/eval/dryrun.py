"""`--dry-run` for `eval run` and `sweep`: what an evaluation would generate, without loading a model.

Per task: the protocol, the examples (loaded as the run would load them), samples per example, the samples
a complete evaluation stores, the token budget per sample, and an upper bound on the tokens to generate:
max_new_tokens for every sample still missing (greedy: for every example with a missing sample, since its n
samples are one generation). A count of examples that differs from the benchmark's known size is a warning;
a task that cannot run (its data missing, a judge not given) is an error, and every task is still listed.
For a sweep, each selected checkpoint gets what it misses per task (`sweep.plan_checkpoint`). Nothing is
written: an existing results DB is opened read-only.

JSON (`--json`), `eval run`: one object keyed by task:
    {"math500": {"protocol", "examples", "n_samples", "samples", "max_new_tokens", "greedy", "known_size",
                 "stored", "missing", "max_generated_tokens", "warning", "error"}, ...}
`sweep`: {"run", "db", "tasks": {task: the same, without stored/missing}, "checkpoints": [{"step", "path",
          "ready", "problem", "missing": {task: samples}, "max_generated_tokens"}], "max_generated_tokens"}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.errors import InputError
from sftscope.eval.config import EvalConfig, SweepConfig
from sftscope.eval.runner import check_configured_needs, count_warning, task_sampling
from sftscope.eval.scoring import choose_protocol
from sftscope.eval.spec import Example, TaskSpec


@dataclass
class TaskPlan:
    task: str
    version: str = ""
    protocol: str = ""
    examples: int = 0
    n_samples: int = 0
    samples: int = 0  # the rows a complete evaluation stores: examples x n_samples
    max_new_tokens: int = 0
    greedy: bool = False
    known_size: int | None = None
    stored: int | None = None  # eval run, with an existing DB: samples already stored
    missing: int | None = None
    warning: str | None = None
    error: str | None = None
    loaded: list[Example] = field(default_factory=list, repr=False)

    def token_bound(self, missing: int) -> int:
        """At most this many tokens are generated for `missing` samples."""
        generations = min(missing, self.examples) if self.greedy else missing
        return generations * self.max_new_tokens

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("task", "version", "loaded")}
        if self.stored is None:
            out.pop("stored"), out.pop("missing")
        missing = self.samples if self.missing is None else self.missing
        out["max_generated_tokens"] = self.token_bound(missing)
        return out


def plan_tasks(cfg: EvalConfig) -> list[TaskPlan]:
    """Every task of the config, its examples loaded; a task that cannot run carries its error."""
    from sftscope.eval.evaluation import resolve_tasks

    plans = []
    for spec in resolve_tasks(cfg):
        plan = TaskPlan(spec.name, spec.version, known_size=spec.size)
        try:
            protocol = choose_protocol(spec, cfg.protocol)
            params = task_sampling(spec, protocol, cfg)
            plan.protocol, plan.n_samples = protocol.name, params.n
            plan.max_new_tokens, plan.greedy = params.max_new_tokens, params.greedy
            check_configured_needs(spec, protocol, cfg)
            plan.loaded = spec.load(limit=cfg.limit, data_path=cfg.data_paths.get(spec.name))
        except InputError as exc:
            plan.error = str(exc)
        plan.examples = len(plan.loaded)
        plan.samples = plan.examples * plan.n_samples
        plan.warning = None if plan.error else count_warning(spec, plan.examples, cfg.limit)
        plans.append(plan)
    return plans


def plan_evaluation(model: str, cfg: EvalConfig, *, step: int = 0) -> list[TaskPlan]:
    """`eval run --dry-run`: the task plans, with what the DB already holds for this run and step."""
    from sftscope.rundir import checkpoint_name
    from sftscope.store.db import Store

    plans = plan_tasks(cfg)
    db = Path(cfg.db or "results.db")
    if not db.is_file():
        return plans
    run = cfg.run or Path(model.rstrip("/")).name
    with Store(db, readonly=True) as store:
        stored = store.stored(run, checkpoint_name(step))
    for plan in plans:
        if plan.error:
            continue
        have = set(stored.get((plan.task, plan.version, plan.protocol), {}))
        expected = {(ex.id, i) for ex in plan.loaded for i in range(plan.n_samples)}
        plan.stored, plan.missing = len(expected & have), len(expected - have)
    return plans


def plan_sweep_run(cfg: SweepConfig) -> tuple[list[TaskPlan], Any]:
    """`sweep --dry-run`: the task plans and the sweep's plan per selected checkpoint."""
    from sftscope.eval.sweep import plan_sweep
    from sftscope.eval.tasks import get_task

    tasks = plan_tasks(cfg.eval)
    ok = [t for t in tasks if t.error is None]
    specs: list[TaskSpec] = [get_task(t.task) for t in ok]
    sweep = plan_sweep(cfg, specs, {t.task: t.loaded for t in ok})
    return tasks, sweep


def eval_json(plans: list[TaskPlan]) -> dict[str, Any]:
    return {p.task: p.as_json() for p in plans}


def sweep_json(plans: list[TaskPlan], sweep) -> dict[str, Any]:
    by_name = {p.task: p for p in plans}
    checkpoints = []
    for cp in sweep.checkpoints:
        bound = sum(by_name[t].token_bound(n) for t, n in cp.missing.items())
        checkpoints.append(
            {
                "step": cp.found.step,
                "path": cp.found.path,
                "ready": cp.found.complete,
                "problem": cp.found.problem,
                "missing": cp.missing,
                "max_generated_tokens": bound,
            }
        )
    tasks = {p.task: {k: v for k, v in p.as_json().items() if k != "max_generated_tokens"} for p in plans}
    return {
        "run": sweep.run,
        "db": sweep.db,
        "tasks": tasks,
        "checkpoints": checkpoints,
        "max_generated_tokens": sum(c["max_generated_tokens"] for c in checkpoints if c["ready"]),
    }


def format_tasks(plans: list[TaskPlan], *, total: bool = True) -> str:
    with_db = any(p.stored is not None for p in plans)
    head = f"{'task':<18} {'protocol':<9} {'examples':>8} {'k':>3} {'samples':>8}"
    head += f" {'missing':>8}" if with_db else ""
    lines = [head + f" {'max new':>8} {'≤ tokens':>9}"]
    for p in plans:
        if p.error:
            lines.append(f"{p.task:<18} error: {p.error}")
            continue
        row = f"{p.task:<18} {p.protocol:<9} {p.examples:>8} {p.n_samples:>3} {p.samples:>8}"
        row += f" {p.missing if p.missing is not None else p.samples:>8}" if with_db else ""
        missing = p.samples if p.missing is None else p.missing
        lines.append(row + f" {p.max_new_tokens:>8} {tokens(p.token_bound(missing)):>9}")
    if not total:  # a sweep gives its totals per checkpoint
        return "\n".join(lines)
    ok = [p for p in plans if not p.error]
    bound = sum(p.token_bound(p.samples if p.missing is None else p.missing) for p in ok)
    lines.append(
        f"{len(ok)} tasks, {sum(p.samples for p in ok)} samples, at most {tokens(bound)} tokens to generate"
    )
    return "\n".join(lines)


def format_sweep(plans: list[TaskPlan], sweep) -> str:
    data = sweep_json(plans, sweep)
    lines = [
        f"sweep {sweep.run}: results in {sweep.db}; each checkpoint holds, when complete:",
        format_tasks(plans, total=False),
        "",
    ]
    for cp in data["checkpoints"]:
        todo = ", ".join(f"{t} {n}" for t, n in cp["missing"].items() if n) or "nothing (all stored)"
        state = "" if cp["ready"] else f" [not ready: {cp['problem']}]"
        lines.append(
            f"step {cp['step']:>6}{state}: missing {todo}; ≤ {tokens(cp['max_generated_tokens'])} tokens"
        )
    lines.append(
        f"at most {tokens(data['max_generated_tokens'])} tokens to generate over the ready checkpoints"
    )
    return "\n".join(lines)


def tokens(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
