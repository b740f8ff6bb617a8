"""Is a g usable for tailoring? Its Noether loss must not depend on where the system is or how it is turned.

A learned g must be invariant; an oracle may be a vector that turns with the system (momentum,
angular momentum), whose squared change is still invariant. What tailoring needs is the weaker,
common property: the Noether loss between two states does not change when both are rotated,
reflected and translated together. ``noether_loss_invariance_error`` measures that on a batch;
``NoetherTailoredModel`` checks it once, on its first batch, and refuses a g that fails.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.core.transforms import rotate_batch, translate_batch
from chemnoether.errors import ConfigError
from chemnoether.noether.losses import Embedding, noether_loss_per_graph

# relative tolerance of the check, per floating dtype (float32 sums lose about 1e-6 per term)
TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-3}


def _fixed_orthogonal(dtype: torch.dtype, device) -> torch.Tensor:
    # a fixed rotation times an inversion: no random numbers, so checking never moves the RNG
    skew = torch.tensor([[0.0, -0.7, 0.4], [0.7, 0.0, -1.1], [-0.4, 1.1, 0.0]], dtype=torch.float64)
    return (-torch.linalg.matrix_exp(skew)).to(dtype=dtype, device=device)


def _transformed(state: GraphTensors, matrix: torch.Tensor, shift: torch.Tensor) -> GraphTensors:
    return translate_batch(rotate_batch(state, matrix), shift)


def noether_loss_invariance_error(g: Embedding, batch: GraphTensors) -> tuple[float, float]:
    """``(largest change of the per-graph loss, its scale)`` under a rotation with inversion and a translation.

    The loss is that between ``batch`` and a nearby state (positions nudged by a fixed pattern of
    up to 0.05 Å, velocities scaled by 1.1), as tailoring would see it.
    """
    pos, vel = batch.atom[keys.POS], batch.atom[keys.VEL]
    pattern = torch.sin(torch.arange(pos.numel(), device=pos.device, dtype=pos.dtype)).reshape(pos.shape)
    nearby = replace(batch, atom={**batch.atom, keys.POS: pos + 0.05 * pattern, keys.VEL: 1.1 * vel})
    matrix = _fixed_orthogonal(pos.dtype, pos.device)
    shift = torch.tensor([3.0, -2.0, 1.5], dtype=pos.dtype, device=pos.device)
    with torch.no_grad():
        before = noether_loss_per_graph(g, [batch, nearby])
        after = noether_loss_per_graph(g, [_transformed(batch, matrix, shift), _transformed(nearby, matrix, shift)])
    return float((after - before).abs().max()), float(before.abs().max())


def check_noether_loss_invariant(g: Embedding, batch: GraphTensors) -> None:
    """Raise ``ConfigError`` when ``g``'s Noether loss changes under rotation, inversion or translation."""
    error, scale = noether_loss_invariance_error(g, batch)
    tolerance = TOLERANCE.get(batch.atom[keys.POS].dtype, 1e-3) * (1.0 + scale)
    if not error <= tolerance:
        raise ConfigError(
            f"{type(g).__name__} is not usable for tailoring: its Noether loss changed by {error:.3g} (of "
            f"{scale:.3g}) when the system was rotated, inverted and translated; g must be invariant (or "
            "a vector that turns with the system), e.g. built from distances and dot products like NoetherEmbedding"
        )
