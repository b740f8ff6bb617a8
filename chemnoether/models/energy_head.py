"""An invariant potential-energy readout for the dynamics model's interaction network (docs/design.md section 11).

The energy is a sum of per-atom terms, each an MLP of the atom's invariant (0e) features plus a
learned reference energy of its element; per-atom sums make it extensive and permutation
invariant, 0e inputs make it invariant to rotations, reflections and translations. Forces are
``-dE/dpos`` (``energy_forces``), so they are conservative by construction.

The model calls it on features computed at zero velocity: a potential energy depends on the
positions only, and so ``kinetic + potential`` is a candidate conserved quantity.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from chemnoether import keys
from chemnoether.core.ops import pool_atoms
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import GraphFormatError
from chemnoether.nn import silu_mlp


class EnergyHead(torch.nn.Module):
    """``(scalars (N, C), types (N,), atom_graph, num_graphs) -> (num_graphs,)`` energies, eV.

    Args:
        num_scalars: width C of the invariant per-atom features.
        num_types: elements the model knows (one reference energy each).
        hidden: width of the MLP's hidden layer.
        energy_scale: eV; the MLP's output is multiplied by it (order-one outputs for the
            typical fluctuation of the energy).
        energy_shift: eV per atom; the starting reference energy of every element (the mean
            energy per atom of the training data puts an untrained head at the right level).
    """

    def __init__(self, num_scalars: int, num_types: int, hidden: int, energy_scale: float, energy_shift: float):
        super().__init__()
        self.mlp = silu_mlp([num_scalars, hidden, hidden, 1])
        self.energy_scale = float(energy_scale)
        self.type_energy = torch.nn.Parameter(torch.full((num_types,), float(energy_shift)))

    def forward(self, scalars: torch.Tensor, types: torch.Tensor, atom_graph: torch.Tensor, num_graphs: int) -> torch.Tensor:
        per_atom = self.mlp(scalars).squeeze(1) * self.energy_scale + self.type_energy.to(scalars.dtype)[types]
        return pool_atoms(per_atom, atom_graph, num_graphs)


def energy_forces(
    energy_fn, batch: GraphTensors, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(energy (B,), forces (N, 3))`` of ``energy_fn(batch)`` with ``forces = -dE/dpos``.

    Works under ``torch.no_grad`` too (the gradient is taken locally). ``create_graph``: keep the
    forces differentiable (to train on them). Positions that already require a gradient (a
    rollout's predicted state) are used as they are, so the energy stays differentiable in
    whatever produced them.
    """
    if keys.POS not in batch.atom:
        raise GraphFormatError(f"energy_forces needs atom field {keys.POS!r}")
    with torch.enable_grad():
        pos = batch.atom[keys.POS]
        if not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
            batch = replace(batch, atom={**batch.atom, keys.POS: pos})
        energy = energy_fn(batch)
        (gradient,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
    if not create_graph:
        energy = energy.detach()
    return energy, -gradient
