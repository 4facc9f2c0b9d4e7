"""The task registry: duplicates raise, suites and comma lists resolve, unknown names are clear errors."""

from __future__ import annotations

import pytest

from sftscope.errors import InputError
from sftscope.eval import registry
from sftscope.eval.tasks import SUITES, TASKS, get_task, register, resolve_suite


def test_duplicate_and_unknown_suite_raise():
    with pytest.raises(ValueError, match="already registered"):
        register(TASKS["math500"])
    spec = TASKS["math500"]
    clone = type(spec)(**{**spec.__dict__, "name": "clone_for_test"})
    with pytest.raises(ValueError, match="unknown suite"):
        register(clone, suites=("nightly",))
    assert "clone_for_test" not in TASKS


def test_resolve_suite_and_lists():
    assert [t.name for t in resolve_suite("lab")] == SUITES["lab"]
    assert [t.name for t in resolve_suite(" math500, aime24 ,math500")] == ["math500", "aime24"]
    mixed = [t.name for t in resolve_suite("general,lab,math500")]
    assert mixed == [*SUITES["general"], *SUITES["lab"], "math500"]  # suites mix with tasks
    with pytest.raises(InputError, match=r"unknown task or suite 'nope'.*suites: paper"):
        resolve_suite("math500,nope")
    with pytest.raises(InputError, match="no tasks"):
        resolve_suite(" , ")
    with pytest.raises(InputError, match="eval list"):
        get_task("nope")


def test_builtins_register_through_explicit_imports():
    import sys
    from pathlib import Path

    import sftscope.eval.tasks as tasks

    modules = {p.stem for p in Path(tasks.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert modules >= {
        "math500",
        "aime24",
        "aime25",
        "gpqa",
        "mmlu_pro",
        "livecodebench",
        "ifeval",
        "hexphi",
        "countdown",
        "procedural",
        "humaneval",
    }
    assert all(f"sftscope.eval.tasks.{m}" in sys.modules for m in modules), "every task module is imported"
    assert registry.suites_of("countdown") == ["offline"]
    assert registry.suites_of("countdown3") == ["lab"]


def test_the_registry_imports_nothing_above_spec():
    """No import cycle: eval.registry never imports the task modules; eval.tasks registers them."""
    import ast
    from pathlib import Path

    source = Path(registry.__file__).read_text()
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "sftscope.errors", "sftscope.eval.spec"}
