"""Reusable checks for dynamics models: symmetry, momentum, batching, gradients (NequIP's test mixin idea).

Every new ``DynamicsModel`` gets the same tests by calling these functions. Run them in float64,
where exact properties hold to ~1e-13: batches built or cast with ``dtype=torch.float64``, and the
model **built** under ``float64_default()`` (then ``.double()``). e3nn computes its Clebsch-Gordan
and spherical-harmonic constants in the default dtype when a module is built; ``.double()`` on a
model built in float32 keeps them float32-rounded, which breaks equivariance at l = 2 by ~1e-8
relative (harmless in float32 training, visible in a 1e-10 float64 test).

Transformations act on the inputs a model reads and on the targets alike:

* an orthogonal matrix R (a rotation, times -1 for parity): positions, velocities, targets, edge
  shifts and cell vectors become ``v @ R.T``;
* a translation t: positions and target positions become ``pos + t``;
* an atom permutation: atom ``k`` of the new batch is atom ``perm[k]`` of the old one; every index
  (edges, ring and subgraph incidences, ``atom_graph``) is remapped, edge order is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import dgl
import torch
from e3nn import o3

from chemnoether import keys
from chemnoether.data.tensors import GraphTensors

ATOM_VECTORS = (keys.POS, keys.VEL, keys.NEXT_POS, keys.NEXT_VEL)
ATOM_POINTS = (keys.POS, keys.NEXT_POS)


@contextlib.contextmanager
def float64_default() -> Iterator[None]:
    """Build modules with float64 as torch's default dtype (restored afterwards)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def random_orthogonal(dtype: torch.dtype = torch.float64, parity: bool = True) -> torch.Tensor:
    """(3, 3) random rotation (torch's global generator), times -1 when ``parity`` (rotation and inversion)."""
    rotation = o3.rand_matrix(dtype=dtype)
    return -rotation if parity else rotation


def rotate_batch(batch: GraphTensors, matrix: torch.Tensor) -> GraphTensors:
    """The batch with every Cartesian vector transformed by the orthogonal ``matrix``."""
    m = matrix.to(batch.atom[keys.POS].dtype)
    atom = {k: (v @ m.T if k in ATOM_VECTORS else v) for k, v in batch.atom.items()}
    for key in (keys.ROLLOUT_POS, keys.ROLLOUT_VEL):
        if key in atom:
            atom[key] = atom[key] @ m.T
    near = {k: (v @ m.T.to(v.dtype) if k == keys.EDGE_SHIFT else v) for k, v in batch.near.items()}
    system = {k: (v @ m.T.to(v.dtype) if k == keys.CELL else v) for k, v in batch.system.items()}
    return replace(batch, atom=atom, near=near, system=system)


def translate_batch(batch: GraphTensors, shift: torch.Tensor) -> GraphTensors:
    """The batch with positions (and target positions) moved by ``shift`` (3,), Å."""
    t = shift.to(batch.atom[keys.POS].dtype)
    atom = {k: (v + t if k in ATOM_POINTS or k == keys.ROLLOUT_POS else v) for k, v in batch.atom.items()}
    return replace(batch, atom=atom)


def permute_batch(batch: GraphTensors, permutation: torch.Tensor) -> GraphTensors:
    """Atom ``k`` of the result is atom ``permutation[k]`` of ``batch``; indices remapped accordingly."""
    n = batch.atom_graph.shape[0]
    if sorted(permutation.tolist()) != list(range(n)):
        raise ValueError(f"permutation must hold each of 0..{n - 1} once")
    new_id = torch.empty_like(permutation)
    new_id[permutation] = torch.arange(n, device=permutation.device)

    def remap_atoms(index: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
        index = index.clone()
        for row in rows:
            index[row] = new_id[index[row]]
        return index

    return replace(
        batch,
        atom_graph=batch.atom_graph[permutation],
        atom={k: v[permutation] for k, v in batch.atom.items()},
        bond_index=remap_atoms(batch.bond_index, (0, 1)),
        near_index=remap_atoms(batch.near_index, (0, 1)),
        ring_incidence=remap_atoms(batch.ring_incidence, (0,)),
        subgraph_incidence=remap_atoms(batch.subgraph_incidence, (0,)),
    )


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
