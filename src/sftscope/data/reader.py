"""The one reader of row data: SFT rows (`data.io`) and benchmark files (`eval.datasource`) both come here.

Sources, each returned as a list of plain dicts (one per row, before any renaming or validation):
- `.jsonl`: one JSON object per line.
- `.json`: a JSON array of objects, or JSON Lines saved under a `.json` name (errors then say so).
- `.parquet`, and `.csv` (a header row; `csv_header=False` reads one `text` value per line).
- A directory: a `datasets.save_to_disk` folder, or a tree of the files above (shards), read in path order.
  Hidden files and folders (`.cache/`, `.git/`) and `datasets` metadata files are skipped. With a split,
  only files whose path names it as a whole word are read (`train-00000-of-00002.parquet`, `train/0.jsonl`,
  `math_train.jsonl`; not `pretrain.jsonl`), as Hugging Face's data-file patterns do (matched here rather
  than with `datasets.data_files`, which would import `datasets` for a plain folder). A folder whose files
  name no split at all is read whole; one that names other splits only is an error listing them.
- `hf:<id or path>`, or a hub id (`sftscope.config.is_hub_id`): `datasets.load_dataset`.

Local files are parsed here (pyarrow for Parquet, `data.jsontext` for JSON), not through `datasets`: no hub
cache, no fingerprinting, and no dependence on building `datasets.Dataset` objects, which fails with some
dill versions. Anything wrong is an `InputError` naming the file, the line or item, the field and the fix;
FIFOs, devices, broken links and symlink loops are named as such (and never opened, so nothing blocks).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sftscope.config import is_hub_id
from sftscope.data import jsontext
from sftscope.errors import InputError, utf8_text

Record = dict[str, Any]
SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
SPLIT_WORDS = frozenset(
    {"train", "training", "test", "testing", "validation", "valid", "val", "dev", "eval", "evaluation"}
)
# `datasets` metadata that sits next to data files; never rows.
METADATA = frozenset({"dataset_info.json", "dataset_infos.json", "dataset_dict.json", "state.json"})
_WORD = re.compile(r"[^0-9a-z]+")
_CSV_FIELD_LIMIT = 2**31 - 1  # csv's default 128 KiB per field is shorter than many long-CoT responses


def read_records(
    source: str | os.PathLike, *, split: str | None = None, csv_header: bool = True, hub: bool = True
) -> list[Record]:
    """The raw records of `source`: a file, a directory, `hf:<id>`, or (when `hub`) a hub id."""
    text = str(source)
    if text.startswith("hf:"):
        return read_hub(text[3:], split or "train")
    path = Path(source)
    kind = file_kind(path)
    if kind == "dir":
        return read_dir(path, split, csv_header=csv_header)
    if kind == "file":
        return read_file(path, csv_header=csv_header)
    if hub and is_hub_id(text):
        return read_hub(text, split or "train")
    also = "; a hub data set is owner/name or hf:ID" if hub else ""
    raise InputError(f"{path}: data file not found (check the path{also})")


def file_kind(path: Path) -> str | None:
    """ "file", "dir", or None when nothing is there; anything else (a FIFO, a loop) is an InputError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise InputError(f"{path}: a broken symlink (to {os.readlink(path)}); fix the link") from None
        return None
    except NotADirectoryError:
        parent = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise InputError(f"{path}: '{parent}' is a file, not a directory (check the path)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(
                f"{path}: a symlink loop (the link never reaches a file); fix the link"
            ) from None
        raise InputError(f"{path}: cannot read ({exc.strerror or exc}); check the path") from None
    if stat.S_ISDIR(info.st_mode):
        return "dir"
    if stat.S_ISREG(info.st_mode):
        return "file"
    if stat.S_ISFIFO(info.st_mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        kind = "a device"
    else:
        kind = "a socket"
    raise InputError(f"{path}: is {kind}, not a data file (save the rows to a .jsonl or .parquet file)")


def read_file(path: str | os.PathLike, *, csv_header: bool = True) -> list[Record]:
    """The records of one data file, by its suffix."""
    path = Path(path)
    if file_kind(path) != "file":
        raise InputError(f"{path}: not a file (check the path)")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        return read_json(path)
    if suffix == ".parquet":
        return read_parquet(path)
    if suffix == ".csv":
        return read_csv(path, header=csv_header)
    raise InputError(f"{path}: unknown file type '{path.suffix}' (use {', '.join(SUFFIXES)})")


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc}); check the path") from None


def read_jsonl(path: str | os.PathLike) -> list[Record]:
    """One JSON object per line; an error names the (1-based) line. Read as a stream of lines."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            # Line by line in binary: a bad byte is reported with its line, and the file is never held whole.
            lines = (utf8_text(raw, path, number) for number, raw in enumerate(handle, start=1))
            return _lines(lines, path, "")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc}); check the path") from None


def _lines(lines: Iterable[str], path: Path, note: str) -> list[Record]:
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = jsontext.decode(line, f"{path}: line {number}")
        except InputError as exc:
            raise InputError(f"{exc}{note}") from None
        if not isinstance(record, dict):
            hint = " (a JSON array of rows belongs in a .json file)" if isinstance(record, list) else ""
            raise InputError(
                f"{path}: line {number}: expected a JSON object per line, got {_kind(record)}{hint}{note}"
            )
        records.append(record)
    return records


def read_json(path: str | os.PathLike) -> list[Record]:
    """A JSON array of objects, or JSON Lines that were saved as .json (read line by line)."""
    path = Path(path)
    text = utf8_text(_bytes(path), path)
    body = text.strip()
    if not body:
        return []
    if not body.startswith("["):
        lines = [line for line in body.split("\n") if line.strip()]
        if len(lines) > 1 and lines[0].strip().startswith("{") and lines[0].strip().endswith("}"):
            # split("\n"), not splitlines(): JSON strings may hold U+2028, which splitlines breaks on
            note = "; this .json file was read as JSON Lines, one object per line"
            return _lines(text.split("\n"), path, note)
        value = jsontext.decode(text, str(path))
        if isinstance(value, dict) and len(lines) == 1:
            return [value]
        raise InputError(
            f"{path}: holds {_kind(value)}, not rows (expected a JSON array of objects, or one object per line)"
        )
    rows = jsontext.decode(text, str(path))
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"{path}: item {i}: expected an object per row, got {_kind(row)}")
    return rows


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def read_parquet(path: str | os.PathLike) -> list[Record]:
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        names = pq.read_schema(path).names
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise InputError(f"{path}: column '{twice}' appears twice (keep one of them)")
        return pq.read_table(path).to_pylist()
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises several types for a truncated or non-parquet file
        raise InputError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {first_line(exc)})"
        ) from None


def read_csv(path: str | os.PathLike, *, header: bool = True) -> list[Record]:
    """A CSV with a header row (values are strings); `header=False`: one `text` value per line."""
    path = Path(path)
    text = utf8_text(_bytes(path), path)
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # bad quoting is an error, not data
    records: list[Record] = []
    try:
        if not header:
            return [{"text": row[0]} for row in reader if row]
        names = next(reader, None)
        if names is None:
            return []
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise InputError(
                f"{path}: line 1: column '{twice}' appears twice in the header (keep one of them)"
            )
        for row in reader:
            if not row:
                continue
            if len(row) > len(names):
                raise InputError(
                    f"{path}: line {reader.line_num}: {len(row)} fields but the header has {len(names)} "
                    "(quote fields that hold commas)"
                )
            records.append(dict(zip(names, row + [None] * (len(names) - len(row)))))
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None
    return records


def read_dir(path: Path, split: str | None, *, csv_header: bool = True) -> list[Record]:
    """A save_to_disk folder, or the data files under `path` (see the module docstring for `split`)."""
    if any((path / name).is_file() for name in ("dataset_info.json", "dataset_dict.json", "state.json")):
        return read_saved(path, split)
    records: list[Record] = []
    for file in data_files(path, split):
        records.extend(read_file(file, csv_header=csv_header))
    return records


def data_files(path: Path, split: str | None) -> list[Path]:
    """Data files under `path` in path order, hidden ones skipped, filtered to `split` when it is named."""

    def refuse(exc: OSError) -> None:
        raise InputError(f"{exc.filename}: cannot list ({exc.strerror}); check its permissions")

    found = []
    for root, dirs, files in os.walk(path, onerror=refuse):  # symlinked folders are not followed
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name not in METADATA and Path(name).suffix.lower() in SUFFIXES:
                found.append(Path(root) / name)
    found.sort(key=lambda p: p.relative_to(path).parts)
    if not found:
        raise InputError(f"{path}: no {'/'.join(SUFFIXES)} files and no saved dataset in this directory")
    if split is None:
        return found
    words = {file: split_words(file.relative_to(path)) for file in found}
    chosen = [file for file in found if split.lower() in words[file]]
    if chosen:
        return chosen
    named = sorted(set().union(*words.values()) & SPLIT_WORDS)
    if named:
        raise InputError(
            f"{path}: no files for split '{split}' (its files name {', '.join(named)}); pass --split"
        )
    return found


def split_words(relative: Path) -> set[str]:
    """The words of a path relative to its data folder, without the suffix: `train/part-0` -> train, part, 0."""
    return set(_WORD.split(str(relative.with_suffix("")).lower())) - {""}


def read_saved(path: Path, split: str | None) -> list[Record]:
    """A `datasets.save_to_disk` folder (a Dataset, or a DatasetDict and one of its splits)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # a partial or foreign folder: datasets raises many types
        raise InputError(f"{path}: not a readable saved dataset ({first_line(exc)})") from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if split is None and len(names) == 1:
            split = names[0]
        if split not in loaded:
            raise InputError(
                f"{path}: no split '{split}' (has {', '.join(names)}); pass --split, or the split's folder"
            )
        loaded = loaded[split]
    return loaded.to_list()


def read_hub(repo_id: str, split: str = "train") -> list[Record]:
    """Records through `datasets.load_dataset` (a hub id like `owner/name`, or any local path it accepts)."""
    import datasets

    try:
        return datasets.load_dataset(repo_id, split=split).to_list()
    except Exception as exc:  # offline, missing, private or malformed: all are the user's to fix
        raise InputError(
            f"{repo_id}: cannot load this dataset ({first_line(exc)}); check the id and the split, "
            "or download it and pass the local path"
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
