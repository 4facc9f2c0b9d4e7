"""The task registry: a plain dict of `TaskSpec`s plus named suites.

Built-in tasks register themselves when `sftscope.eval.tasks` is imported (one import line per module, at
the bottom of this file). A suite is a named list of task names; `resolve_suite` also accepts a
comma-separated list of task names.
"""

from __future__ import annotations

from sftscope.errors import InputError
from sftscope.eval.spec import TaskSpec

TASKS: dict[str, TaskSpec] = {}
SUITES: dict[str, list[str]] = {"paper": [], "lab": [], "offline": [], "safety": []}


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
    """A suite name (`paper`, `lab`, `offline`, `safety`) or task names separated by commas."""
    name_or_csv = name_or_csv.strip()
    if name_or_csv in SUITES:
        return [TASKS[n] for n in SUITES[name_or_csv]]
    names = [n.strip() for n in name_or_csv.split(",") if n.strip()]
    if not names:
        raise InputError(f"no tasks given (name a suite: {', '.join(SUITES)}, or tasks separated by commas)")
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise InputError(
            f"unknown task or suite {', '.join(map(repr, unknown))} (suites: {', '.join(SUITES)}; "
            f"tasks: {', '.join(sorted(TASKS))})"
        )
    return [TASKS[n] for n in dict.fromkeys(names)]


def suites_of(task: str) -> list[str]:
    return [suite for suite, names in SUITES.items() if task in names]


from sftscope.eval import tasks as _builtin_tasks  # noqa: E402,F401  (registers the built-in tasks)
