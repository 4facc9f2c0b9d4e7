"""Multiple-choice scoring (GPQA-Diamond A–D, MMLU-Pro A–J): extract one option letter and compare.

Order of evidence, on the text after `</think>` (docs/paper.md, evaluation settings):
1. the last `\\boxed{...}`, accepting `\\boxed{B}`, `\\boxed{\\text{B}}`, `\\boxed{(B)}`, `\\boxed{B. text}`;
2. otherwise the last answer phrase: "answer is (B)", "answer is: B", "Answer: B", "final answer: **B**";
3. otherwise nothing: the verdict's reason is "unparsed", kept apart from "wrong" so that the unparsed rate
   can be reported on its own.
A completion whose `<think>` never closes has no answer part, so it is unparsed. Only the last
`MAX_SCAN_CHARS` of the answer part are read (`Verdict.details` records a cut); extraction is linear.
"""

from __future__ import annotations

import re
import string
from typing import Any

from sftscope.errors import InputError
from sftscope.records import CORRECT, NOT_A_STRING, UNPARSED, WRONG, Verdict, split_think
from sftscope.verify.boxed import last_boxed, scan_note, scan_tail

DEFAULT_LETTERS = string.ascii_uppercase[:10]  # A–J covers MMLU-Pro; GPQA uses A–D

_TEXT_MACRO = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
# A boxed answer names an option when it is the letter alone, or the letter followed by a bracket or
# punctuation and the option text: "B", "(B)", "[B]", "B.", "B) 42", "(B) 42", "B: 42", "Option B".
_BOXED_LETTER = re.compile(
    r"^(?:option\s+)?[\(\[]?([A-Za-z])(?:[\)\]](?:\s.*)?|\s*[\.:\)]\s*.*)?$", re.DOTALL | re.IGNORECASE
)
# "answer is (B)", "answer is: B", "Answer: B", "**Answer:** B", "final answer is option D". The letter must be
# upper case, so that "the answer is a bit unclear" does not read as "A". No two neighbouring repeats can
# match the same character (`[\s:*]*` then a bracket or "option", never a second run of spaces), so a
# failed match backtracks once per character, not once per way to split a run: linear, not quadratic.
_PHRASE = re.compile(r"(?i:answer)\s*(?:is|:)[\s:*]*(?:(?:(?i:option)|[(\[])[\s*(\[]*)?([A-Z])(?![A-Za-z])")


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


def choice_in(text: str, letters: str = DEFAULT_LETTERS) -> str | None:
    """The option letter `text` commits to: its last boxed letter, else its last answer phrase; or None."""
    boxed = last_boxed(text)
    if boxed is not None:
        letter = _letter(boxed, letters)
        if letter is not None:
            return letter
    for match in reversed(list(_PHRASE.finditer(text))):
        letter = match.group(1).upper()
        if letter in letters:
            return letter
    return None


def extract_choice(completion: str, letters: str = DEFAULT_LETTERS) -> str | None:
    """The option letter a completion commits to (after `</think>`), or None when none can be read."""
    return choice_in(scan_tail(split_think(completion)[1]), letters)


def verify_choice(gold: str, completion: str, letters: str = DEFAULT_LETTERS) -> Verdict:
    """Correct when the extracted letter equals `gold`; reason "correct", "wrong" or "unparsed"."""
    if not isinstance(completion, str):
        return Verdict(False, None, NOT_A_STRING)
    extracted = extract_choice(completion, letters)
    note = scan_note(split_think(completion)[1])
    if extracted is None:
        return Verdict(False, None, UNPARSED, details=note)
    correct = extracted == gold.strip().upper()
    return Verdict(correct, extracted, CORRECT if correct else WRONG, details=note)


def option_letters(value: Any) -> str:
    """A row's `letters` field ("ABCD" or ["A", "B", "C", "D"]) as an upper-case string; InputError if bad."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and len(v) == 1 for v in value):
        value = "".join(value)
    if not isinstance(value, str) or not value or not all("A" <= c <= "Z" for c in value.upper()):
        raise InputError(
            f"choice verifier: field 'letters' is {repr(value)[:40]}, not the option letters "
            '(give a string such as "ABCD")'
        )
    return value.upper()


def gold_letter(gold: Any, letters: str) -> str:
    """A row's gold as one of `letters`; InputError naming the field when it is not one."""
    letter = gold.strip().upper() if isinstance(gold, str) else None
    if letter is None or len(letter) != 1 or letter not in letters:
        raise InputError(
            f"choice verifier: field 'gold' is {repr(gold)[:40]}, not one of the option letters {letters}"
        )
    return letter


class ChoiceVerifier:
    """`score(gold, completion, letters=...) -> Verdict` for the registry."""

    name = "choice"

    def __init__(self, letters: str = DEFAULT_LETTERS):
        self.letters = letters

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        letters = option_letters(fields.get("letters", self.letters))
        return verify_choice(gold_letter(gold, letters), completion, letters)
