"""Answer rules of the reference's evalchemy fork (paper protocol of GPQA-Diamond and of LiveCodeBench's code
extraction), written from its files; nothing here is evalchemy's code.

Reference files (repository Nebularaid2000/rethink_sft_generalization):
- GPQA: `evaluation/evalchemy/eval/chat_benchmarks/GPQADiamond/testing_utils.py`
  (`get_multiple_choice_answer`, `last_boxed_only_string`) and `.../GPQADiamond/eval_instruct.py`;
- LiveCodeBench: `evaluation/evalchemy/eval/chat_benchmarks/LiveCodeBench/eval_instruct.py` (`has_code`,
  `evaluate_single_example`) and `.../LiveCodeBench/livecodebench_utils.py` (`post_process_code`).

Both read the RAW output, think block included.
"""

from __future__ import annotations

import re

from sftscope.records import CORRECT, UNPARSED, WRONG, Verdict

GPQA_LETTERS = "ABCD"
# Tried in this order; within a pattern the FIRST match (case-insensitive) wins, so "the answer is a bit
# unclear" reads as A, exactly as the reference reads it.
GPQA_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?:correct answer|right answer|answer)\s*(?:is|:)\s*([A-D])",
        # One run of spaces per gap: "pick" + 40k spaces took 17 s with `\s*(?:option)?\s*` (split points).
        r"(?:choose|select|pick)\s*(?:option\s*)?([A-D])",
        r"(?:option|choice)\s*([A-D])\s*(?:is correct|is right)",
        r"\b([A-D])\s*(?:is correct|is right|is the answer)",
    )
)
_BOX_OPEN = "\\boxed{"
_BOX_INNER = re.compile(r"\\boxed\{(.*)\}")  # greedy, and `.` stops at a newline

_LCB_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def last_box(text: str) -> str | None:
    """The last `\\boxed{...}` with its wrapper, braces counted from the last `\\boxed{` (no escapes, no
    `\\fbox`); None when there is none or it never closes."""
    start = text.rfind(_BOX_OPEN)
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def gpqa_answer(output: str) -> str:
    """The letter GPQA's reference reads from an output, or "" (unparsed).

    The candidate is the last box's inner text (a greedy `\\boxed{(.*)}` on the box; a box whose content
    spans lines keeps its wrapper) or, without a box, the whole output. Then the first "answer is X"-style
    phrase of the four patterns; else the candidate, with trailing "." and "/" removed and stripped, must be
    one letter A-D (either case).
    """
    candidate = output
    box = last_box(output)
    if box:
        inner = _BOX_INNER.search(box)
        candidate = inner.group(1) if inner else box
    if not candidate:
        return ""
    for pattern in GPQA_PATTERNS:
        match = pattern.search(candidate)
        if match:
            return match.group(1).upper()
    candidate = candidate.rstrip(".").rstrip("/").strip()
    if len(candidate) == 1 and candidate.upper() in GPQA_LETTERS:
        return candidate.upper()
    return ""


def score_gpqa(gold: str, completion: str) -> Verdict:
    letter = gpqa_answer(completion)
    if not letter:
        return Verdict(False, None, UNPARSED)
    correct = letter == gold
    return Verdict(correct, letter, CORRECT if correct else WRONG)


def lcb_code(response: str) -> str | None:
    """The program evalchemy's LiveCodeBench runs for a response, or None when it has nothing to run.

    The last ```python block (the fence must be exactly "```python" and a newline). A response without
    one is graded on its LAST CHARACTER: the reference takes `[-1]` of the response string when `has_code`
    found no block, so such a response is effectively always wrong. Then the post-processing: cut at
    `</code>`, drop "```python" and "# YOUR CODE HERE", cut at the next "```", drop "<code>", strip.
    """
    blocks = _LCB_BLOCK.findall(response)
    if blocks:
        last = blocks[-1]
    elif response:
        last = response[-1]
    else:
        return None
    code = last.split("</code>")[0].replace("```python", "").replace("# YOUR CODE HERE", "")
    return code.split("```")[0].replace("<code>", "").strip()
