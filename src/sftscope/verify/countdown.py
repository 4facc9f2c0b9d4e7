"""The Countdown verifier: is an arithmetic expression a valid way to reach the target?

The rules, shared with the generator in `sftscope.data.countdown`:
- only the given integers, each used at most as often as it is given (not every number must be used);
- only `+`, `-`, `*`, `/` and parentheses (`×`, `÷` and `−` are read as `*`, `/`, `-`);
- every intermediate result, evaluated as Python's `ast` parses the expression (left to right, `*`/`/`
  before `+`/`-`), must be a positive integer: subtraction must stay above zero and division must be exact;
- the value must equal the target. A trailing `= <target>` is allowed.

Safety: the text is length-checked and character-whitelisted (ASCII digits, operators, parentheses, spaces)
before `ast.parse`; only BinOp/Constant nodes are evaluated, never `eval`. Operands above `MAX_OPERAND`
are rejected, so `9**9**9` (refused anyway: `**` is not an operator here), 10 MB strings, unicode digits
such as '٣' and deep nesting all return quickly with a verdict.

Reasons (`records.REASONS`): `unparsed` when no expression can be read (no box, empty, characters or syntax
outside the grammar), `invalid_answer` when an expression breaks a rule, `wrong` when it is valid but does
not reach the target (or states another one), `too_long`, `unfinished`. `details["why"]` names the rule or
the problem: number_reused, number_not_given, inexact_division, non_positive_intermediate, bad_characters,
syntax, wrong_value, wrong_equation, ...
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from fractions import Fraction
from typing import Any

from sftscope.errors import InputError
from sftscope.records import (
    CORRECT,
    INVALID_ANSWER,
    NOT_A_STRING,
    TOO_LONG,
    UNFINISHED,
    UNPARSED,
    WRONG,
    Verdict,
    split_think,
)
from sftscope.verify.boxed import last_boxed

MAX_EXPRESSION_CHARS = 200
MAX_OPERAND = 10**12  # far above any lab value; keeps multiplication chains bounded
_ALLOWED = re.compile(r"[0-9+\-*/() ]*")
_TRANSLATE = str.maketrans({"×": "*", "÷": "/", "−": "-", "\\": " "})
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_DIGITS = re.compile(r"\s*([0-9]{1,13})\s*")  # a target written as text, as JSON files sometimes hold it


class _Reject(Exception):
    """An expression breaks a rule; the message is the rule, the verdict's `details["why"]`."""


def _verdict(reason: str, extracted: str | None, why: str) -> Verdict:
    return Verdict(False, extracted, reason, details={"why": why})


def verify_countdown(expression: str | None, numbers: list[int], target: int) -> Verdict:
    """Score a bare expression such as `7*3+5` against the given numbers and target."""
    if expression is None:
        return _verdict(UNPARSED, None, "no_answer")
    if not isinstance(expression, str):
        return Verdict(False, None, NOT_A_STRING)
    if len(expression) > MAX_EXPRESSION_CHARS * 4:
        return Verdict(False, None, TOO_LONG, details={"answer_chars": len(expression)})
    text = _normalize(expression)
    if "=" in text:
        text, _, rhs = text.partition("=")
        if rhs.strip() != str(target):
            return _verdict(WRONG, text.strip(), "wrong_equation")
    text = text.strip()
    if not text:
        return _verdict(UNPARSED, None, "empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        return Verdict(False, None, TOO_LONG, details={"answer_chars": len(text)})
    if not _ALLOWED.fullmatch(text) or "**" in text or "//" in text:
        return _verdict(UNPARSED, text, "bad_characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _verdict(UNPARSED, text, "syntax")
    used: list[int] = []
    try:
        value = _evaluate(tree.body, used)
    except _Reject as exc:
        return _verdict(INVALID_ANSWER, text, str(exc))
    except RecursionError:
        return _verdict(INVALID_ANSWER, text, "too_deep")
    available = Counter(int(n) for n in numbers)
    if Counter(used) - available:
        extra = sorted((Counter(used) - available).elements())
        why = "number_not_given" if any(n not in available for n in extra) else "number_reused"
        return _verdict(INVALID_ANSWER, text, why)
    if value != int(target):
        return _verdict(WRONG, text, "wrong_value")
    return Verdict(True, text, CORRECT)


def score_countdown(completion: str, numbers: list[int], target: int, *, strip_think: bool = True) -> Verdict:
    """Score a full completion: the last `\\boxed{}` after `</think>` (or of the whole text) is the answer.

    A completion whose `<think>` never closes has no answer. Without a box, a completion that is itself a
    short expression (a bare model output) is scored as one.
    """
    if not isinstance(completion, str):
        return Verdict(False, None, NOT_A_STRING)
    text = completion
    if strip_think:
        think, text = split_think(completion)
        if think is not None and not text.strip():
            return Verdict(False, None, UNFINISHED)
    boxed = last_boxed(text[-20000:])  # a box is short; never scan megabytes of hostile text twice
    if boxed is None:
        stripped = text.strip()
        if stripped and len(stripped) <= MAX_EXPRESSION_CHARS and "\n" not in stripped:
            return verify_countdown(stripped, numbers, target)
        return _verdict(UNPARSED, None, "no_boxed")
    return verify_countdown(boxed, numbers, target)


def _normalize(expression: str) -> str:
    # \times, \div and \cdot from LaTeX-minded models; `$` and `\(` wrappers are dropped.
    text = expression.replace("\\times", "*").replace("\\cdot", "*").replace("\\div", "/")
    text = text.replace("$", " ").replace("\\(", " ").replace("\\)", " ").translate(_TRANSLATE)
    return " ".join(text.split())


def _evaluate(node: ast.AST, used: list[int]) -> int:
    if isinstance(node, ast.Constant):
        if type(node.value) is not int:
            raise _Reject("not_an_integer")
        if node.value <= 0:
            raise _Reject("non_positive_number")
        if node.value > MAX_OPERAND:
            raise _Reject("operand_too_large")
        used.append(node.value)
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left = _evaluate(node.left, used)
        right = _evaluate(node.right, used)
        op = _OPS[type(node.op)]
        if op == "+":
            result = Fraction(left + right)
        elif op == "-":
            result = Fraction(left - right)
        elif op == "*":
            result = Fraction(left * right)
        else:
            result = Fraction(left, right)
        if result.denominator != 1:
            raise _Reject("inexact_division")
        if result <= 0:
            raise _Reject("non_positive_intermediate")
        if result > MAX_OPERAND:
            raise _Reject("operand_too_large")
        return int(result)
    raise _Reject("disallowed_syntax")


def countdown_target(value: Any, field: str = "target") -> int:
    """A row's target as an int: an int, an integral float or a string of digits, in 1..MAX_OPERAND.

    Anything else ("three", NaN, inf, a bool, a list) is an InputError naming the field, not a crash.
    """
    target = None
    if isinstance(value, int) and not isinstance(value, bool):
        target = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        target = int(value)
    elif isinstance(value, str) and (digits := _DIGITS.fullmatch(value)):
        target = int(digits.group(1))
    if target is None or not 0 < target <= MAX_OPERAND:
        raise InputError(
            f"countdown verifier: field '{field}' is {repr(value)[:40]}, not a positive integer "
            f"up to {MAX_OPERAND}"
        )
    return target


def countdown_numbers(value: Any) -> list[int]:
    """A row's `numbers` as a list of ints; InputError naming the field for anything else."""
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in value
    ):
        raise InputError(
            f"countdown verifier: field 'numbers' is {repr(value)[:40]}, not a list of integers "
            "(give e.g. [3, 7, 25])"
        )
    return list(value)


class CountdownVerifier:
    """`score(gold, completion, numbers=[...], target=N) -> Verdict`; `target` defaults to `gold`."""

    name = "countdown"

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict:
        if "numbers" not in fields:
            raise InputError("countdown verifier: missing field 'numbers' (the list of usable numbers)")
        numbers = countdown_numbers(fields["numbers"])
        if "target" in fields:
            target = countdown_target(fields["target"])
        else:
            target = countdown_target(gold, "gold")
        return score_countdown(completion, numbers, target)
