"""Which files of a `--data-path` folder belong to a task, so that splits and configs are never mixed.

A hub snapshot often holds more than the benchmark: GPQA ships main, extended and diamond; MMLU-Pro its test
and validation splits; LiveCodeBench one `test*.jsonl` per release. `task_rows` reads a file as given, and a
folder only through the task's `FileRule`: each of its patterns must match (several shards of one pattern
are read in name order), and anything else stops with an error that names what the folder holds. A folder
with exactly one data file is read as that file.

    rows = task_rows("gpqa_diamond", data_path, hub, how, FileRule(("*diamond*",), "gpqa_diamond.csv"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from sftscope.data import reader
from sftscope.errors import InputError
from sftscope.eval.datasource import hub_rows, read_records

MAX_LISTED = 8  # file names an error message lists
SAVED = ("dataset_info.json", "dataset_dict.json", "state.json")  # a `save_to_disk` folder: one data set


@dataclass(frozen=True)
class FileRule:
    """Patterns that together make up the task's data, and `what` the user should pass (for messages).

    A pattern is matched against a data file's lower-cased path inside the folder; "a|b" means either.
    No patterns: the folder must hold one data file."""

    patterns: tuple[str, ...] = ()
    what: str = "one data file"
    shards: bool = False  # a pattern may match several files (one split cut into shards)


def select_files(task: str, folder: Path, rule: FileRule) -> list[Path]:
    """The task's own files in `folder`, or an InputError naming what the folder holds."""
    files = reader.data_files(folder, None)  # hidden files and `datasets` metadata skipped, path order
    if len(files) == 1:
        return files
    names = [p.relative_to(folder).as_posix() for p in files]
    listed = ", ".join(names[:MAX_LISTED]) + (
        f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    )
    fix = f"pass {rule.what} itself with --data-path {task}=FILE"
    chosen: list[Path] = []
    for pattern in rule.patterns:
        hits = [p for p, name in zip(files, names) if _matches(name.lower(), pattern)]
        if not hits:
            raise InputError(
                f"{folder}: task {task} needs {rule.what}, and no file matches {pattern!r} "
                f"(found: {listed}); {fix}"
            )
        if len(hits) > 1 and not rule.shards:
            raise InputError(
                f"{folder}: several files match {pattern!r} for task {task} "
                f"({', '.join(p.name for p in hits)}); {fix}"
            )
        chosen.extend(hits)
    if not chosen:
        raise InputError(
            f"{folder}: holds {len(files)} data files ({listed}); task {task} reads {rule.what} "
            f"and never mixes files; {fix}"
        )
    return chosen


def _matches(name: str, pattern: str) -> bool:
    return any(fnmatchcase(name, alternative) for alternative in pattern.split("|"))


def local_rows(task: str, data_path: str, rule: FileRule, *, csv_header: bool = True) -> list[dict[str, Any]]:
    path = Path(data_path)
    if not path.is_dir() or any((path / name).is_file() for name in SAVED):
        return read_records(path, csv_header=csv_header)
    return [
        row for file in select_files(task, path, rule) for row in read_records(file, csv_header=csv_header)
    ]


def task_rows(
    task: str,
    data_path: str | None,
    hub: Callable[[], Iterable[dict[str, Any]]],
    how: str,
    rule: FileRule = FileRule(),
) -> list[dict[str, Any]]:
    """Rows from a local copy (a file, or the rule's files of a folder), else from the hub loader."""
    if data_path is not None:
        return local_rows(task, data_path, rule)
    return hub_rows(task, None, hub, how)
