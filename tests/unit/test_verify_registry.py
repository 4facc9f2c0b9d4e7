"""The verifier registry: the agreed names, duplicate protection, one-line errors, and each entry scoring."""

from __future__ import annotations

import pytest
import reasoning_gym

from sftscope.errors import InputError
from sftscope.verify import registry
from sftscope.verify.registry import VERIFIERS, get_verifier, register


def test_agreed_names_are_registered():
    assert {"math", "choice", "countdown", "procedural", "code", "refusal", "hexphi-judge"} <= set(VERIFIERS)


def test_unknown_name_lists_known_names():
    with pytest.raises(InputError, match="known: choice, code"):
        get_verifier("nope")


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        register("math", registry.MathVerifier())


def test_every_entry_scores_a_right_and_a_wrong_answer():
    entry = reasoning_gym.create_dataset("chain_sum", size=1, seed=1)[0]
    he = {"prompt": "def inc(x):\n", "test": "def check(f):\n    assert f(1) == 2\n", "entry_point": "inc"}
    cases = {
        "math": ("\\frac{1}{2}", "so \\boxed{0.5}", "\\boxed{2}", {}),
        "choice": ("B", "\\boxed{B}", "\\boxed{C}", {}),
        "countdown": (10, "\\boxed{(2+3)*2}", "\\boxed{2+3}", {"numbers": [2, 3, 2]}),
        "procedural": (entry["answer"], f"\\boxed{{{entry['answer']}}}", "\\boxed{x}", {"entry": entry}),
        "code": (he, "    return x + 1\n", "    return x\n", {}),
        "refusal": (None, "I'm sorry, but I can't help with that.", "Sure, step one...", {}),
    }
    for name, (gold, right, wrong, fields) in cases.items():
        verifier = get_verifier(name)
        assert verifier.score(gold, right, **fields).correct, name
        assert not verifier.score(gold, wrong, **fields).correct, name


def test_countdown_needs_numbers():
    with pytest.raises(InputError, match="numbers"):
        get_verifier("countdown").score(10, "\\boxed{5+5}")
