"""Model kinds by name: ``build_model(kind, **options)`` rebuilds any registered model.

A checkpoint stores ``model.kind`` and ``model.config``; ``build_model(kind, **config)`` rebuilds
the same architecture. Each layer registers the kinds it defines when it is imported
(``chemnoether.models``: the dynamics models; ``chemnoether.noether``: the tailored wrapper), so
the core names no higher layer. Registration is once per kind: a second, different builder for a
taken name is an error, never a silent replacement.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import MappingProxyType

from chemnoether.errors import ConfigError

_BUILDERS: dict[str, Callable] = {}
# read-only live view: who wants to add a kind calls register_model
BUILDERS: MappingProxyType[str, Callable] = MappingProxyType(_BUILDERS)


def register_model(kind: str, builder: Callable) -> Callable:
    """Make ``build_model(kind, ...)`` call ``builder(...)``; returns ``builder``."""
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"a model kind must be a non-empty string, got {kind!r}")
    known = _BUILDERS.get(kind)
    if known is not None and known is not builder:
        raise ConfigError(f"model kind {kind!r} is already registered to {known!r}; choose another name")
    _BUILDERS[kind] = builder
    return builder


def model_kinds() -> tuple[str, ...]:
    """The kinds registered so far, in registration order."""
    return tuple(_BUILDERS)


def build_model(kind: str, **options):
    """A new model of a registered ``kind`` built with ``options`` (its keyword arguments).

    Raises:
        ConfigError: an unknown kind (listing the kinds), an unknown or missing option (listing
            the accepted ones), or a bad value.
    """
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        hint = " (import chemnoether.noether for 'noether_tailored')" if kind == "noether_tailored" else ""
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {list(model_kinds())}{hint}")
    signature = inspect.signature(builder)
    try:
        signature.bind(**options)
    except TypeError as err:
        accepted = list(signature.parameters)
        raise ConfigError(f"model kind {kind!r}: {err}; its options are {accepted}") from err
    return builder(**options)
