"""The scorers by name: `VERIFIERS`, `register()`, `get_verifier()`.

Every scorer implements the `Verifier` Protocol, `score(gold, completion, **fields) -> Verdict`; the
fields a scorer needs besides gold are keyword arguments:

| name          | gold                      | fields                                   | module            |
|---------------|---------------------------|------------------------------------------|-------------------|
| math          | LaTeX answer              | -                                        | verify/math.py    |
| choice        | option letter             | letters="ABCD" (default A-J)             | verify/choice.py  |
| countdown     | target (int or str)       | numbers=[...], target= (optional)        | verify/countdown.py |
| procedural    | reasoning-gym answer      | entry={question, answer, metadata}       | verify/procedural.py |
| code          | problem dict or its JSON  | HumanEval or LiveCodeBench fields        | verify/code.py    |
| refusal       | unused                    | -                                        | verify/safety.py  |
| hexphi-judge  | unused                    | question=, generator= (a judge backend)  | verify/policy_judge.py |
"""

from __future__ import annotations

from typing import Any, Protocol

from sftscope.errors import InputError
from sftscope.records import Verdict
from sftscope.verify.choice import ChoiceVerifier
from sftscope.verify.code import CodeVerifier
from sftscope.verify.countdown import CountdownVerifier
from sftscope.verify.math import MathVerifier
from sftscope.verify.policy_judge import JudgeScorer
from sftscope.verify.procedural import ProceduralVerifier
from sftscope.verify.safety import RefusalVerifier


class Verifier(Protocol):
    """A scorer: judges one completion against its gold answer (and any extra fields it needs)."""

    def score(self, gold: Any, completion: str, **fields: Any) -> Verdict: ...


VERIFIERS: dict[str, Verifier] = {}


def register(name: str, verifier: Verifier) -> Verifier:
    """Add a scorer under `name`; a name can be registered once."""
    if name in VERIFIERS:
        raise ValueError(f"verifier {name!r} is already registered")
    VERIFIERS[name] = verifier
    return verifier


def get_verifier(name: str) -> Verifier:
    """The scorer registered as `name`, or an InputError that lists the known names."""
    try:
        return VERIFIERS[name]
    except KeyError:
        known = ", ".join(sorted(VERIFIERS))
        raise InputError(f"unknown verifier {name!r} (known: {known})") from None


register("math", MathVerifier())
register("choice", ChoiceVerifier())
register("countdown", CountdownVerifier())
register("procedural", ProceduralVerifier())
register("code", CodeVerifier())
register("refusal", RefusalVerifier())
register("hexphi-judge", JudgeScorer())
