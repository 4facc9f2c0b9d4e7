"""The behaviour lexicon: the phrases that count as backtracking, verification and subgoal setting.

One module, so that `data audit` (on training data) and the sweep's behaviour trends (on model outputs)
count the same thing. Matching is case-insensitive and whole-word: a phrase must not be preceded or followed
by a letter or digit ("await" is not "wait"). Phrases ending in punctuation ("first,") keep it, which is
what separates an enumerating "First, ..." from "the first term". Rates are per 1,000 tokens of the text.
How the paper counted behaviours is unpublished; this lexicon follows the common cognitive-behaviour
categories (Gandhi et al., 2025) and is deliberately small and readable. Extend it here, nowhere else.
"""

from __future__ import annotations

import re

MARKERS: dict[str, tuple[str, ...]] = {
    "backtracking": (
        "wait",
        "let me reconsider",
        "let's reconsider",
        "that's not right",
        "that is not right",
        "that's wrong",
        "alternatively",
        "back up",
        "go back",
        "dead end",
        "on second thought",
        "let me try again",
        "i made a mistake",
        "try another",
        "instead,",
    ),
    "verification": (
        "let me check",
        "let's check",
        "check:",
        "verify",
        "let me verify",
        "substitute back",
        "substituting back",
        "plug it back",
        "double-check",
        "double check",
        "sanity check",
        "confirm",
    ),
    "subgoal": (
        "first,",
        "next,",
        "then,",
        "finally,",
        "step 1",
        "step 2",
        "let's break",
        "let me break",
        "break this down",
        "break it down",
        "we need to find",
        "the goal is",
    ),
}


def _alternation(phrases: tuple[str, ...]) -> str:
    # Longest first, so "let me verify" wins over "verify" and each occurrence counts once.
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(p.lower()).replace(r"\ ", r"\s+") for p in ordered)


# One pass over lowercased text with a named group per category: about 4x faster than three
# case-insensitive patterns, which matters for auditing 20k rows of 4k-character traces.
# All phrases start with a letter, so `\b` before them equals "not preceded by a letter or digit".
_COMBINED = re.compile(
    r"\b(?:" + "|".join(f"(?P<{name}>{_alternation(p)})" for name, p in MARKERS.items()) + r")(?!\w)"
)


def count_markers(text: str) -> dict[str, int]:
    """Occurrences of each category's phrases in `text`."""
    counts = dict.fromkeys(MARKERS, 0)
    for match in _COMBINED.finditer(text.lower()):
        counts[match.lastgroup] += 1
    return counts


def marker_rates(text: str, n_tokens: int) -> dict[str, float]:
    """Occurrences per 1,000 tokens (0.0 for an empty text)."""
    counts = count_markers(text)
    if n_tokens <= 0:
        return {name: 0.0 for name in counts}
    return {name: 1000.0 * count / n_tokens for name, count in counts.items()}
