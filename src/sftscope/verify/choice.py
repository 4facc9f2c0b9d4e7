"""Multiple-choice scoring (GPQA-Diamond A–D, MMLU-Pro A–J): extract one option letter and compare.

Order of evidence, on the text after `</think>` (PAPER.md § Evaluation settings):
1. the last `\\boxed{...}`, accepting `\\boxed{B}`, `\\boxed{\\text{B}}`, `\\boxed{(B)}`, `\\boxed{B. text}`;
2. otherwise the last answer phrase: "answer is (B)", "answer is: B", "Answer: B", "final answer: **B**";
3. otherwise nothing: the verdict's reason is "unparsed", kept apart from "wrong" so that the unparsed rate
   can be reported on its own.
A completion whose `<think>` never closes has no answer part, so it is unparsed.
"""

from __future__ import annotations

import re
import string

from sftscope.records import Verdict, split_think
from sftscope.verify.boxed import last_boxed

DEFAULT_LETTERS = string.ascii_uppercase[:10]  # A–J covers MMLU-Pro; GPQA uses A–D

_TEXT_MACRO = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
# A boxed answer names an option when it is the letter alone, or the letter followed by a bracket or
# punctuation and the option text: "B", "(B)", "[B]", "B.", "B) 42", "(B) 42", "B: 42", "Option B".
_BOXED_LETTER = re.compile(
    r"^(?:option\s+)?[\(\[]?([A-Za-z])(?:[\)\]](?:\s.*)?|\s*[\.:\)]\s*.*)?$", re.DOTALL | re.IGNORECASE
)
# "answer is (B)", "answer is: B", "Answer: B", "**Answer:** B", "final answer is option D". The letter must be
# upper case, so that "the answer is a bit unclear" does not read as "A".
_PHRASE = re.compile(r"(?i:answer)\s*(?:is|:)[\s:\*]*(?:(?i:option)\s*)?[\*\(\[\s]*([A-Z])(?![A-Za-z])")


def _letter(candidate: str, letters: str) -> str | None:
    """The option letter that a boxed answer names, or None."""
    text = candidate
    for _ in range(3):  # \text{\textbf{B}} unwraps in two passes
        text = _TEXT_MACRO.sub(r"\1", text)
    match = _BOXED_LETTER.match(text.strip().strip("$").strip())
    if not match:
        return None
    letter = match.group(1).upper()
    return letter if letter in letters else None


def extract_choice(completion: str, letters: str = DEFAULT_LETTERS) -> str | None:
    """The option letter a completion commits to, or None when none can be read."""
    _, answer = split_think(completion)
    boxed = last_boxed(answer)
    if boxed is not None:
        letter = _letter(boxed, letters)
        if letter is not None:
            return letter
    for match in reversed(list(_PHRASE.finditer(answer))):
        letter = match.group(1).upper()
        if letter in letters:
            return letter
    return None


def verify_choice(gold: str, completion: str, letters: str = DEFAULT_LETTERS) -> Verdict:
    """Correct when the extracted letter equals `gold`; reason "correct", "wrong" or "unparsed"."""
    extracted = extract_choice(completion, letters)
    if extracted is None:
        return Verdict(False, None, "unparsed")
    correct = extracted == gold.strip().upper()
    return Verdict(correct, extracted, "correct" if correct else "wrong")


class ChoiceVerifier:
    """`score(gold, completion, letters=...) -> Verdict` for the registry."""

    name = "choice"

    def __init__(self, letters: str = DEFAULT_LETTERS):
        self.letters = letters

    def score(self, gold: str, completion: str, **fields) -> Verdict:
        return verify_choice(gold, completion, fields.get("letters", self.letters))
