"""JSON text in and out, strictly enough that what we read we can write back, and what we write is JSON.

Python's `json` accepts things that later break a run or a file, so decoding refuses them with an
`InputError` naming the place and the field:
- a key given twice in one object (`json` keeps the last one silently);
- an integer outside 64 bits (Parquet, Arrow and SQLite hold int64 only), including one over Python's 4,300
  digit limit, which `json` reports as a bare ValueError;
- a lone UTF-16 surrogate (`"\\ud800"`): a Python string that cannot be encoded as UTF-8 for writing;
- nesting deeper than the interpreter can recurse.
NaN and Infinity are read (Python writes them), but `encode` refuses them: they are not JSON, and a file
holding them is unreadable elsewhere.

Walks over decoded values are iterative, so a value nested near the recursion limit cannot overflow them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from sftscope.errors import InputError

INT64 = (-(2**63), 2**63 - 1)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


class _Refused(Exception):
    """Raised from a strict decoder hook; the value is then decoded leniently to locate the problem."""


class _Big:
    """A too-large integer, kept as its digits while locating it."""

    def __init__(self, digits: str):
        self.digits = digits


class _Duplicate:
    """An object with a repeated key, while locating it."""

    def __init__(self, key: str):
        self.key = key


def _strict_int(text: str) -> int:
    # Only text longer than 18 characters can leave int64 (or pass Python's 4,300-digit limit).
    if len(text) > 18 and (len(text.lstrip("-")) > 19 or not INT64[0] <= int(text) <= INT64[1]):
        raise _Refused()
    return int(text)


def _strict_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused()
    return obj


def _lenient_int(text: str) -> int | _Big:
    try:
        return _strict_int(text)
    except _Refused:
        return _Big(text)


def _lenient_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Duplicate:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _Duplicate(key)
        seen.add(key)
    return dict(pairs)


_STRICT = json.JSONDecoder(object_pairs_hook=_strict_pairs, parse_int=_strict_int)
_LENIENT = json.JSONDecoder(object_pairs_hook=_lenient_pairs, parse_int=_lenient_int)


def decode(text: str, where: str) -> Any:
    """Parse one JSON value; `where` ("FILE: line N") starts every error message."""
    value = _parse(_STRICT, text, where)
    if isinstance(value, _Refusal):
        # A hook refused a value: decode again, keeping markers in its place, to name the field.
        value = _parse(_LENIENT, text, where)
        parts = find(value, lambda v: isinstance(v, (_Big, _Duplicate)))
        leaf = _at(value, parts)
        if isinstance(leaf, _Duplicate):
            problem = f"key '{leaf.key}' appears twice in one object (keep one of them)"
        else:
            problem = f"integer {_short(leaf.digits)} does not fit in 64 bits (store it as a string)"
        raise InputError(f"{where}: {describe(value, parts)}{problem}")
    if _SURROGATE_ESCAPE.search(text):  # only a \\u escape can put a surrogate in text decoded from UTF-8
        parts = find(value, _lone_surrogate)
        if parts is not None:
            raise InputError(
                f"{where}: {describe(value, parts)}a lone UTF-16 surrogate escape (\\ud800-\\udfff) is not "
                "text (fix the string's escapes)"
            )
    return value


class _Refusal:
    """What `_parse` returns when a strict hook refused a value."""


def _parse(decoder: json.JSONDecoder, text: str, where: str) -> Any:
    try:
        return decoder.decode(text)
    except _Refused:
        return _Refusal()
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}" if "\n" in text.strip() else f"column {exc.colno}"
        raise InputError(f"{where}: invalid JSON ({exc.msg} at {at})") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply to read (flatten the value)") from None


def not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def beyond_int64(value: Any) -> bool:
    return isinstance(value, int) and not INT64[0] <= value <= INT64[1]


NOT_FINITE = (
    "NaN or Infinity cannot be written as JSON (write .parquet, which keeps it, or replace the value)"
)
BEYOND_INT64 = "an integer beyond 64 bits cannot be read back (store it as a string)"


def encode(value: Any, where: str) -> str:
    """One line of JSON (non-ASCII kept as is). What `decode` would refuse, or what is not JSON (NaN,
    Infinity), is an InputError naming the field instead."""
    parts = find(value, beyond_int64)
    if parts is not None:
        raise InputError(f"{where}: {describe(value, parts)}{BEYOND_INT64}")
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:
        parts = find(value, not_finite)
        raise InputError(f"{where}: {describe(value, parts)}{NOT_FINITE}") from None


def _short(digits: str) -> str:
    return digits if len(digits) <= 24 else f"{digits[:12]}...({len(digits)} digits)"


def _lone_surrogate(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


Parts = list[str | int]


def find(value: Any, bad: Callable[[Any], bool]) -> Parts | None:
    """The key/index path to the first value (or dict key) for which `bad` is true, in document order."""
    stack: list[tuple[Parts, Any]] = [([], value)]
    while stack:
        parts, node = stack.pop()
        if bad(node):
            return parts
        if isinstance(node, dict):
            for key in node:
                if bad(key):
                    return [*parts, key]
            stack.extend(reversed([([*parts, key], child) for key, child in node.items()]))
        elif isinstance(node, (list, tuple)):
            stack.extend(reversed([([*parts, i], child) for i, child in enumerate(node)]))
    return None


def _at(value: Any, parts: Parts | None) -> Any:
    for part in parts or []:
        value = value[part]
    return value


def describe(value: Any, parts: Parts | None) -> str:
    """`item 3: field 'numbers[0]': ` for a path into a list of rows, `field 'a.b': ` into one row."""
    if not parts:
        return ""
    prefix = ""
    if isinstance(value, list) and isinstance(parts[0], int):
        prefix, parts = f"item {parts[0]}: ", parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return prefix + (f"field '{name}': " if name else "")
