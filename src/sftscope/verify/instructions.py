"""IFEval's four metrics, as the reference's lm-eval fork computes them, with Google's instruction checkers.

Reference: `evaluation/lm-evaluation-harness/lm_eval/tasks/ifeval/utils.py` in
Nebularaid2000/rethink_sft_generalization (`process_results`, `test_instruction_following_strict/loose`,
`agg_inst_level_acc`). The checkers themselves are Google's `instructions.py`, which lm-eval vendors; we use
the copy packaged by `if-verifiable` (optional extra `sftscope[ifeval]`) instead of rewriting them.

Rules (where they differ from `if_verifiable.common.evaluate_instructions`, which we therefore do not use):
- the response is think-stripped by the fork's rules (`lmeval.strip_think`: text after the LAST `</think>`;
  an unclosed think block is left as is), not split at the first `</think>`;
- a kwarg is dropped when it is falsy (`if v`), not only when it is None;
- strict: the stripped response must be non-blank and pass; loose: any of 8 variants (drop the first line,
  the last, both; and each with `*` removed) passes.

Randomness: a checker whose kwargs leave a value open (IFEval keys 1122 and 1129 draw a random letter)
draws it from Python's global `random`. The reference never seeds it per example, so its draw depends on
everything sampled before; we seed it per example (`check_seed`) and store the seed, so a verdict is
reproducible. The global random state is restored afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftscope.verify.lmeval import strip_think


@dataclass(frozen=True)
class InstructionScores:
    """Per-instruction strict and loose results of one response."""

    strict: tuple[bool, ...]
    loose: tuple[bool, ...]


def check_seed(key: Any) -> int:
    """The seed of an IFEval example's checkers: a stable function of its key (31 bits)."""
    digest = hashlib.sha256(f"ifeval:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's global `random` seeded with `seed` inside the block (the checkers draw from it), and restored
    to its previous state after, so a verdict neither depends on nor disturbs other draws."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    cut = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", ""), *cut, *(text.replace("*", "") for text in cut)]


def _checker(registry: Mapping[str, Any], instruction_id: str, kwargs: Mapping[str, Any], prompt: str):
    checker = registry[instruction_id](instruction_id)
    checker.build_description(**{k: v for k, v in (kwargs or {}).items() if v})
    args = checker.get_instruction_args()
    if args and "prompt" in args:
        checker.build_description(prompt=prompt)
    return checker


def check_instructions(
    completion: str,
    instruction_ids: Sequence[str],
    kwargs_list: Sequence[Mapping[str, Any]],
    prompt: str,
    registry: Mapping[str, Any],
    seed: int,
) -> InstructionScores:
    """Strict and loose results of every instruction for one completion (think-stripped here)."""
    response = strip_think(completion)
    variants = loose_variants(response)
    with seeded(seed):
        # Two passes that each build their own checkers, as the reference does: an open value is drawn
        # once for the strict pass and again for the loose one.
        pairs = list(zip(instruction_ids, kwargs_list))
        strict = []
        for instruction_id, kwargs in pairs:
            checker = _checker(registry, instruction_id, kwargs, prompt)
            strict.append(bool(response.strip() and checker.check_following(response)))
        loose = []
        for instruction_id, kwargs in pairs:
            checker = _checker(registry, instruction_id, kwargs, prompt)
            loose.append(any(v.strip() and checker.check_following(v) for v in variants))
    return InstructionScores(tuple(strict), tuple(loose))
