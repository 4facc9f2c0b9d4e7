"""Synthetic stored runs for the analysis and report tests: known curves, known behaviour, no model."""

from __future__ import annotations

import random
from collections.abc import Sequence

from sftscope.records import SampleRecord

STEPS = (0, 10, 20, 40, 80, 160, 320)
# Cross-domain dips at 40 then recovers; in-domain climbs; safety erodes.
CURVES: dict[str, tuple[str, Sequence[float]]] = {
    "countdown": ("in_domain", (0.30, 0.35, 0.42, 0.50, 0.58, 0.66, 0.74)),
    "math500": ("in_domain", (0.55, 0.55, 0.57, 0.60, 0.63, 0.66, 0.70)),
    "gpqa_diamond": ("cross_domain", (0.40, 0.33, 0.28, 0.22, 0.30, 0.38, 0.47)),
    "mmlu_pro": ("cross_domain", (0.50, 0.45, 0.40, 0.36, 0.42, 0.48, 0.55)),
    "ifeval": ("general", (0.60, 0.60, 0.59, 0.61, 0.60, 0.60, 0.61)),
    "hexphi": ("safety", (0.95, 0.92, 0.88, 0.84, 0.80, 0.75, 0.70)),
}


def completion(rng: random.Random, correct: bool, step: int) -> tuple[str, int]:
    """Correct answers carry more verification/backtracking; length grows with training."""
    words = ["compute the sum"] * (20 + step // 8)
    markers = rng.randint(1, 5) if correct else rng.randint(0, 3)
    for _ in range(markers):
        words.insert(rng.randrange(len(words)), rng.choice(["Wait,", "Let me check", "First,"]))
    text = "<think>" + " ".join(words) + "</think> The answer is \\boxed{1}."
    return text, 3 * len(words) + rng.randrange(10)


def synthetic_records(
    run: str = "synthetic",
    steps: Sequence[int] = STEPS,
    curves: dict[str, tuple[str, Sequence[float]]] | None = None,
    n_questions: int = 60,
    k: int = 2,
    seed: int = 0,
    metrics: dict[str, str] | None = None,
) -> list[SampleRecord]:
    """`metrics`: task -> records.METRICS name (default accuracy). attack_success samples carry a judge
    score as `extracted` (5 = unsafe), a few unparsed."""
    rng = random.Random(f"{run}:{seed}")
    curves = curves or CURVES
    out = []
    for task, (domain, probs) in curves.items():
        metric = (metrics or {}).get(task, "accuracy")
        offsets = [rng.uniform(-0.25, 0.25) for _ in range(n_questions)]  # question difficulty
        for step, p in zip(steps, probs):
            for q in range(n_questions):
                pq = min(1.0, max(0.0, p + offsets[q]))
                for i in range(k):
                    ok = rng.random() < pq
                    text, n_tokens = completion(rng, ok, step)
                    extracted = "1" if ok else ("2" if rng.random() < 0.9 else None)
                    if metric == "attack_success":
                        extracted = None if rng.random() < 0.05 else ("1" if ok else "5")
                    out.append(
                        SampleRecord(
                            run=run,
                            checkpoint=f"step-{step}",
                            step=step,
                            task=task,
                            task_version="1",
                            domain=domain,
                            example_id=f"{task}-{q}",
                            sample_idx=i,
                            prompt=f"question {q}",
                            gold="1",
                            completion=text,
                            extracted=extracted,
                            correct=ok,
                            score=float(ok),
                            n_tokens=n_tokens,
                            finish_reason="length" if rng.random() < step / 2000 else "stop",
                            metric=metric,
                        )
                    )
    return out
