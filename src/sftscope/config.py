"""Config resolution, one way only: dataclass defaults, then a YAML file, then `--set a.b=c` overrides.

Every runnable owns one `...Config` dataclass (nested dataclasses allowed). An unknown key or a value of the
wrong type is an `InputError` that names the key, so a typo never silently falls back to a default.
YAML is read strictly (`load_yaml`): UTF-8 only, and a key given twice in one mapping is an error (PyYAML
would keep the last one silently).

Config values that name a model or a data set are a local path or a Hugging Face hub id. `is_hub_id` is the
one rule for telling them apart, for every layer (data, eval, train).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from sftscope.atomic import atomic_open
from sftscope.errors import InputError, utf8_text

C = TypeVar("C")


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    flags: dict[str, Any] | None = None,
) -> C:
    """Resolve `cls` from its defaults, an optional YAML file, `key.sub=value` overrides, then `flags` (a
    nested mapping of the command-line flags that were given, which win over everything else)."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_yaml(path)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected key=value, e.g. --set optim.lr=1e-5")
        value = load_yaml(raw, f"--set {item}", "quote the value or fix its brackets") if raw.strip() else ""
        _assign(values, key.strip().split("."), value)
    _merge(values, flags or {})
    return build(cls, values)


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping ({} when empty); anything malformed is an InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: config file not found (check the path)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    data = load_yaml(utf8_text(raw, path), path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: the top level must be a mapping of config keys")
    return data


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys `<<` may still be overridden)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=False)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, where: object, fix: str = "fix the YAML") -> Any:
    """Parse YAML text strictly; an error names `where`, the line and the problem."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f": line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}{line}: invalid YAML ({problem}; {fix})") from None
    except RecursionError:
        raise InputError(f"{where}: YAML nested too deeply to read ({fix})") from None


# Suffixes of data and config files: a name ending in one is a local file even when it is not there yet.
_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow", ".yaml", ".yml", ".txt", ".gz", ".zst")


def looks_like_local_path(text: str) -> bool:
    """True when `text` can only mean a local path: it exists; it is absolute or relative (`./`, `../`, `~`);
    it has more than one `/`, a backslash or a data-file suffix; or its `owner/` part is a local folder.
    A mistyped path then gets "not found", never a hub lookup."""
    text = str(text)
    if not text or os.path.lexists(text):
        return True
    return (
        text.startswith(("/", ".", "~"))
        or "\\" in text
        or text.count("/") > 1
        or text.lower().endswith(_FILE_SUFFIXES)
        or ("/" in text and os.path.isdir(text.split("/", 1)[0]))
    )


def is_hub_id(text: str) -> bool:
    """True for a Hugging Face hub repo id (`name` or `owner/name`) that is not a local path.

    The grammar is huggingface_hub's own `validate_repo_id` (letters, digits, `-_.`, no `--` or `..`, at most
    96 characters per part); imported here, not at the top, so that config stays quick to import.
    """
    if looks_like_local_path(text):
        return False
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def build(cls: type[C], values: dict[str, Any], prefix: str = "") -> C:
    """Instantiate dataclass `cls` from a nested dict, checking every key and type."""
    if not isinstance(values, dict):
        raise InputError(f"config key '{prefix.rstrip('.') or '<root>'}': expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise InputError(f"unknown config key '{name}' (known keys here: {known})")
        kwargs[key] = _coerce(hints[key], value, name)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"config {prefix.rstrip('.') or cls.__name__}: {exc}") from None
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def save_config(obj: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    with atomic_open(path) as handle:
        yaml.safe_dump(to_dict(obj), handle, sort_keys=False)


def _assign(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise InputError(f"--set {'.'.join(keys)}: '{key}' is not a section")
        tree = node
    tree[keys[-1]] = value


def _coerce(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, name)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(
            errors[0] if len(errors) == 1 else f"config key '{name}': {value!r} fits none of {hint}"
        )
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"config key '{name}': {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(hint):
        return build(hint, value, prefix=f"{name}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"config key '{name}': expected a list, got {value!r}")
        item = args[0] if args else Any
        coerced = [_coerce(item, v, f"{name}[{i}]") for i, v in enumerate(value)]
        return coerced if origin is list else tuple(coerced)
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"config key '{name}': expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"config key '{name}': expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"config key '{name}': expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 5e-5 as a string
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"config key '{name}': expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"config key '{name}': expected a string, got {value!r}")
        return value
    return value
