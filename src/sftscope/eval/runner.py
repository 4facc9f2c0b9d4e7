"""Evaluate one checkpoint on a list of tasks, resumably.

For each task: load its examples, ask the store which (example_id, sample_idx) keys are already there, and
generate only the missing samples, a batch of prompts at a time. Every batch is scored and written in one
transaction before the next starts, so a kill loses at most one batch, and a re-run of a finished
evaluation generates nothing. A sample whose scoring raises is stored with `correct=False` and the error
text; it never aborts the run. A backend failure does abort (there is nothing to store).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sftscope.eval.backends.base import Generator
from sftscope.eval.spec import Example, TaskSpec
from sftscope.records import CheckpointRef, Completion, SampleRecord, SamplingParams
from sftscope.store.db import Store

Progress = Callable[[str, int, int], None]  # (task, samples done, samples total)
CODE_SCORERS = 2  # parallel sandboxes for code tasks (one per core here)


@dataclass
class TaskResult:
    task: str
    examples: int
    generated: int = 0  # samples generated in this call
    skipped: int = 0  # samples already stored
    tokens: int = 0
    score_errors: int = 0


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


def task_sampling(spec: TaskSpec, overrides: dict | None = None) -> SamplingParams:
    """The task's default sampling with CLI overrides (temperature, top_p, max_new_tokens, seed) applied."""
    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    return dataclasses.replace(spec.sampling, **values)


def evaluate(
    backend: Generator,
    tasks: list[TaskSpec],
    store: Store,
    ref: CheckpointRef,
    limit: int | None = None,
    progress: Progress | None = None,
    *,
    n_samples: int | None = None,
    sampling: dict | None = None,
    data_paths: dict[str, str] | None = None,
    batch_size: int = 64,
) -> EvalSummary:
    """Generate, score and store every missing sample of `tasks` for checkpoint `ref`."""
    checkpoint = store.record_checkpoint(ref)
    summary = EvalSummary(run=ref.run, checkpoint=checkpoint, step=ref.step)
    for spec in tasks:
        k = n_samples or spec.n_samples
        params = dataclasses.replace(task_sampling(spec, sampling), n=k)
        store.record_task(spec.name, spec.version, spec.domain, k, spec.metric, dataclasses.asdict(params))
        examples = spec.load(limit=limit, data_path=(data_paths or {}).get(spec.name))
        result = TaskResult(task=spec.name, examples=len(examples))
        summary.tasks.append(result)
        done = store.existing_keys(ref.run, checkpoint, spec.name, spec.version)
        # (example, sample indices still missing), grouped below by how many are missing.
        todo = [(ex, [i for i in range(k) if (ex.id, i) not in done]) for ex in examples]
        result.skipped = sum(k - len(missing) for _, missing in todo)
        # Similar lengths share a batch (less padding, fewer wasted steps); the order is stable for resume.
        todo = sorted(((ex, m) for ex, m in todo if m), key=lambda item: len(_render(spec.prompt(item[0]))))
        total = sum(len(m) for _, m in todo)
        if progress:
            progress(spec.name, 0, total)
        for start in range(0, len(todo), max(1, batch_size // max(1, k))):
            batch = todo[start : start + max(1, batch_size // max(1, k))]
            records = _run_batch(backend, spec, batch, params, ref, checkpoint)
            store.add_samples(records)
            result.generated += len(records)
            result.tokens += sum(r.n_tokens for r in records)
            result.score_errors += sum(r.error is not None for r in records)
            if progress:
                progress(spec.name, result.generated, total)
    return summary


def _run_batch(
    backend: Generator,
    spec: TaskSpec,
    batch: list[tuple[Example, list[int]]],
    params: SamplingParams,
    ref: CheckpointRef,
    checkpoint: str,
) -> list[SampleRecord]:
    records: list[SampleRecord] = []
    # One generate call per distinct count of missing samples (normally one: all k, on a fresh run).
    for count in sorted({len(missing) for _, missing in batch}):
        group = [(ex, missing) for ex, missing in batch if len(missing) == count]
        prompts = [spec.prompt(ex) for ex, _ in group]
        outputs = backend.generate(prompts, dataclasses.replace(params, n=count))
        jobs = [
            (ex, sample_idx, _render(messages), completion)
            for (ex, missing), messages, completions in zip(group, prompts, outputs)
            for sample_idx, completion in zip(missing, completions)
        ]

        def score(job, spec=spec):
            return _record(spec, *job, params, ref, checkpoint)

        if spec.verifier == "code":
            # Code scoring waits on sandboxed subprocesses, so threads overlap it. Math-Verify must stay in
            # the main thread: its timeouts use signals.
            with ThreadPoolExecutor(max_workers=CODE_SCORERS) as pool:
                records.extend(pool.map(score, jobs))
        else:
            records.extend(map(score, jobs))
    return records


def _record(
    spec: TaskSpec,
    example: Example,
    sample_idx: int,
    prompt: str,
    completion: Completion,
    params: SamplingParams,
    ref: CheckpointRef,
    checkpoint: str,
) -> SampleRecord:
    error = None
    try:
        verdict = spec.score(example, completion.text)
        correct, extracted, score = bool(verdict.correct), verdict.extracted, verdict.value
    except Exception as exc:  # a scorer bug or hostile output must not abort a sweep
        correct, extracted, score = False, None, 0.0
        error = f"{type(exc).__name__}: {exc}"[:500]
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
        extracted=extracted,
        correct=correct,
        score=score,
        n_tokens=completion.n_tokens,
        finish_reason=completion.finish_reason,
        sampling=dataclasses.asdict(params),
        error=error,
    )


def _render(messages: list[dict[str, str]]) -> str:
    """The prompt as stored: the user turn's text when there is one turn, else role-tagged turns."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)
