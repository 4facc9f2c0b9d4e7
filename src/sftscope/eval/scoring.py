"""THE scoring path: every verdict that `eval run`, `sweep` and `eval rescore` store comes from `SampleScorer`.

    with SampleScorer(spec, protocol, ctx) as scorer:
        outcomes = scorer.score(examples, completions)    # a Verdict, or an error string, per row

It calls the protocol's own scorer (`score` row by row, or `score_batch`), parallelised as the protocol's
typed `scoring` field says: inline; threads (scorers that wait on sandboxed subprocesses); or processes
(Math-Verify: its timeouts use signals, and a pathological expression can hang in C code, so each row runs
in a `WorkerPool` worker with a hard timeout). A row whose scorer raises gets an error string instead of a
Verdict: it is stored with correct=False and the error, and never aborts a sweep.

`rescore` (below) re-runs the same path over completions already in a results DB.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sftscope.errors import InputError
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import TIMEOUT, SampleRecord, Verdict
from sftscope.store.db import Store

Outcome = Verdict | str  # a verdict, or why the row could not be scored


def choose_protocol(spec: TaskSpec, requested: str | None) -> TaskProtocol:
    """The task's protocol named `requested` (None: its default); an unknown name is a --protocol error."""
    try:
        return spec.protocol(requested)
    except ValueError as exc:
        raise InputError(f"--protocol: {exc}") from None


def check_needs(spec: TaskSpec, protocol: TaskProtocol, ctx: ScoreContext) -> None:
    """Fail before any work when a protocol's scorer needs a judge or reward model that was not given, or
    runs generated code where no sandbox holds (and the user did not opt in)."""
    if "sandbox" in protocol.needs:
        from sftscope.verify.sandbox import require_sandbox

        require_sandbox(ctx.unsafe_code_exec)  # SandboxRefused: an InputError with the reason and the opt-in
    missing = [need for need in protocol.needs if need != "sandbox" and getattr(ctx, need) is None]
    if not missing:
        return
    how = {
        "judge": "pass --judge MODEL (with --judge-base-url URL for an OpenAI-compatible server)",
        "reward_model": "pass --reward-model MODEL (a Hugging Face sequence-classification model)",
        "truthfulqa_judges": "pass --truth-judge MODEL and --info-judge MODEL (OpenAI-compatible servers, "
        "with --truth-judge-base-url / --info-judge-base-url)",
    }
    others = [p for p in spec.protocol_names if p != protocol.name]
    alternative = f", or choose --protocol {others[0]}" if others else ""
    raise InputError(
        f"task {spec.name} (protocol {protocol.name}) is scored by a {missing[0].replace('_', ' ')}: "
        f"{how[missing[0]]}{alternative}"
    )


def score_in_worker(task: str, protocol: str, example: Example, completion: str) -> Verdict:
    """Runs inside a `WorkerPool` process: look the task up by name and score one row (no judges there)."""
    from sftscope.eval.tasks import get_task

    spec = get_task(task)
    scorer = spec.protocol(protocol).score
    if scorer is None:
        raise ValueError(f"task {task} protocol {protocol} has no row scorer")
    return scorer(example, completion, ScoreContext())


class SampleScorer:
    """Scores completions of one task under one protocol; holds its worker pool while open."""

    def __init__(self, spec: TaskSpec, protocol: TaskProtocol, ctx: ScoreContext | None = None):
        self.spec, self.protocol, self.ctx = spec, protocol, ctx or ScoreContext()
        check_needs(spec, protocol, self.ctx)
        self._pool = None

    def __enter__(self) -> SampleScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def provenance(self) -> dict[str, Any]:
        """What is stored with every sample as `scorer`: the scoring rules and, for code, the sandbox."""
        info: dict[str, Any] = {"scorer": self.protocol.scorer_id, "protocol": self.protocol.name}
        if "sandbox" in self.protocol.needs:
            from sftscope.verify.sandbox import sandbox_mode

            info["sandbox"] = sandbox_mode(self.ctx.unsafe_code_exec)
        return info

    def score(self, examples: Sequence[Example], completions: Sequence[str]) -> list[Outcome]:
        if len(examples) != len(completions):
            raise ValueError(f"{len(examples)} examples but {len(completions)} completions")
        if not examples:
            return []
        protocol = self.protocol
        if protocol.score_batch is not None:
            try:
                verdicts = protocol.score_batch(list(examples), list(completions), self.ctx)
            except InputError:
                raise  # a judge that cannot be reached stops the run with its message
            except Exception as exc:
                return [_error(exc)] * len(examples)
            if len(verdicts) != len(examples):
                raise ValueError(f"{self.spec.name}: score_batch returned {len(verdicts)} verdicts")
            return list(verdicts)
        if protocol.scoring == "processes":
            return self._score_in_processes(examples, completions)
        jobs = list(zip(examples, completions))
        if protocol.scoring == "threads" and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=max(1, self.ctx.threads)) as pool:
                return list(pool.map(self._score_one, jobs))
        return [self._score_one(job) for job in jobs]

    def _score_one(self, job: tuple[Example, str]) -> Outcome:
        example, completion = job
        try:
            return self.protocol.score(example, completion, self.ctx)
        except Exception as exc:  # a scorer bug or hostile output must not abort a sweep
            return _error(exc)

    def _warmup_module(self) -> tuple[str, ...]:
        warmup = self.protocol.worker_warmup
        return (warmup.split(":")[0],) if warmup else ()

    def _score_in_processes(self, examples: Sequence[Example], completions: Sequence[str]) -> list[Outcome]:
        from sftscope.verify.workers import WorkerPool

        if self._pool is None:
            self._pool = WorkerPool(
                "sftscope.eval.scoring:score_in_worker",
                workers=max(1, self.ctx.threads),
                timeout=self.ctx.timeout,
                preload=("sftscope.eval.tasks", *self._warmup_module()),
                warmup=self.protocol.worker_warmup,
            )
        rows = [(self.spec.name, self.protocol.name, ex, c) for ex, c in zip(examples, completions)]
        outcomes: list[Outcome] = []
        for status, value in self._pool.map(rows):
            if status == "ok":
                outcomes.append(value)
            elif status == "timeout":
                outcomes.append(Verdict(False, None, TIMEOUT))
            else:
                outcomes.append(str(value))
        return outcomes


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def apply_outcome(
    record: SampleRecord, outcome: Outcome, protocol: TaskProtocol, scorer: dict
) -> SampleRecord:
    """The record with the verdict (or the scoring error) of `outcome` under `protocol`."""
    common = {"protocol": protocol.name, "metric": protocol.metric, "scorer": scorer}
    if isinstance(outcome, str):
        return dataclasses.replace(
            record, correct=False, extracted=None, score=0.0, details=None, error=outcome, **common
        )
    return dataclasses.replace(
        record,
        correct=bool(outcome.correct),
        extracted=outcome.extracted,
        score=outcome.value,
        details=outcome.details,
        error=None,
        **common,
    )


@dataclasses.dataclass
class RescoreResult:
    task: str
    protocol: str  # the protocol scored under
    from_protocol: str  # the protocol the completions were generated and stored under
    rows: int = 0
    changed: int = 0  # verdicts that differ from what was stored (or new rows under another protocol)
    errors: int = 0
    kept: int = 0  # rows generated under the target protocol itself, whose verdicts are not replaced
    written: bool = True


def rescore(
    store: Store,
    *,
    task: str | None = None,
    run: str | None = None,
    protocol: str | None = None,
    data_paths: dict[str, str] | None = None,
    ctx: ScoreContext | None = None,
) -> list[RescoreResult]:
    """Re-run the scoring path on stored completions, with no generation.

    Without `protocol`, each stored row is rescored under its own protocol and updated in place. With a
    protocol different from the stored one, the verdicts are stored as new rows under that protocol (same
    completion, prompt and sampling; `scorer.rescored_from` says where they came from), so the two
    protocols never mix. A read-only DB is scored and reported, and nothing is written.
    """
    from sftscope.eval.tasks import TASKS

    records = store.samples(run=run, task=task)
    if task is not None and not records:
        raise InputError(f"{store.path}: no stored samples for task {task!r}")
    groups: dict[tuple[str, str], list[SampleRecord]] = defaultdict(list)
    for record in records:
        groups[(record.task, record.protocol)].append(record)
    completions = {r.key: r.completion for r in records}
    results = []
    for (name, stored_protocol), rows in sorted(groups.items()):
        if name not in TASKS:
            raise InputError(
                f"{store.path}: task {name!r} is not registered in this sftscope; cannot rescore it"
            )
        spec = TASKS[name]
        target = choose_protocol(spec, protocol or stored_protocol)
        if target.name != stored_protocol:  # a row generated under the target keeps its own verdict
            generated = len(rows)
            rows = [
                r
                for r in rows
                if completions.get(dataclasses.replace(r, protocol=target.name).key, r.completion)
                == r.completion
            ]
            kept = generated - len(rows)
            if not rows:
                results.append(RescoreResult(name, target.name, stored_protocol, kept=kept))
                continue
        else:
            kept = 0
        examples = _examples_for(spec, rows, (data_paths or {}).get(name))
        with SampleScorer(spec, target, ctx) as scorer:
            known = [(i, ex) for i, ex in enumerate(examples) if ex is not None]
            outcomes: list[Outcome] = [
                f"example {r.example_id!r} is not in the task's data (pass the data with --data-path)"
                for r in rows
            ]
            scored = scorer.score([ex for _, ex in known], [rows[i].completion for i, _ in known])
            for (i, _), outcome in zip(known, scored):
                outcomes[i] = outcome
            provenance = scorer.provenance()
        if target.name != stored_protocol:
            provenance = {**provenance, "rescored_from": stored_protocol}
        updated = [apply_outcome(r, o, target, provenance) for r, o in zip(rows, outcomes)]
        result = RescoreResult(name, target.name, stored_protocol, rows=len(rows), kept=kept)
        result.errors = sum(u.error is not None for u in updated)
        if target.name == stored_protocol:
            result.changed = sum(
                (a.correct, a.score, a.extracted) != (b.correct, b.score, b.extracted)
                for a, b in zip(rows, updated)
            )
        else:
            result.changed = len(updated)
        if store.readonly:
            result.written = False
        elif target.name == stored_protocol:
            store.update_verdicts(updated)
        else:
            store.upsert_samples(updated)
        results.append(result)
    return results


def _examples_for(spec: TaskSpec, rows: list[SampleRecord], data_path: str | None) -> list[Example | None]:
    if spec.rescore_from == "gold":
        return [Example(id=r.example_id, gold=r.gold, data={"prompt": r.prompt}) for r in rows]
    examples = {ex.id: ex for ex in spec.load(data_path=data_path)}
    return [examples.get(r.example_id) for r in rows]
