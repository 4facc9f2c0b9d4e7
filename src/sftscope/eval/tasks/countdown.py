"""Countdown: reach a target from a few integers with + - * / (the lab's in-domain task; the paper's
Countdown-CoT data is the same game, Gandhi et al., 2024, "Stream of Search").

Dataset: held-out problems from `sftscope.data.countdown.eval_problems` (generated offline, seeded; a
problem whose key hashes into the eval split is never emitted for training). `countdown` uses the generator's
`DEFAULTS` (3-4 numbers from 1-10, target up to 100); `countdown3` (the lab suite's) uses 3 numbers, the
size a 2M-parameter model learns on 2 CPU cores in minutes (docs/lab.md). Both use the same prompt words
(`sftscope.data.countdown.build_prompt`).
Answer format: an expression in `\\boxed{}` after `</think>` (a bare one-line expression also counts), checked
by `sftscope.verify.countdown.score_countdown`: each number at most once, every intermediate result a positive
integer, value equal to the target. The gold is the problem itself as JSON ({"numbers": [...], "target": N}),
so stored rows rescore without regenerating anything.
"""

from __future__ import annotations

import json
from functools import partial

from sftscope.data.countdown import DEFAULTS, build_prompt, eval_problems
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SamplingParams, Verdict
from sftscope.verify.countdown import score_countdown

EVAL_SEED = 0  # fixed: part of the task version
SIZE = 200
SAMPLING = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=512)  # a search trace fits in ~300


def load(limit: int | None, data_path: str | None, k_min: int, k_max: int) -> list[Example]:
    n = SIZE if limit is None else min(limit, SIZE)
    problems = eval_problems(
        n,
        seed=EVAL_SEED,
        k_min=k_min,
        k_max=k_max,
        max_number=DEFAULTS["max_number"],
        max_target=DEFAULTS["max_target"],
    )
    return [
        Example(
            id=str(p["id"]),
            gold=json.dumps({"numbers": p["numbers"], "target": p["target"]}),
            data={"numbers": p["numbers"], "target": p["target"]},
        )
        for p in problems
    ]


def prompt(example: Example) -> list[dict[str, str]]:
    return build_prompt(example.data["numbers"], example.data["target"])


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    problem = json.loads(example.gold or "{}")
    return score_countdown(completion, problem["numbers"], problem["target"])


def _spec(name: str, k_min: int, k_max: int) -> TaskSpec:
    return TaskSpec(
        name=name,
        domain="in_domain",
        version="1",
        loader=partial(load, k_min=k_min, k_max=k_max),
        protocols=(
            TaskProtocol(
                name="strict",
                prompt=prompt,
                score=score,
                sampling=SAMPLING,
                n_samples=1,
                metric="accuracy",
                scoring="inline",
                scorer_id="countdown expression v1",
            ),
        ),
        source=f"sftscope.data.countdown (eval split, {k_min}-{k_max} numbers)",
        size=SIZE,
        rescore_from="gold",
    )


TASK = _spec("countdown", DEFAULTS["k_min"], DEFAULTS["k_max"])
LAB_TASK = _spec("countdown3", 3, 3)
