"""Check and coerce plain YAML values against a dataclass's annotations.

Supports what config dataclasses use: ``bool``, ``int``, ``float``, ``str``, ``X | None``,
``Literal[...]``, ``dict[str, X]``, ``list[X]``, ``tuple[X, ...]``, ``Any`` and nested dataclasses.
Every error is a ``ConfigError`` naming the dotted key, the expected type and the value found.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from chemnoether.errors import ConfigError

# PyYAML follows YAML 1.1, where "1e-3" (no dot) is a string, not a float: accept such literals
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def from_mapping(cls: type, values: Mapping[str, Any], where: str):
    """An instance of dataclass ``cls`` from ``values``; unknown keys and wrong types raise."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} options, got {_shown(values)}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    hints = _hints(cls)
    for key in values:
        if key not in names:
            raise ConfigError(f"unknown key {_join(where, key)}{suggestion(key, names)}; valid keys: {', '.join(names)}")
    return cls(**{key: coerce(value, hints[key], _join(where, key)) for key, value in values.items()})


def coerce_fields(instance, where: str) -> None:
    """Check (and coerce, e.g. int -> float) every field of a dataclass instance in place."""
    hints = _hints(type(instance))
    for field in dataclasses.fields(instance):
        value = coerce(getattr(instance, field.name), hints[field.name], _join(where, field.name))
        object.__setattr__(instance, field.name, value)


def coerce(value, annotation, where: str):
    """``value`` as ``annotation`` asks, or a ``ConfigError`` naming ``where``."""
    if annotation is Any:
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return _coerce_union(value, args, annotation, where)
    if origin is Literal:
        if any(value == choice and type(value) is type(choice) for choice in args):
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {_shown(value)}")
    if dataclasses.is_dataclass(annotation):
        return from_mapping(annotation, value, where)
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {_shown(value)}")
        key_type, item_type = args or (str, Any)
        return {coerce(k, key_type, where): coerce(v, item_type, _join(where, str(k))) for k, v in value.items()}
    if origin in (list, tuple) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_shown(value)}")
        item_type = args[0] if args else Any
        items = [coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or annotation) is tuple else items
    return _coerce_plain(value, annotation, where)


def type_name(annotation) -> str:
    """A reader's name for an annotation: ``float``, ``int or null``, ``one of 'a', 'b'``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        named = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(named + (["null"] if type(None) in args else []))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if dataclasses.is_dataclass(annotation):
        return f"a mapping ({annotation.__name__})"
    return getattr(annotation, "__name__", str(annotation))


def _coerce_union(value, args, annotation, where):
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{where}: expected {type_name(annotation)}, got null")
    for arg in args:
        if arg is type(None):
            continue
        try:
            return coerce(value, arg, where)
        except ConfigError:
            continue
    raise ConfigError(f"{where}: expected {type_name(annotation)}, got {_shown(value)}")


def _coerce_plain(value, annotation, where):
    # bool is an int in Python; a config value `true` must not pass for a count or a rate
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is float and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            return float(value)
    if annotation is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {type_name(annotation)}, got {_shown(value)}")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _shown(value) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"


def suggestion(key, names) -> str:
    close = difflib.get_close_matches(str(key), names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
