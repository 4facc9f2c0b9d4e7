"""Evaluate one checkpoint on a list of tasks, resumably.

For each task: load its examples, ask the store what is already there, check that every stored row was
produced by this model, prompt and sampling (`store.guard`), and generate only the missing samples, a
batch of prompts at a time. Every batch is scored through `eval.scoring.SampleScorer` (the one scoring
path) and written in one transaction before the next starts, so a kill loses at most one batch, and a
re-run of a finished evaluation generates nothing. Sample j of example e draws from its own seed,
`records.sample_seed(seed, task, e, j)`, so what is generated never depends on batching or on resuming.
A sample whose scoring raises is stored with `correct=False` and the error text; it never aborts the run.
A backend failure does abort (there is nothing to store).

Besides the `SamplingParams`, a sample's sampling JSON holds what its backend reported (`Completion.info`):
`max_new_tokens_effective` (the budget after the context length), `prompt_tokens`, and `replica_of` (the
sample a greedy copy repeats), plus its own `sample_seed`; the identity guard ignores these keys.

`shard=(k, n)` evaluates only the examples with `shard_of(task, id, n) == k` (data parallelism: n processes
over one store, `eval.dataparallel`). A count of examples that differs from the benchmark's known size is
reported in `TaskResult.warning` (`count_warning`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sftscope.eval.config import EvalConfig
from sftscope.eval.scoring import SampleScorer, apply_outcome, check_needs, choose_protocol
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import (
    CheckpointRef,
    Completion,
    Generator,
    Messages,
    SampleRecord,
    SamplingParams,
    sample_seed,
)
from sftscope.store.db import Store
from sftscope.store.guard import check_sample

Progress = Callable[[str, int, int], None]  # (task, samples done, samples total)


@dataclass
class TaskResult:
    task: str
    protocol: str
    examples: int
    generated: int = 0  # samples generated in this call
    skipped: int = 0  # samples already stored
    tokens: int = 0
    score_errors: int = 0
    warning: str | None = None  # e.g. a count of examples that differs from the benchmark's known size


@dataclass
class EvalSummary:
    run: str
    checkpoint: str
    step: int
    tasks: list[TaskResult] = field(default_factory=list)

    @property
    def generated(self) -> int:
        return sum(t.generated for t in self.tasks)

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.tasks)


def check_configured_needs(spec: TaskSpec, protocol: TaskProtocol, cfg: EvalConfig) -> None:
    """Fail when the protocol's scorer needs a judge or reward model that `cfg` does not name, without
    building either (for the dry run, and before data-parallel workers start)."""
    named = types.SimpleNamespace(
        judge=cfg.judge,
        reward_model=cfg.reward_model,
        truthfulqa_judges=(cfg.truth_judge and cfg.info_judge) or None,
        unsafe_code_exec=cfg.unsafe_code_exec,  # SFTSCOPE_SANDBOX=unsafe is read by the sandbox itself
    )
    check_needs(spec, protocol, named)


def count_warning(spec: TaskSpec, count: int, limit: int | None) -> str | None:
    """A note when a task loads another number of examples than the benchmark holds (unless --limit says
    why): a partial or mixed-up local copy otherwise goes unnoticed."""
    if spec.size is None:
        return None
    expected = spec.size if limit is None else min(limit, spec.size)
    if count == expected:
        return None
    limited = f" (--limit {limit})" if limit is not None else ""
    return (
        f"task {spec.name}: {count} examples loaded, but the benchmark holds {spec.size}{limited}; "
        "check the data file (--data-path) or the download"
    )


def shard_of(task: str, example_id: str, shards: int) -> int:
    """Which of `shards` data-parallel shards evaluates an example: a stable hash of its id."""
    digest = hashlib.sha256(f"{task}\0{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def task_sampling(spec: TaskSpec, protocol: TaskProtocol, cfg: EvalConfig) -> SamplingParams:
    """The protocol's sampling with the run's overrides (temperature, top_p, max_new_tokens, seed, ...)."""
    from sftscope.errors import InputError

    try:
        params = dataclasses.replace(protocol.sampling, **cfg.sampling_overrides(spec.name))
    except TypeError as exc:
        raise InputError(f"task_sampling {spec.name}: {exc} (use SamplingParams field names)") from None
    return dataclasses.replace(params, n=cfg.n_samples or protocol.n_samples)


def evaluate(
    backend: Generator,
    tasks: list[TaskSpec],
    store: Store,
    ref: CheckpointRef,
    cfg: EvalConfig | None = None,
    *,
    context: ScoreContext | None = None,
    model_id: str = "",
    progress: Progress | None = None,
    shard: tuple[int, int] | None = None,
    stored: dict | None = None,
    examples: dict[str, list[Example]] | None = None,
) -> EvalSummary:
    """Generate, score and store every missing sample of `tasks` for checkpoint `ref` (of shard
    `shard=(k, n)` only, when given). `stored` (what `Store.stored` answered for this checkpoint) and
    `examples` (per task name) spare a caller that has them, the sweep's plan, a second query and load."""
    cfg = cfg or EvalConfig()
    chosen = [(spec, choose_protocol(spec, cfg.protocol)) for spec in tasks]
    scorers = [SampleScorer(spec, protocol, context) for spec, protocol in chosen]  # checks needs first
    checkpoint = store.record_checkpoint(ref, model_id)
    summary = EvalSummary(run=ref.run, checkpoint=checkpoint, step=ref.step)
    stored = store.stored(ref.run, checkpoint) if stored is None else stored
    examples = examples or {}
    for (spec, protocol), scorer in zip(chosen, scorers):
        with scorer:
            summary.tasks.append(
                _evaluate_task(
                    backend,
                    spec,
                    protocol,
                    scorer,
                    store,
                    ref,
                    checkpoint,
                    stored,
                    examples.get(spec.name),
                    cfg,
                    model_id,
                    progress,
                    shard,
                )
            )
    return summary


def _evaluate_task(
    backend: Generator,
    spec: TaskSpec,
    protocol: TaskProtocol,
    scorer: SampleScorer,
    store: Store,
    ref: CheckpointRef,
    checkpoint: str,
    stored: dict,
    examples: list[Example] | None,
    cfg: EvalConfig,
    model_id: str,
    progress: Progress | None,
    shard: tuple[int, int] | None,
) -> TaskResult:
    params = task_sampling(spec, protocol, cfg)
    sampling = dataclasses.asdict(params)
    if examples is None:
        examples = spec.load(limit=cfg.limit, data_path=cfg.data_paths.get(spec.name))
    result = TaskResult(task=spec.name, protocol=protocol.name, examples=len(examples))
    result.warning = count_warning(spec, len(examples), cfg.limit)
    if shard is not None:
        examples = [ex for ex in examples if shard_of(spec.name, ex.id, shard[1]) == shard[0]]
    done = stored.get((spec.name, spec.version, protocol.name), {})
    todo: list[tuple[Example, Messages, list[int]]] = []
    for ex in examples:
        messages = protocol.prompt(ex)
        missing = []
        for i in range(params.n):
            if (ex.id, i) in done:
                check_sample(
                    str(store.path), spec.name, (ex.id, i), done[(ex.id, i)], render(messages), sampling
                )
            else:
                missing.append(i)
        if missing:
            todo.append((ex, messages, missing))
    result.skipped = len(examples) * params.n - sum(len(m) for _, _, m in todo)
    # Similar lengths share a batch (less padding); the order is stable, so a resumed run continues in it.
    todo.sort(key=lambda item: len(render(item[1])))
    total = sum(len(m) for _, _, m in todo)
    if progress:
        progress(spec.name, 0, total)
    per_call = max(1, cfg.backend_options.batch_size // max(1, params.n))
    provenance = {**scorer.provenance(), **_backend_provenance(backend)}
    for start in range(0, len(todo), per_call):
        batch = todo[start : start + per_call]
        seeds = [[sample_seed(params.seed, spec.name, ex.id, i) for i in missing] for ex, _, missing in batch]
        outputs = _generate(backend, [m for _, m, _ in batch], params, [len(m) for _, _, m in batch], seeds)
        jobs = [
            (ex, messages, i, completion, {**sampling, **_reported(completion, missing[0], seed)})
            for (ex, messages, missing), completions, row_seeds in zip(batch, outputs, seeds)
            for i, completion, seed in zip(missing, completions, row_seeds)
        ]
        outcomes = scorer.score([job[0] for job in jobs], [job[3].text for job in jobs])
        records = [
            apply_outcome(
                _record(spec, protocol, ex, i, render(messages), c, stored, ref, checkpoint, model_id),
                outcome,
                protocol,
                provenance,
            )
            for (ex, messages, i, c, stored), outcome in zip(jobs, outcomes)
        ]
        store.add_samples(records)
        result.generated += len(records)
        result.tokens += sum(r.n_tokens for r in records)
        result.score_errors += sum(r.error is not None for r in records)
        if progress:
            progress(spec.name, result.generated, total)
    return result


def _generate(
    backend: Generator,
    prompts: list[Messages],
    params: SamplingParams,
    counts: list[int],
    seeds: list[list[int]],
) -> list[list[Completion]]:
    """Completions for prompts that miss different numbers of samples: one backend call per distinct count."""
    out: list[list[Completion]] = [[] for _ in prompts]
    for count in sorted(set(counts)):
        idx = [i for i, c in enumerate(counts) if c == count]
        got = backend.generate(
            [prompts[i] for i in idx], dataclasses.replace(params, n=count), [seeds[i] for i in idx]
        )
        if len(got) != len(idx) or any(len(g) != count for g in got):
            raise RuntimeError(f"backend {backend.name} returned the wrong number of completions")
        for i, completions in zip(idx, got):
            out[i] = completions
    return out


def _reported(completion: Completion, first_idx: int, seed: int) -> dict[str, Any]:
    """What the sample's sampling JSON holds besides SamplingParams: the backend's report and the seed."""
    info = dict(completion.info)
    if info.pop("replica", False):
        info["replica_of"] = first_idx  # a greedy copy of the first sample generated in the same call
    return {**info, "sample_seed": seed}


def _backend_provenance(backend: Generator) -> dict[str, Any]:
    describe = getattr(backend, "describe", None)
    info = describe() if callable(describe) else {}
    return {"backend": info.get("backend", getattr(backend, "name", "?"))}


def _record(
    spec: TaskSpec,
    protocol: TaskProtocol,
    example: Example,
    sample_idx: int,
    prompt: str,
    completion: Completion,
    sampling: dict[str, Any],
    ref: CheckpointRef,
    checkpoint: str,
    model_id: str,
) -> SampleRecord:
    return SampleRecord(
        run=ref.run,
        checkpoint=checkpoint,
        step=ref.step,
        task=spec.name,
        task_version=spec.version,
        domain=spec.domain,
        example_id=example.id,
        sample_idx=sample_idx,
        prompt=prompt,
        gold=example.gold,
        completion=completion.text,
        extracted=None,
        correct=False,
        score=0.0,
        n_tokens=completion.n_tokens,
        finish_reason=completion.finish_reason,
        sampling=sampling,
        protocol=protocol.name,
        metric=protocol.metric,
        model_id=model_id,
    )


def render(messages: Messages) -> str:
    """The prompt as stored: the user turn's text when there is one turn, else role-tagged turns."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)
