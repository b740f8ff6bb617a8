"""Checks of model options, raising ``ConfigError`` that names the option and the value."""

from __future__ import annotations

from chemnoether.errors import ConfigError


def positive_int(value, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name} must be a whole number >= 1{limit}, got {value!r}")
    return value


def positive_float(value, name: str, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive finite number{' (' + unit + ')' if unit else ''}, got {value!r}")
    return float(value)


def flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value
