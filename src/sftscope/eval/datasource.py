"""Where a benchmark's rows come from: the Hugging Face hub for users, or a local copy via `--data-path`.

Local copies go through the one reader of the data layer (`sftscope.data.reader`): .jsonl, .json (an array
of rows, or JSON Lines), .parquet, .csv, a save_to_disk folder, or a folder of such files read in path order.
A `--data-path` is always local here (the task's own loader is the hub path), and a folder is read whole: a
benchmark file is whatever split the user saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sftscope.data import reader
from sftscope.data.reader import read_jsonl
from sftscope.errors import InputError, row_error

__all__ = ["hub_rows", "read_jsonl", "read_records", "require"]


def read_records(path: str | Path, *, csv_header: bool = True) -> list[dict[str, Any]]:
    """Rows of a local data file or folder, each a dict; malformed rows name their line or item."""
    return reader.read_records(path, split=None, csv_header=csv_header, hub=False)


def require(row: dict[str, Any], fields: Iterable[str], where: object, index: int) -> None:
    """Raise an InputError naming the first missing field of a row."""
    for name in fields:
        if name not in row:
            raise row_error(
                where, index, name, "missing", f"the file must have the dataset's columns: {list(fields)}"
            )


def hub_rows(
    task: str, data_path: str | None, hub: Callable[[], Iterable[dict[str, Any]]], how: str
) -> list[dict]:
    """Rows from `data_path` when given, else from the hub loader; an unreachable hub says how to get them."""
    if data_path is not None:
        return read_records(data_path)
    try:
        return [dict(row) for row in hub()]
    except InputError:
        raise
    except Exception as exc:  # offline, gated, missing: datasets raises many types
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"task {task}: could not load its data set from the hub ({first}); {how}, "
            f"or pass a local copy with --data-path {task}=FILE"
        ) from None
