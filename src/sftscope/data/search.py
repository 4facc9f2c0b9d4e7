"""The depth-first search behind Countdown-CoT traces, and its rendering as natural language.

The search is real: `search()` combines two of the available values with one operation at a time (the
positive-integer rule of `sftscope.verify.countdown`: `a-b` only when `a > b`, `a/b` only when exact; `*1`
and `/1` are skipped because they change nothing), recurses on the smaller set, and backs up when a branch
runs out of values without hitting the target. Every attempt is logged as an `Event`, and the trace text is
rendered from those events, so each dead end and each "back up" in a training row happened in the search.

Candidate order: at every node the candidates are sorted by how close their result is to the target, with
seeded noise. A pure heuristic order would rarely backtrack; pure random order gives very long traces; the
noise (`NOISE`) was tuned so that about half of 3-number traces back up at least once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

NOISE = 1.2  # in log-space units of |result/target|; larger means more dead ends

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True)
class Term:
    """A value with the expression that built it; `prec` is 3 for a bare number."""

    value: int
    expr: str
    prec: int = 3


@dataclass(frozen=True)
class Event:
    """One step of the search: an attempt, or a back-up out of a failed branch."""

    kind: str  # "try" (with values left), "leaf" (last value), "found", "backup"
    left: Term | None = None
    op: str = ""
    right: Term | None = None
    result: Term | None = None
    rest: tuple[int, ...] = ()
    depth: int = 0


@dataclass
class SearchResult:
    solution: Term | None
    events: list[Event] = field(default_factory=list)
    nodes: int = 0
    backtracks: int = 0
    truncated: bool = False

    @property
    def path(self) -> list[Event]:
        """The attempts on the way to the solution (for the "direct" style and the final check)."""
        stack: list[Event] = []
        for event in self.events:
            if event.kind == "backup":
                while stack and stack[-1].depth >= event.depth:
                    stack.pop()
            elif event.kind in ("try", "found"):
                while stack and stack[-1].depth >= event.depth:
                    stack.pop()
                stack.append(event)
        return stack


def combine(left: Term, op: str, right: Term) -> Term | None:
    """`left op right` under the positive-integer rule, with just enough parentheses to keep the tree."""
    a, b = left.value, right.value
    if op == "+":
        value = a + b
    elif op == "-":
        value = a - b
    elif op == "*":
        value = a * b
    elif b != 0 and a % b == 0:
        value = a // b
    else:
        return None
    if value <= 0:
        return None
    prec = _PRECEDENCE[op]
    lhs = left.expr if left.prec >= prec else f"({left.expr})"
    rhs = right.expr if right.prec > prec else f"({right.expr})"
    return Term(value, f"{lhs}{op}{rhs}", prec)


def candidates(terms: tuple[Term, ...]) -> list[tuple[Term, str, Term, Term, tuple[Term, ...]]]:
    """Every (left, op, right, result, rest) one step can make; larger operand first for - and /."""
    out = []
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            a, b = terms[i], terms[j]
            if a.value < b.value:
                a, b = b, a
            rest = terms[:i] + terms[i + 1 : j] + terms[j + 1 :]
            for op in ("+", "-", "*", "/"):
                if op in "*/" and b.value == 1:
                    continue
                result = combine(a, op, b)
                if result is not None:
                    out.append((a, op, b, result, rest))
    return out


def search(numbers: list[int], target: int, rng: random.Random, max_nodes: int | None = None) -> SearchResult:
    """Depth-first search for `target`; stops at the first hit, or after `max_nodes` attempts."""
    state = SearchResult(None)
    start = tuple(Term(n, str(n)) for n in numbers)
    for term in start:
        if term.value == target:
            state.solution = term
            return state
    _dfs(start, target, rng, state, max_nodes, 0)
    return state


def _dfs(terms, target, rng, state: SearchResult, max_nodes, depth) -> bool:
    options = candidates(terms)
    keyed = []
    for option in options:
        distance = abs(math.log(option[3].value / target))
        keyed.append((distance + rng.random() * NOISE, option))
    keyed.sort(key=lambda pair: pair[0])
    for _, (a, op, b, result, rest) in keyed:
        if max_nodes is not None and state.nodes >= max_nodes:
            state.truncated = True
            return False
        state.nodes += 1
        rest_values = tuple(t.value for t in rest)
        if result.value == target:
            state.events.append(Event("found", a, op, b, result, rest_values, depth))
            state.solution = result
            return True
        if not rest:
            state.events.append(Event("leaf", a, op, b, result, (), depth))
            continue
        state.events.append(Event("try", a, op, b, result, rest_values, depth))
        if _dfs((*rest, result), target, rng, state, max_nodes, depth + 1):
            return True
        if state.truncated:
            return False
        state.events.append(Event("backup", depth=depth + 1))
        state.backtracks += 1
    return False


# Phrasing varies a little (seeded), so a model cannot key on one fixed sentence, but stays deterministic.
_TOO_BIG = ("too big", "too high", "over")
_TOO_SMALL = ("too small", "too low", "short")
_BACKUP = ("Dead end, back up.", "No luck, back up.", "That fails, go back.", "Nothing works, back up.")
_FOUND = ("Found it!", "That hits the target!", "Got it!")


def _step(event: Event) -> str:
    return f"{event.left.value}{event.op}{event.right.value}={event.result.value}"


def render_trace(result: SearchResult, numbers: list[int], target: int, rng: random.Random) -> list[str]:
    """The think-block lines for a full search: attempts, dead ends, back-ups and the final check."""
    lines = [f"Numbers {', '.join(map(str, numbers))}; target {target}."]
    leaf_run: list[str] = []

    def flush() -> None:
        if leaf_run:
            lines.append(" ".join(leaf_run))
            leaf_run.clear()

    for event in result.events:
        if event.kind == "leaf":
            word = rng.choice(_TOO_BIG if event.result.value > target else _TOO_SMALL)
            leaf_run.append(f"{_step(event)}, {word}.")
            continue
        flush()
        if event.kind == "try":
            lines.append(
                f"Try {_step(event)}, left {', '.join(map(str, (*event.rest, event.result.value)))}."
            )
        elif event.kind == "backup":
            lines.append(rng.choice(_BACKUP))
        elif event.kind == "found":
            lines.append(f"{_step(event)}. {rng.choice(_FOUND)}")
    flush()
    lines.append(check_line(result))
    return lines


def render_path(result: SearchResult, numbers: list[int], target: int) -> list[str]:
    """Only the solution path and the check: the "direct" control without dead ends."""
    lines = [f"Numbers {', '.join(map(str, numbers))}; target {target}."]
    for event in result.path:
        lines.append(f"{_step(event)}.")
    lines.append(check_line(result))
    return lines


def check_line(result: SearchResult) -> str:
    steps = ", ".join(_step(event) for event in result.path)
    return f"Check: {steps}. Correct." if steps else "Check: the target is one of the numbers. Correct."
