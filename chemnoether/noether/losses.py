"""Noether losses of molecular states: ``conservation_loss`` of g along a sequence of ``GraphTensors``.

Summed over graphs, never averaged over the batch: with a mean, each graph's gradient (and so the
inner step of tailoring) would shrink with the batch size, and tailoring a graph would depend on
what it was batched with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.noether.quantity import MODES, check_mode, conservation_loss  # noqa: F401 - re-exported

Embedding = Callable[[GraphTensors], torch.Tensor]


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
    return conservation_loss([g(state) for state in states], mode, reference)


def noether_loss(g: Embedding, states: Sequence[GraphTensors], mode: str = "initial") -> torch.Tensor:
    """Scalar: the SUM over graphs of ``noether_loss_per_graph`` (see the module docstring for why)."""
    return noether_loss_per_graph(g, states, mode).sum()
