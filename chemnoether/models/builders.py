"""``build_model(kind, **options)``: every model kind by name, from an explicit, immutable mapping.

A checkpoint stores ``model.kind`` and ``model.config``; ``build_model(kind, **config)`` rebuilds
the same architecture. Model code never reads config files; the training script does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import MappingProxyType

from chemnoether.errors import ConfigError
from chemnoether.models.base import DynamicsModel
from chemnoether.models.constant_velocity import ConstantVelocity
from chemnoether.models.egnn import EGNNDynamics
from chemnoether.models.equivariant import EquivariantDynamics


def _noether_tailored(model: dict, g: dict, options: dict | None = None, learn_lr: bool = False, anchor: str = "start"):
    """A meta-tailored model (``chemnoether.noether.NoetherTailoredModel``) around ``model``."""
    # imported on use: chemnoether.noether builds on chemnoether.models
    from chemnoether.noether.tailored_model import build_tailored_model  # noqa: PLC0415

    return build_tailored_model(model, g, options, learn_lr, anchor)


BUILDERS: MappingProxyType[str, Callable[..., DynamicsModel]] = MappingProxyType(
    {
        EquivariantDynamics.kind: EquivariantDynamics,
        EGNNDynamics.kind: EGNNDynamics,
        ConstantVelocity.kind: ConstantVelocity,
        "noether_tailored": _noether_tailored,
    }
)
MODEL_KINDS: tuple[str, ...] = tuple(BUILDERS)


def build_model(kind: str, **options) -> DynamicsModel:
    """A new model of ``kind`` (one of ``MODEL_KINDS``) built with ``options`` (its keyword arguments).

    Raises:
        ConfigError: an unknown kind (listing the kinds), an unknown or missing option (listing
            the accepted ones), or a bad value.
    """
    builder = BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {list(MODEL_KINDS)}")
    signature = inspect.signature(builder)
    try:
        signature.bind(**options)
    except TypeError as err:
        accepted = [name for name in signature.parameters]
        raise ConfigError(f"model kind {kind!r}: {err}; its options are {accepted}") from err
    return builder(**options)
