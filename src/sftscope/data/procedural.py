"""Short-answer procedural items from reasoning-gym, in the one prompt format that the lab shares.

The base-capability stage (train) and the procedural eval tasks (eval) both build prompts here, so that a
model trained on one is asked the other in the same words: the question, then an instruction to box the
final answer. The target of a base-stage item is just `\\boxed{answer}`.

Held-out split: an item belongs to the eval split when its question hashes into `EVAL_BUCKETS` of 10
buckets. The base stage never trains on eval-split questions, so the lab measures transfer, not recall.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sftscope.records import SFTRow

ANSWER_INSTRUCTION = "Put your final answer within \\boxed{}."
EVAL_BUCKETS = frozenset({0})


@dataclass(frozen=True)
class Family:
    """A reasoning-gym generator with the config the lab uses for it."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)


# Easy configs that a ~2M-parameter model can pick up in minutes (measured: docs/lab.md).
# products uses 1-2 digit factors: 1x1 digits has only 100 questions, too few for a train/eval split.
LAB_FAMILIES: dict[str, Family] = {
    "chain_sum": Family("chain_sum", {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 1}),
    "products": Family("products", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}),
    "spell_backward": Family("spell_backward", {"min_word_len": 3, "max_word_len": 4}),
    "letter_counting": Family("letter_counting", {"min_words": 1, "max_words": 3}),
}


def build_prompt(question: str) -> list[dict[str, str]]:
    """The chat messages for one procedural question."""
    return [{"role": "user", "content": f"{question.strip()}\n{ANSWER_INSTRUCTION}"}]


def is_eval_split(question: str) -> bool:
    digest = hashlib.sha256(question.strip().encode("utf-8")).digest()
    return digest[0] % 10 in EVAL_BUCKETS


def generate_items(family: Family, n: int, seed: int, split: str) -> list[dict[str, Any]]:
    """Draw up to `n` distinct reasoning-gym entries of `split` ("train" or "eval").

    Entries keep reasoning-gym's own dict (question, answer, metadata) so its `score_answer` works on them.
    """
    import reasoning_gym  # deferred: importing it costs about a second

    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    want_eval = split == "eval"
    # Oversample: about 1 in 10 questions is eval-split, and easy families repeat questions.
    pool = max(64, n * (40 if want_eval else 3))
    dataset = reasoning_gym.create_dataset(family.name, size=pool, seed=seed, **family.config)
    items, seen = [], set()
    for entry in dataset:
        question = entry["question"]
        if question in seen or is_eval_split(question) != want_eval:
            continue
        seen.add(question)
        items.append(entry)
        if len(items) == n:
            break
    return items


def base_stage_rows(families: dict[str, Family], n_per_family: int, seed: int) -> list[SFTRow]:
    """Training rows for the base-capability stage: prompt, then `\\boxed{answer}`."""
    rows = []
    for name, family in families.items():
        for i, entry in enumerate(generate_items(family, n_per_family, seed, "train")):
            rows.append(
                SFTRow(
                    messages=build_prompt(entry["question"]),
                    response=f"\\boxed{{{entry['answer']}}}",
                    answer=str(entry["answer"]),
                    id=f"{name}-{seed}-{i}",
                    source=f"reasoning_gym/{name}",
                )
            )
    return rows
