"""Read and write SFT rows: Parquet, JSONL, and Hugging Face datasets (a hub id or a local dataset dir).

Every reader returns canonical `SFTRow`s (DESIGN.md § Data contract). The paper's columns are read as they
are: `message` -> messages, `advantage` -> weight, `logprob` -> logprobs, `entropy` -> entropies. Other names
map with `column_map={"old": "new"}` (`--map old=new`). Any other column is kept in `SFTRow.extra` and written
back unchanged (Countdown's numbers/target/search, for example).

Validation: a bad row is an `InputError` naming the file, the row index and the field. `logprobs` and
`entropies` are per response token; when a row has both, their lengths must match (the reader cannot know
the teacher's tokenizer; `data audit --tokenizer` compares against the response token count).

Local Parquet/JSONL files are read with pyarrow/json directly: no `datasets` cache, and no dependence on
building in-memory `datasets.Dataset`s (which fails on some dill versions, see BASELINES.md).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from sftscope.atomic import atomic_path
from sftscope.errors import InputError, row_error
from sftscope.records import SFTRow

CANONICAL = ("messages", "response", "answer", "weight", "id", "source", "logprobs", "entropies")
PAPER_ALIASES = {"message": "messages", "advantage": "weight", "logprob": "logprobs", "entropy": "entropies"}
SUFFIXES = (".parquet", ".jsonl", ".json")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def read_rows(
    source: str | os.PathLike, *, column_map: dict[str, str] | None = None, split: str = "train"
) -> list[SFTRow]:
    """Read `source` (a .parquet/.jsonl file, a local dir, a hub id, or `hf:<id or path>`) as canonical rows.

    `hf:` forces `datasets.load_dataset`; a bare `owner/name` that is not a local path is a hub id too.
    """
    raw = read_records(source, split=split)
    if not raw:
        raise row_error(source, None, None, "no rows", "the file is empty; point to a file with data")
    return [to_row(record, source, i, column_map) for i, record in enumerate(raw)]


def read_records(source: str | os.PathLike, *, split: str = "train") -> list[dict[str, Any]]:
    """The raw records of `source`, before any renaming or validation."""
    if str(source).startswith("hf:"):
        return read_hub(str(source)[3:], split)
    path = Path(source)
    if path.is_file():
        if path.suffix == ".parquet":
            return _read_parquet(path)
        if path.suffix in (".jsonl", ".json"):
            return _read_jsonl(path)
        raise InputError(f"{path}: unknown file type '{path.suffix}' (use .parquet or .jsonl)")
    if path.is_dir():
        return _read_dir(path, split)
    text = str(source)
    if _HUB_ID.fullmatch(text) and path.suffix not in SUFFIXES and not path.parent.exists():
        return read_hub(text, split)
    raise FileNotFoundError(2, "No such file or directory", str(source))


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a truncated or non-parquet file
        raise InputError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise row_error(
                    path, len(records), None, f"line {i + 1} is not valid JSON ({exc.msg})"
                ) from None
            if not isinstance(record, dict):
                raise row_error(path, len(records), None, "a JSONL row must be an object")
            records.append(record)
    return records


def _read_dir(path: Path, split: str) -> list[dict[str, Any]]:
    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        import datasets

        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise InputError(f"{path}: no split '{split}' (has {', '.join(loaded)}); pass --split")
            loaded = loaded[split]
        return loaded.to_list()
    files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and split in p.name) or sorted(
        p for p in path.rglob("*") if p.suffix in SUFFIXES
    )
    if not files:
        raise InputError(f"{path}: no .parquet/.jsonl files and no saved dataset in this directory")
    records: list[dict[str, Any]] = []
    for file in files:
        records.extend(_read_parquet(file) if file.suffix == ".parquet" else _read_jsonl(file))
    return records


def read_hub(repo_id: str, split: str = "train") -> list[dict[str, Any]]:
    """Records through `datasets.load_dataset` (a hub id like `owner/name`, or any local path it accepts)."""
    import datasets

    try:
        return datasets.load_dataset(repo_id, split=split).to_list()
    except Exception as exc:  # offline, missing, private or malformed: all are the user's to fix
        raise InputError(f"{repo_id}: cannot load this dataset ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def to_row(
    record: dict[str, Any], path: object, index: int, column_map: dict[str, str] | None = None
) -> SFTRow:
    """Rename (column_map, then the paper's aliases), validate and build one `SFTRow`."""
    data = dict(record)
    for old, new in (column_map or {}).items():
        if old in data:
            data[new] = data.pop(old)
    for old, new in PAPER_ALIASES.items():
        if old in data and new not in data:
            data[new] = data.pop(old)
    for name in ("messages", "response"):
        if name not in data:
            raise row_error(path, index, name, "missing column", "rename with --map OLD=" + name)
    messages = data.pop("messages")
    if isinstance(messages, str):  # some exports store the chat as a JSON string
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError:
            raise row_error(path, index, "messages", "a string that is not a JSON list of turns") from None
    if not isinstance(messages, list) or not messages:
        raise row_error(
            path,
            index,
            "messages",
            f"expected a non-empty list of {{role, content}}, got {type(messages).__name__}",
        )
    for turn in messages:
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get("role"), str)
            or not isinstance(turn.get("content"), str)
        ):
            raise row_error(path, index, "messages", "every turn needs string 'role' and 'content'")
    response = data.pop("response")
    if not isinstance(response, str):
        raise row_error(path, index, "response", f"expected a string, got {type(response).__name__}")
    answer = data.pop("answer", None)
    if answer is not None and not isinstance(answer, str):
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        else:
            raise row_error(path, index, "answer", f"expected a string or null, got {type(answer).__name__}")
    weight = data.pop("weight", None)
    weight = 1.0 if weight is None else weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise row_error(path, index, "weight", f"expected a finite number, got {weight!r}"[:200])
    ids = {}
    for name in ("id", "source"):
        value = data.pop(name, None)
        if value is not None and not isinstance(value, (str, int)):
            raise row_error(path, index, name, f"expected a string, got {type(value).__name__}")
        ids[name] = None if value is None else str(value)
    stats = {name: _floats(data.pop(name, None), path, index, name) for name in ("logprobs", "entropies")}
    if (
        stats["logprobs"] is not None
        and stats["entropies"] is not None
        and len(stats["logprobs"]) != len(stats["entropies"])
    ):
        raise row_error(
            path,
            index,
            "logprobs",
            f"{len(stats['logprobs'])} values but {len(stats['entropies'])} entropies; both are per response token",
        )
    return SFTRow(
        messages=[{"role": t["role"], "content": t["content"]} for t in messages],
        response=response,
        answer=answer,
        weight=float(weight),
        id=ids["id"],
        source=ids["source"],
        logprobs=stats["logprobs"],
        entropies=stats["entropies"],
        extra=data,
    )


def _floats(value: Any, path: object, index: int, name: str) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise row_error(path, index, name, "expected a list of numbers or null")
    return [float(v) for v in value]


def write_rows(rows: list[SFTRow], path: str | os.PathLike) -> Path:
    """Write canonical rows (plus extras) to .parquet or .jsonl, atomically. Returns the path."""
    path = Path(path)
    records = [row.to_dict() for row in rows]
    if path.suffix == ".parquet":
        _write_parquet(records, path)
    elif path.suffix in (".jsonl", ".json"):
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    else:
        raise InputError(f"{path}: unknown output type '{path.suffix}' (use .parquet or .jsonl)")
    return path


def _write_parquet(records: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names: list[str] = list(CANONICAL)
    for record in records:  # extras may differ between rows: take the union, in order of first appearance
        names.extend(k for k in record if k not in names)
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in an extra column: keep it as JSON text
            columns[name] = pa.array(
                [None if v is None else json.dumps(v, default=str) for v in values], pa.string()
            )
    table = pa.table(columns)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def parse_column_map(pairs: list[str] | None) -> dict[str, str]:
    """`["old=new", ...]` from `--map` into a dict."""
    mapping = {}
    for pair in pairs or []:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise InputError(f"--map expects OLD=NEW, got {pair!r}")
        mapping[old.strip()] = new.strip()
    return mapping
