"""Reusable checks for dynamics models: symmetry, momentum, batching, gradients (NequIP's test mixin idea).

Every new ``DynamicsModel`` gets the same tests by calling these functions. Run them in float64,
where exact properties hold to ~1e-13: batches built or cast with ``dtype=torch.float64``, and the
model **built** under ``float64_default()`` (then ``.double()``). e3nn computes its Clebsch-Gordan
and spherical-harmonic constants in the default dtype when a module is built; ``.double()`` on a
model built in float32 keeps them float32-rounded, which breaks equivariance at l = 2 by ~1e-8
relative (harmless in float32 training, visible in a 1e-10 float64 test). The transformations
themselves are ``chemnoether.core.transforms``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.core.transforms import (  # noqa: F401 - re-exported for model tests
    float64_default,
    permute_batch,
    random_orthogonal,
    rotate_batch,
    translate_batch,
)

if TYPE_CHECKING:
    import dgl


def equivariance_errors(model: Callable, batch: GraphTensors) -> dict[str, float]:
    """Largest deviation of ``model``'s prediction from the symmetric one, per transformation.

    Keys ``"rotation_parity"``, ``"translation"``, ``"permutation"``, each for ``pos`` and ``vel``:
    next positions must rotate and translate with the input, next velocities only rotate, and
    both follow a permutation of the atoms. Random draws use torch's global generator (seed it).
    """
    n = batch.atom_graph.shape[0]
    dtype, device = batch.atom[keys.POS].dtype, batch.device
    base = model(batch)
    errors = {}

    matrix = random_orthogonal(dtype, parity=True).to(device)
    out = model(rotate_batch(batch, matrix))
    errors["rotation_parity.pos"] = _max_error(out.pos, base.pos @ matrix.T)
    errors["rotation_parity.vel"] = _max_error(out.vel, base.vel @ matrix.T)

    shift = 10 * torch.randn(3, dtype=dtype).to(device)
    out = model(translate_batch(batch, shift))
    errors["translation.pos"] = _max_error(out.pos, base.pos + shift)
    errors["translation.vel"] = _max_error(out.vel, base.vel)

    permutation = torch.randperm(n).to(device)
    out = model(permute_batch(batch, permutation))
    errors["permutation.pos"] = _max_error(out.pos, base.pos[permutation])
    errors["permutation.vel"] = _max_error(out.vel, base.vel[permutation])
    return errors


def assert_equivariant_dynamics(model: Callable, batch: GraphTensors, atol: float = 1e-10) -> dict[str, float]:
    """Assert ``equivariance_errors`` are all below ``atol`` (Å and Å/fs); returns them."""
    errors = equivariance_errors(model, batch)
    bad = {k: v for k, v in errors.items() if not v <= atol}
    assert not bad, f"not equivariant beyond atol={atol:g}: {bad} (all: {errors})"
    return errors


def momentum_errors(model: Callable, batch: GraphTensors) -> dict[str, float]:
    """Per graph, |sum m next_vel - sum m vel| and |COM(next_pos) - COM(pos) - P dt / M| (largest over graphs)."""
    atom = batch.atom
    prediction = model(batch)
    m = atom[keys.MASSES].to(prediction.pos.dtype).unsqueeze(1)
    graphs, b = batch.atom_graph, batch.num_graphs

    def per_graph(values: torch.Tensor) -> torch.Tensor:
        return values.new_zeros(b, values.shape[1]).index_add_(0, graphs, values)

    mass = per_graph(m)
    momentum = per_graph(m * atom[keys.VEL])
    dt = batch.system[keys.DT].reshape(-1, 1).to(m.dtype)
    centre_move = (per_graph(m * prediction.pos) - per_graph(m * atom[keys.POS])) / mass
    return {
        "momentum": _max_error(per_graph(m * prediction.vel), momentum),
        "centre_of_mass": _max_error(centre_move, momentum * dt / mass),
    }


def assert_momentum_conserved(model: Callable, batch: GraphTensors, atol: float = 1e-10) -> dict[str, float]:
    errors = momentum_errors(model, batch)
    assert all(v <= atol for v in errors.values()), f"momentum not conserved beyond atol={atol:g}: {errors}"
    return errors


def assert_batch_invariant(
    model: Callable, graphs: Sequence[dgl.DGLGraph], atol: float = 1e-10, dtype: torch.dtype = torch.float64
) -> float:
    """Each graph predicted alone equals its rows of the prediction for all of them batched together."""
    together = model(GraphTensors.from_graph(list(graphs), dtype=dtype))
    worst, start = 0.0, 0
    for graph in graphs:
        alone = model(GraphTensors.from_graph(graph, dtype=dtype))
        rows = slice(start, start + alone.pos.shape[0])
        worst = max(worst, _max_error(alone.pos, together.pos[rows]), _max_error(alone.vel, together.vel[rows]))
        start = rows.stop
    assert worst <= atol, f"prediction depends on the other graphs of the batch: max difference {worst:g} > {atol:g}"
    return worst


def assert_gradients_flow(model: torch.nn.Module, batch: GraphTensors) -> None:
    """An MSE loss on both targets back-propagates finite gradients, and some of them are nonzero."""
    model.zero_grad()
    prediction = model(batch)
    loss = (prediction.pos - batch.atom[keys.NEXT_POS]).pow(2).mean()
    loss = loss + (prediction.vel - batch.atom[keys.NEXT_VEL]).pow(2).mean()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.numel()}
    missing = [name for name, g in grads.items() if g is None]
    assert not missing, f"parameters without a gradient: {missing}"
    bad = [name for name, g in grads.items() if not torch.isfinite(g).all()]
    assert not bad, f"non-finite gradients in {bad}"
    if grads:
        assert any(bool(g.abs().sum() > 0) for g in grads.values()), "every gradient is zero"


def _max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max()) if a.numel() else 0.0
