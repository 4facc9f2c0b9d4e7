"""Where a benchmark's rows come from: the Hugging Face hub for users, or a local file via `--data-path`.

Local files are read with pyarrow/json directly (not through `datasets`), so tests and offline users never
touch a hub cache or `datasets`' fingerprinting. Formats: .jsonl, .json (a list of rows), .parquet, .csv,
or a directory of such files (read in name order).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sftscope.errors import InputError, row_error

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def read_records(path: str | Path, *, csv_header: bool = True) -> list[dict[str, Any]]:
    """Rows of a local data file (or a directory of them), each a dict; malformed rows name their line."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
        if not files:
            raise InputError(f"{path}: no {'/'.join(SUFFIXES)} files in this directory")
        return [row for f in files for row in read_records(f, csv_header=csv_header)]
    if not path.is_file():
        raise InputError(f"{path}: data file not found (check --data-path)")
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(f"{path}: expected a JSON list of objects (or use .jsonl, one object per line)")
        return data
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise InputError(f"{path}: cannot read parquet ({exc})") from None
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            if csv_header:
                return [dict(row) for row in csv.DictReader(handle)]
            return [{"text": row[0]} for row in csv.reader(handle) if row]
    raise InputError(f"{path}: unsupported file type {path.suffix!r} (use {', '.join(SUFFIXES)})")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """One JSON object per line; a malformed line is an InputError naming its (1-based) line number."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


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
