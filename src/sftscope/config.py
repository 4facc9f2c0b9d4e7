"""Config resolution, one way only: dataclass defaults, then a YAML file, then `--set a.b=c` overrides.

Every runnable owns one `...Config` dataclass (nested dataclasses allowed). An unknown key or a value of the
wrong type is an `InputError` that names the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from sftscope.atomic import atomic_open
from sftscope.errors import InputError

C = TypeVar("C")


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """Resolve `cls` from its defaults, an optional YAML file and `key.sub=value` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_yaml(path)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected key=value, e.g. --set optim.lr=1e-5")
        _assign(values, key.strip().split("."), yaml.safe_load(raw) if raw.strip() else "")
    return build(cls, values)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: config file not found (check the path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f": line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: the top level must be a mapping of config keys")
    return data


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
