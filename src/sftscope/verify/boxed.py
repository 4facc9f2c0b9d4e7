"""Extract the content of the last `\\boxed{...}` (or `\\fbox{...}`) in a text, with balanced braces.

Every scorer that reads a final answer from a completion starts here, so that the math, choice and Countdown
verifiers agree on what "the final answer" is. `\\boxed 5` (a bare token after a space) is accepted too, as
math graders commonly do.

Cost is linear in the text: model output is hostile input (a model stuck repeating `\\boxed{` writes
megabytes of unclosed boxes), so no box is ever rescanned from its start. Scorers read only the last
`MAX_SCAN_CHARS` of an answer (`scan_tail`), where the final answer is, and record the cut (`scan_note`).
"""

from __future__ import annotations

import re
from typing import Any

MAX_SCAN_CHARS = 200_000  # ~50k tokens: longer than any answer part the paper's 32k-token budget allows

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_SPACES = re.compile(" *")
_BARE_ARGUMENT = re.compile(r"[^\s$]+")
# What brace matching looks at: an escaped brace or backslash (`\{`, `\}`, `\\`: skipped whole) or a brace.
# Other escapes (`\frac`, `\boxed`) cannot hide a brace, so the scan passes over them without a token.
_BRACE_TOKEN = re.compile(r"\\[\\{}]|[{}]")


def last_boxed(text: str) -> str | None:
    """The content of the last well-formed `\\boxed{...}`/`\\fbox{...}`, or None if there is none.

    Braces are matched by depth (escaped `\\{`/`\\}` do not count), so `\\boxed{\\frac{1}{2}}` gives
    `\\frac{1}{2}`. An unclosed box is skipped in favour of an earlier complete one.
    """
    if not isinstance(text, str) or "\\" not in text:
        return None
    # (end of the macro name, start of its argument) for every box, in text order
    boxes = [(m.end(), _SPACES.match(text, m.end()).end()) for m in _BOX_RE.finditer(text)]
    if not boxes:
        return None
    closes = _closing_braces(text, [arg for _, arg in boxes if text.startswith("{", arg)])
    for name_end, arg in reversed(boxes):
        if arg >= len(text):
            continue
        if text[arg] == "{":
            close = closes.get(arg)
            if close is not None:
                return text[arg + 1 : close]
        elif arg > name_end:  # `\boxed 5`; `\boxedx` is another macro name, not a box
            bare = _BARE_ARGUMENT.match(text, arg)
            if bare:
                return bare.group(0)
    return None


def _closing_braces(text: str, opens: list[int]) -> dict[int, int]:
    """{position of an opening brace in `opens`: position of its matching `}`}; unclosed ones are absent.

    One pass with a stack from the first of `opens`, stopping once all of them are closed. It pairs braces
    exactly as a depth count started at each opening brace would: a box's `{` follows only letters and
    spaces after a backslash, so it is never the second character of an escape, wherever the pass started.
    """
    wanted = set(opens)
    stack: list[int] = []
    closes: dict[int, int] = {}
    for token in _BRACE_TOKEN.finditer(text, opens[0]) if opens else ():
        char = token.group()
        if char == "{":
            stack.append(token.start())
        elif char == "}" and stack:
            start = stack.pop()
            if start in wanted:
                closes[start] = token.start()
                if len(closes) == len(wanted):
                    break
    return closes


def scan_tail(text: str, limit: int = MAX_SCAN_CHARS) -> str:
    """The part of an answer that extractors read: its last `limit` characters."""
    return text[-limit:] if len(text) > limit else text


def scan_note(text: str, limit: int = MAX_SCAN_CHARS) -> dict[str, Any] | None:
    """`Verdict.details` recording that only the tail of `text` was scanned, or None when all of it was."""
    if len(text) <= limit:
        return None
    return {"scanned_chars": limit, "answer_chars": len(text)}
