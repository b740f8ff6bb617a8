"""Noether losses: how far a rollout moves the embedding ``g`` (DESIGN.md section 6).

Summed over graphs, never averaged over the batch: with a mean, each graph's gradient (and so the
inner step of tailoring) would shrink with the batch size, and tailoring a graph would depend on
what it was batched with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError

Embedding = Callable[[GraphTensors], torch.Tensor]
MODES = ("initial", "consecutive")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def noether_loss_per_graph(
    g: Embedding, states: Sequence[GraphTensors], mode: str = "initial", reference: torch.Tensor | None = None
) -> torch.Tensor:
    """(B,) per-graph Noether loss of a sequence of states ``x_0, x_1, ..., x_T`` (T >= 1).

    ``"initial"``: ``sum_t |g(x_0) - g(x_t)|^2``; ``"consecutive"``: ``sum_t |g(x_{t-1}) - g(x_t)|^2``.
    Every state is a ``GraphTensors`` of the same graphs (typically the model's rollout, see
    ``tailoring.rollout``); ``g`` maps one to (B, k) (a ``NoetherEmbedding`` or an oracle).
    ``reference``: (B, k) values that stand in for ``g(x_0)`` (e.g. g at the start of a long
    rollout, so that each step is pulled back to the quantity the rollout began with, not to the
    value at the previous, already drifted, state).
    """
    check_mode(mode)
    if len(states) < 2:
        raise ConfigError(f"a Noether loss needs at least two states (x_0 and one more), got {len(states)}")
    values = [g(state) for state in states]
    values = [v.unsqueeze(1) if v.dim() == 1 else v for v in values]  # (B,) oracles become (B, 1)
    if reference is not None:
        reference = reference.unsqueeze(1) if reference.dim() == 1 else reference
        if reference.shape != values[0].shape:
            raise ConfigError(f"reference must have g's shape {tuple(values[0].shape)}, got {tuple(reference.shape)}")
        values[0] = reference.to(values[0].dtype)
    total = values[0].new_zeros(values[0].shape[0])
    for t in range(1, len(values)):
        before = values[0] if mode == "initial" else values[t - 1]
        total = total + (before - values[t]).pow(2).sum(dim=1)
    return total


def noether_loss(g: Embedding, states: Sequence[GraphTensors], mode: str = "initial") -> torch.Tensor:
    """Scalar: the SUM over graphs of ``noether_loss_per_graph`` (see the module docstring for why)."""
    return noether_loss_per_graph(g, states, mode).sum()
