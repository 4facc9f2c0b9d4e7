"""Procedural reasoning tasks from reasoning-gym, held out from all training (Stojanovski et al., 2025,
"Reasoning Gym: Reasoning Environments for Reinforcement Learning with Verifiable Rewards").

Dataset: generated offline by the `reasoning-gym` package from a fixed seed; only questions that hash into
the eval split of `sftscope.data.procedural` are used, so the lab's base stage never trained on them.
Prompts come from `sftscope.data.procedural.build_prompt` (the question, then "Put your final answer within
\\boxed{}."), the same words the base stage was trained with.
Answer format: `\\boxed{answer}`, scored by reasoning-gym's own `score_answer`; only a score of 1.0 counts
as correct, and `score` is 1.0/0.0 (reasoning-gym's partial credit is dropped).

Two groups of tasks:
- `lab` suite: the four base-stage families (LAB_FAMILIES), cross-domain for a Countdown SFT. Small and
  greedy with short outputs, so the suite runs per checkpoint on CPU in seconds.
- `offline` suite: six further families spanning arithmetic, logic, graphs/search, string manipulation and
  games, at reasoning-gym's default difficulty.
"""

from __future__ import annotations

from functools import partial

from sftscope.data.procedural import LAB_FAMILIES, Family, build_prompt, generate_items
from sftscope.eval.spec import Example, ScoreContext, TaskProtocol, TaskSpec
from sftscope.records import SamplingParams, Verdict, text_hash
from sftscope.verify.procedural import verify_procedural

EVAL_SEED = 20260  # fixed: part of every procedural task's version
LAB_SIZE = 100
OFFLINE_SIZE = 100
LAB_SAMPLING = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=64)
OFFLINE_SAMPLING = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=1024)

# family -> what it exercises; reasoning-gym default configs.
OFFLINE_FAMILIES: dict[str, tuple[Family, str]] = {
    "basic_arithmetic": (Family("basic_arithmetic"), "arithmetic"),
    "syllogism": (Family("syllogism"), "logic"),
    "shortest_path": (Family("shortest_path"), "graphs/search"),
    "caesar_cipher": (Family("caesar_cipher"), "string manipulation"),
    "word_sorting": (Family("word_sorting"), "string manipulation"),
    "mini_sudoku": (Family("mini_sudoku"), "games"),
}


def load(family: Family, size: int, limit: int | None, data_path: str | None) -> list[Example]:
    n = size if limit is None else min(limit, size)
    entries = generate_items(family, n, EVAL_SEED, "eval")
    return [
        Example(
            id=f"{family.name}-{text_hash(entry['question'])}",
            gold=str(entry["answer"]),
            data={"family": family.name, "question": entry["question"], "entry": entry},
        )
        for entry in entries
    ]


def prompt(example: Example) -> list[dict[str, str]]:
    return build_prompt(example.data["question"])


def score(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    verdict = verify_procedural(example.gold, completion, entry=example.data["entry"])
    # Partial credit is not credit: score is 1.0/0.0 like every other task, so avg@k means accuracy.
    return Verdict(verdict.correct, verdict.extracted, verdict.reason, score=float(verdict.correct))


def _spec(family: Family, size: int, sampling: SamplingParams, note: str) -> TaskSpec:
    return TaskSpec(
        name=family.name,
        domain="cross_domain",
        version="1",
        loader=partial(load, family, size),
        protocols=(
            TaskProtocol(
                name="strict",
                prompt=prompt,
                score=score,
                sampling=sampling,
                n_samples=1,
                metric="accuracy",
                scoring="inline",
                scorer_id="reasoning-gym score_answer == 1.0",
            ),
        ),
        source=f"reasoning-gym {family.name} ({note})",
        size=size,
    )


LAB_TASKS = tuple(
    _spec(family, LAB_SIZE, LAB_SAMPLING, "lab base-stage family, eval split")
    for family in LAB_FAMILIES.values()
)
OFFLINE_TASKS = tuple(
    _spec(family, OFFLINE_SIZE, OFFLINE_SAMPLING, skill) for family, skill in OFFLINE_FAMILIES.values()
)
