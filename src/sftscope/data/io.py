"""SFT rows in and out: canonical `SFTRow`s from any source `data.reader` reads, and Parquet/JSONL writers.

Every reader returns canonical `SFTRow`s (docs/design.md § Data contract). The paper's columns are read as
they are: `message` -> messages, `advantage` -> weight, `logprob` -> logprobs, `entropy` -> entropies. Other
names map with `column_map={"old": "new"}` (`--map old=new`). Any other column is kept in `SFTRow.extra` and
written back unchanged (Countdown's numbers/target/search, for example).

Validation: a bad row is an `InputError` naming the file, the row index and the field. `logprobs` and
`entropies` are per response token; when a row has both, their lengths must match (the reader cannot know
the teacher's tokenizer; `data audit --tokenizer` compares against the response token count).

Writing: what cannot be written faithfully is an `InputError` before any file is touched: NaN or Infinity
into JSON (not JSON), an integer beyond int64 anywhere (Parquet cannot hold it; the reader refuses it).
`check_writable` runs the same checks up front, so a long `data verify` does not fail at its last step.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sftscope.atomic import atomic_open, atomic_path
from sftscope.data import jsontext
from sftscope.data.reader import read_records
from sftscope.errors import InputError, row_error
from sftscope.records import SFTRow

CANONICAL = ("messages", "response", "answer", "weight", "id", "source", "logprobs", "entropies")
PAPER_ALIASES = {"message": "messages", "advantage": "weight", "logprob": "logprobs", "entropy": "entropies"}
OUTPUT_SUFFIXES = (".parquet", ".jsonl", ".json")


def read_rows(
    source: str | os.PathLike, *, column_map: dict[str, str] | None = None, split: str = "train"
) -> list[SFTRow]:
    """Read `source` (a file, a directory, a hub id, or `hf:<id or path>`; see `data.reader`) as rows."""
    raw = read_records(source, split=split)
    if not raw:
        raise row_error(source, None, None, "no rows", "the file is empty; point to a file with data")
    return [to_row(record, source, i, column_map) for i, record in enumerate(raw)]


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
            messages = jsontext.decode(messages, f"{path}: row {index}: field 'messages'")
        except InputError as exc:
            raise InputError(f"{exc} (expected a JSON list of turns)") from None
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
        if isinstance(answer, float) and not math.isfinite(answer):
            raise row_error(path, index, "answer", f"{answer} is not an answer", "use a string or null")
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
    """Write canonical rows (plus extras) to .parquet, .jsonl or .json (an array), atomically."""
    path = Path(path)
    records = [row.to_dict() for row in rows]
    suffix = _output_suffix(path)
    if suffix == ".parquet":
        _check_records(records, path, suffix)  # pyarrow would raise a bare OverflowError beyond int64
        _write_parquet(records, path)
        return path
    lines = [jsontext.encode(record, f"{path}: row {i}") for i, record in enumerate(records)]
    if suffix == ".json":  # an array, one row per line: valid JSON that still diffs line by line
        text = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
    else:
        text = "".join(line + "\n" for line in lines)
    with atomic_open(path) as handle:
        handle.write(text)
    return path


def _output_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if not suffix and _is_stream(path):  # /dev/stdout, a FIFO: a stream of JSON lines
        return ".jsonl"
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{path}: unknown output type '{path.suffix}' (use .parquet, .jsonl or .json)")
    return suffix


def _is_stream(path: Path) -> bool:
    """A FIFO, a device or anything under /dev (`/dev/stdout`, even when redirected to a file)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or str(path.absolute()).startswith("/dev/")


def check_writable(rows: list[SFTRow], path: str | os.PathLike) -> None:
    """Raise the error `write_rows(rows, path)` would raise for a value, without writing anything."""
    path = Path(path)
    _check_records((row.to_dict() for row in rows), path, _output_suffix(path))


def _check_records(records: Iterable[dict[str, Any]], path: Path, suffix: str) -> None:
    """`check_writable` on rows already turned into records (`SFTRow.to_dict`), for `suffix`'s format."""
    checks = [(jsontext.beyond_int64, jsontext.BEYOND_INT64)]
    if suffix != ".parquet":
        checks.append((jsontext.not_finite, jsontext.NOT_FINITE))
    for i, record in enumerate(records):
        for bad, problem in checks:
            parts = jsontext.find(record, bad)
            if parts is not None:
                raise InputError(f"{path}: row {i}: {jsontext.describe(record, parts)}{problem}")


def _parquet_storable(kind: Any) -> bool:
    """False for types Parquet refuses: a struct without fields, at any depth (an extra column of `{}`)."""
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(
            _parquet_storable(kind.field(i).type) for i in range(kind.num_fields)
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _parquet_storable(kind.value_type)
    if pa.types.is_map(kind):
        return _parquet_storable(kind.key_type) and _parquet_storable(kind.item_type)
    return True


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
            if not _parquet_storable(columns[name].type):
                raise pa.ArrowInvalid(f"{name}: an empty struct has no Parquet type")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types, or an empty object ({}) that Parquet cannot store: keep the column as JSON text.
            columns[name] = pa.array(
                [
                    None if v is None else jsontext.encode(v, f"{path}: row {i}: field '{name}'")
                    for i, v in enumerate(values)
                ],
                pa.string(),
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
