"""The task registry machinery: a plain dict of `TaskSpec`s, named suites and `register()`.

It imports nothing above `spec`. The built-in tasks are registered by `sftscope.eval.tasks`, the one list of
task modules; import the lookups from there (`from sftscope.eval.tasks import get_task, resolve_suite`) so
the built-ins are always present. A suite is a named list of task names; `resolve_suite` also accepts a
comma-separated list of task names.
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.spec import TaskSpec

TASKS: dict[str, TaskSpec] = {}
SUITES: dict[str, list[str]] = {"paper": [], "general": [], "safety": [], "lab": [], "offline": []}


def register(spec: TaskSpec, suites: tuple[str, ...] = ()) -> TaskSpec:
    """Add a task (and append it to the named suites); a duplicate name is an error."""
    if spec.name in TASKS:
        raise ValueError(f"task {spec.name!r} is already registered")
    for suite in suites:
        if suite not in SUITES:
            raise ValueError(f"task {spec.name}: unknown suite {suite!r} (known: {', '.join(SUITES)})")
    TASKS[spec.name] = spec
    for suite in suites:
        SUITES[suite].append(spec.name)
    return spec


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise InputError(
            f"unknown task {name!r} (known tasks: {', '.join(sorted(TASKS))}; see `sftscope eval list`)"
        ) from None


def resolve_suite(name_or_csv: str) -> list[TaskSpec]:
    """A suite name or task names separated by commas (suites and task names may be mixed)."""
    parts = [n.strip() for n in name_or_csv.split(",") if n.strip()]
    if not parts:
        raise InputError(f"no tasks given (name a suite: {', '.join(SUITES)}, or tasks separated by commas)")
    unknown = [n for n in parts if n not in TASKS and n not in SUITES]
    if unknown:
        raise InputError(
            f"unknown task or suite {', '.join(map(repr, unknown))} (suites: {', '.join(SUITES)}; "
            f"tasks: {', '.join(sorted(TASKS))})"
        )
    names = [t for n in parts for t in SUITES.get(n, [n])]
    return [TASKS[n] for n in dict.fromkeys(names)]


def suites_of(task: str) -> list[str]:
    return [suite for suite, names in SUITES.items() if task in names]
