"""The one Noether concept: a conserved quantity g and the loss that measures how far it moved.

Every g in the package is a ``ConservedQuantity``: the learned molecular embedding
(``NoetherEmbedding``), the oracles (momenta, total energy), the reaction embedding of
``chemnoether.reactions`` and the toy systems' g (``chemnoether.noether_toy``). What they share:

* ``forward(states) -> (num_states, k)``: one row per state of the batch (a graph of a
  ``GraphTensors`` batch, a molecule set of a reaction side, a phase-space point of a toy);
* ``symmetries``: the transformations of a state that must not change g's Noether loss (g itself
  may turn with the system, as a momentum does); ``chemnoether.noether.checks`` checks it for
  molecular states, whose transformations are ``chemnoether.core.transforms``;
* ``conservation_loss``: the Noether loss of a sequence of g values, summed over time per state.
  Tailoring (``noether.tailor``, ``noether_toy.tailor``) lowers it, meta-training learns g through
  it, and a reaction's plausibility compares g across the two sides of the reaction with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from chemnoether.errors import ConfigError

# the symmetries of a molecular state: rotations and reflections of space, translations, and
# relabelling of atoms
E3_SYMMETRIES: tuple[str, ...] = ("rotation", "reflection", "translation", "permutation")
MODES = ("initial", "consecutive")


class ConservedQuantity(torch.nn.Module):
    """Base of every g: ``forward(states) -> (num_states, k)``, its Noether loss invariant under ``symmetries``.

    Subclasses set ``kind`` (how checkpoints and recipes name it; ``None`` for one that cannot be
    recorded), ``k`` (output width, may be set in ``__init__``) and, where a state has other
    symmetries than a molecule in space, ``symmetries``.
    """

    kind: str | None = None
    k: int = 1
    symmetries: tuple[str, ...] = E3_SYMMETRIES

    def forward(self, states) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward(states) -> (num_states, k)")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def conservation_loss(
    values: Sequence[torch.Tensor], mode: str = "initial", reference: torch.Tensor | None = None
) -> torch.Tensor:
    """(B,) Noether loss of g values ``g(x_0), ..., g(x_T)`` (T >= 1), each (B, k) or (B,).

    ``"initial"``: ``sum_t |g(x_0) - g(x_t)|^2``; ``"consecutive"``: ``sum_t |g(x_{t-1}) - g(x_t)|^2``.
    ``reference``: (B, k) values that stand in for ``g(x_0)``. Per state, never averaged over the
    batch: summed, each state's gradient (and so the inner step of tailoring) is its own whatever
    it is batched with.
    """
    check_mode(mode)
    if len(values) < 2:
        raise ConfigError(f"a Noether loss needs at least two states (x_0 and one more), got {len(values)}")
    values = [v.unsqueeze(1) if v.dim() == 1 else v for v in values]  # (B,) quantities become (B, 1)
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
