"""Hand-written conserved quantities with the same interface as a learned g: ``state -> (B, k)``.

They are the "true H" row against which a learned ``NoetherEmbedding`` is judged (docs/design.md
section 6) and plug into ``tailor`` unchanged. All are differentiable torch functions of the state.

Energy needs a potential that torch can differentiate: ``chemnoether.simulation.potentials.Potential``
(MMFF, GFN2) computes on numpy arrays and cannot carry gradients, so ``TotalEnergy`` takes a torch
function ``potential(state) -> (B,)`` in eV instead (``harmonic_bond_potential`` is a small one,
for tests and toys). Units follow ``chemnoether.evaluate.physics``: amu, Å, Å/fs, eV.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from chemnoether import keys
from chemnoether.core.ops import edge_vectors, pool_atoms
from chemnoether.core.tensors import GraphTensors
from chemnoether.core.units import kinetic_energy_per_atom
from chemnoether.errors import ConfigError
from chemnoether.noether.quantity import ConservedQuantity

TorchEnergy = Callable[[GraphTensors], torch.Tensor]

def _masses(state: GraphTensors, like: torch.Tensor) -> torch.Tensor:
    return state.atom[keys.MASSES].to(like.dtype).reshape(-1, 1)


def linear_momentum(state: GraphTensors) -> torch.Tensor:
    """(B, 3) total momentum ``sum_i m_i v_i`` per graph, amu Å/fs."""
    vel = state.atom[keys.VEL]
    return pool_atoms(_masses(state, vel) * vel, state.atom_graph, state.num_graphs)


def angular_momentum(state: GraphTensors) -> torch.Tensor:
    """(B, 3) angular momentum about each graph's centre of mass, amu Å²/fs.

    ``sum_i m_i (r_i - R) x (v_i - V)``; about the centre of mass so that a translation of the
    whole system (or its uniform drift) does not change it.
    """
    pos, vel = state.atom[keys.POS], state.atom[keys.VEL]
    m, graphs, b = _masses(state, vel), state.atom_graph, state.num_graphs
    total = pool_atoms(m, graphs, b)
    centre = (pool_atoms(m * pos, graphs, b) / total).index_select(0, graphs)
    drift = (pool_atoms(m * vel, graphs, b) / total).index_select(0, graphs)
    return pool_atoms(m * torch.cross(pos - centre, vel - drift, dim=1), graphs, b)


def kinetic_energy_per_graph(state: GraphTensors) -> torch.Tensor:
    """(B,) kinetic energy ``sum_i m_i |v_i|^2 / 2`` per graph, eV (``core.units.kinetic_energy`` summed per graph)."""
    vel = state.atom[keys.VEL]
    per_atom = kinetic_energy_per_atom(_masses(state, vel).squeeze(1), vel)
    return pool_atoms(per_atom, state.atom_graph, state.num_graphs)


def harmonic_bond_potential(reference: GraphTensors, stiffness: float = 1.0, edges: str = "bond") -> TorchEnergy:
    """A toy differentiable potential: ``stiffness/2 * (|r_ij| - r0_ij)^2`` summed per graph, eV.

    ``r0`` are the lengths of ``edges`` (``"bond"`` or ``"near"``) in ``reference``; the states it
    is evaluated on must have the same edges (as the rollouts of ``tailor``, which keep them).
    Each bond is counted once although the graph holds both directions. ``stiffness`` in eV/Å².
    """
    if edges not in ("bond", "near"):
        raise ConfigError(f"edges must be 'bond' or 'near', got {edges!r}")
    if not stiffness > 0:
        raise ConfigError(f"stiffness must be > 0 eV/Å², got {stiffness!r}")
    index = reference.bond_index if edges == "bond" else reference.near_index

    def lengths(state: GraphTensors) -> torch.Tensor:
        shift = state.near.get(keys.EDGE_SHIFT) if edges == "near" else None
        return edge_vectors(state.atom[keys.POS], index, shift).norm(dim=1)

    rest = lengths(reference).detach()
    edge_graph = reference.atom_graph.index_select(0, index[1])

    def energy(state: GraphTensors) -> torch.Tensor:
        # 0.25 = 1/2 of the harmonic term times 1/2 for the two directions of each bond
        per_edge = 0.25 * stiffness * (lengths(state) - rest.to(state.atom[keys.POS].dtype)).pow(2)
        return pool_atoms(per_edge, edge_graph, state.num_graphs)

    return energy


class LinearMomentum(ConservedQuantity):
    """Oracle g: ``state -> (B, 3)`` linear momentum (``linear_momentum``)."""

    kind = "linear_momentum"
    k = 3

    def forward(self, state: GraphTensors) -> torch.Tensor:
        return linear_momentum(state)


class AngularMomentum(ConservedQuantity):
    """Oracle g: ``state -> (B, 3)`` angular momentum about the centre of mass (``angular_momentum``)."""

    kind = "angular_momentum"
    k = 3

    def forward(self, state: GraphTensors) -> torch.Tensor:
        return angular_momentum(state)


class TotalEnergy(ConservedQuantity):
    """Oracle g: ``state -> (B, 1)`` kinetic plus potential energy, eV.

    Args:
        potential: a differentiable torch function ``state -> (B,)`` in eV (see module docstring);
            ``None`` gives the kinetic energy alone.
    """

    kind = "energy"
    k = 1

    def __init__(self, potential: TorchEnergy | None = None):
        super().__init__()
        if potential is not None and not callable(potential):
            raise ConfigError(f"potential must be a torch function state -> (B,) energies in eV, got {potential!r}")
        self.potential = potential

    def forward(self, state: GraphTensors) -> torch.Tensor:
        energy = kinetic_energy_per_graph(state)
        if self.potential is not None:
            energy = energy + self.potential(state).reshape(-1)
        return energy.unsqueeze(1)


class LearnedTotalEnergy(ConservedQuantity):
    """g: ``state -> (B, 1)`` kinetic energy plus the dynamics model's learned potential energy, eV.

    A learned Noether quantity with a physical meaning (docs/design.md section 11): ``model`` is an
    ``EquivariantDynamics`` built with ``energy_head=True`` and trained on energies and forces.
    The model is referenced, not owned: g adds no parameters of its own, so freezing g
    (``train_g: false``) leaves the model alone, and the model's weights are stored once.
    """

    kind = "learned_energy"
    k = 1

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        if getattr(model, "energy_head", None) is None:
            raise ConfigError(
                f"g 'learned_energy' needs a model with an energy head; {type(model).__name__} has none: "
                "build it with energy_head=True (recipe: model.energy_head: true) and train it on forces"
            )
        object.__setattr__(self, "_model", model)  # bypass Module registration (see docstring)
        self.config = {}

    @property
    def model(self) -> torch.nn.Module:
        """The dynamics model whose energy head gives the potential."""
        return self._model

    def forward(self, state: GraphTensors) -> torch.Tensor:
        energy = kinetic_energy_per_graph(state) + self._model.potential_energy(state).reshape(-1)
        return energy.unsqueeze(1)
