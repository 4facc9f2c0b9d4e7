"""Extract the content of the last `\\boxed{...}` (or `\\fbox{...}`) in a text, with balanced braces.

Every scorer that reads a final answer from a completion starts here, so that the math, choice and Countdown
verifiers agree on what "the final answer" is. `\\boxed 5` (a bare token after a space) is accepted too, as
math graders commonly do.
"""

from __future__ import annotations

import re

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")


def last_boxed(text: str) -> str | None:
    """The content of the last well-formed `\\boxed{...}`/`\\fbox{...}`, or None if there is none.

    Braces are matched by depth (escaped `\\{`/`\\}` do not count), so `\\boxed{\\frac{1}{2}}` gives
    `\\frac{1}{2}`. An unclosed box is skipped in favour of an earlier complete one.
    """
    if not isinstance(text, str) or "\\" not in text:
        return None
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    for start in reversed(starts):
        content = _box_content(text, start)
        if content is not None:
            return content
    return None


def _box_content(text: str, start: int) -> str | None:
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        if i == start:  # `\boxedx` is another macro name, not a box
            return None
        match = re.match(r"[^\s$]+", text[i:])
        return match.group(0) if match else None
    depth = 0
    j = i
    while j < len(text):
        ch = text[j]
        if ch == "\\":
            j += 2  # skip an escaped character such as \{ or \}
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
        j += 1
    return None
