"""The two protocols shared by MATH-500, AIME 2024 and AIME 2025 (each task module holds its own data).

`paper` is the reference's math_eval, `evaluation/math_eval/math_eval_budget.py` in
Nebularaid2000/rethink_sft_generalization (`build_prompt`, `DATASET_CONFIGS`, the vLLM `SamplingParams` and
`process_single_result_no_truncation`):
- prompt: one user turn, `"{problem}\\n Please reason step by step, and put your final answer within
  \\boxed{}."` (a space after the newline), the model's chat template, no system prompt;
- sampling: temperature 0.6, top_p 0.95, up to 32,768 new tokens, avg@3 (MATH-500) / avg@10 (AIME);
- scoring: Math-Verify on the whole raw response against the boxed gold (`verify.rawmath`), so an unclosed
  think block that holds the right box is correct.
`strict` scores the answer after `</think>` only, and an unclosed think block is wrong (`verify.math`).
"""

from __future__ import annotations

from sftscope.eval.spec import MATH_INSTRUCTION, PAPER_SAMPLING, Example, ScoreContext, TaskProtocol
from sftscope.records import Verdict
from sftscope.verify.math import verify_math
from sftscope.verify.rawmath import score_math_raw


def paper_prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{example.data['problem']}\n {MATH_INSTRUCTION}"}]


def strict_prompt(example: Example) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{example.data['problem']}\n{MATH_INSTRUCTION}"}]


def score_paper(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return score_math_raw(example.gold or "", completion)


def score_strict(example: Example, completion: str, ctx: ScoreContext) -> Verdict:
    return verify_math(example.gold or "", completion, strip_think=True)


MATH_WARMUP = "sftscope.verify.math:warm_up"  # quiets Math-Verify and builds its regexes


def protocols(n_samples: int) -> tuple[TaskProtocol, TaskProtocol]:
    """(paper, strict) for a competition-math task sampled `n_samples` times per problem."""
    paper = TaskProtocol(
        name="paper",
        prompt=paper_prompt,
        score=score_paper,
        sampling=PAPER_SAMPLING,
        n_samples=n_samples,
        metric="accuracy",
        scoring="processes",
        worker_warmup=MATH_WARMUP,
        scorer_id="math-verify parse(full raw response) vs boxed gold (reference math_eval) v1",
        description="as the reference: prompt with '\\n ', whole raw response parsed (think included)",
    )
    strict = TaskProtocol(
        name="strict",
        prompt=strict_prompt,
        score=score_strict,
        sampling=PAPER_SAMPLING,
        n_samples=n_samples,
        metric="accuracy",
        scoring="processes",
        worker_warmup=MATH_WARMUP,
        scorer_id="math-verify after </think> (strict)",
        description="last box after </think>; an unclosed think block is wrong",
    )
    return paper, strict
