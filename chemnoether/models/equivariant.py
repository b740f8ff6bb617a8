"""The E(3)-equivariant dynamics model (docs/design.md section 5; NequIP / MACE blocks, TrajCast / SEGNN outputs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from e3nn import o3

from chemnoether import keys
from chemnoether.core.ops import edge_vectors
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.core.options import flag, positive_float, positive_int
from chemnoether.models.energy_head import EnergyHead, energy_forces
from chemnoether.models.base import (
    DynamicsModel,
    Prediction,
    checked_edges,
    remove_mass_weighted_mean,
    select_edges,
    time_step_per_atom,
)
from chemnoether.models.rigid_rotation import angular_velocity, rotate
from chemnoether.nn import (
    BesselBasis,
    BlockCondition,
    ElementTypes,
    InteractionBlock,
    NodeEmbedding,
    PolynomialCutoff,
)

MAX_L = 3


class EquivariantDynamics(DynamicsModel):
    """Predicts the state after ``dt`` with E(3)-equivariant interaction blocks on the atom graph.

    Reads like this: atom types (one-hot, 0e) and velocities (1o, ``|v|^2``, and their harmonics up
    to ``l_max`` with ``velocity_sh``) are embedded into ``channels`` copies of each irrep
    ``0e, 1o, 2e, ...`` up to ``l_max``; ``layers`` ``InteractionBlock`` s pass messages along the
    edges (harmonics of the edge vector, Bessel radial basis times a polynomial cutoff); a linear
    readout gives two vectors (1o) per atom, a displacement correction and a velocity change:

        next_pos = pos + v_com * dt + c * (vel - v_com) * dt + dpos_scale * out_0
        next_vel = vel + dvel_scale * out_1

    Corrections to the ballistic step rather than direct outputs, so that an untrained model is
    close to constant-velocity extrapolation and the network learns only what the forces add.
    ``c`` (one learned scalar, 1 at the start; fixed at 1 with ``learn_ballistic=False``) scales the
    extrapolation of the internal motion: over long jumps (the MD17 protocol's 1.5 ps) a straight
    line from the instantaneous velocity is far off and the best linear term is much smaller than
    ``vel * dt``; the centre of mass keeps moving with its own velocity ``v_com``.
    With ``conserve_momentum`` the mass-weighted mean of both corrections is removed per graph,
    so ``sum_i m_i next_vel_i = sum_i m_i vel_i`` and the centre of mass moves by ``P dt / M``, exactly.

    Args:
        elements: atomic numbers the model knows (type indices follow their sorted order).
        channels: multiplicity of every irrep of the hidden features.
        layers: number of interaction blocks.
        l_max: highest degree of hidden features and edge harmonics (1-3; 1-2 typical).
        cutoff: Å; edges longer than this carry zero weight (the graph may hold longer ones).
        num_basis: Bessel functions of the radial basis.
        cutoff_power: p of the polynomial cutoff envelope.
        radial_neurons, radial_layers: the per-block radial MLP.
        avg_num_neighbors: divisor of the summed messages (``statistics.dataset_statistics``
            measures it; 8 is ethanol at 5 Å with hydrogens).
        edges: ``"near"`` (radius or MD17-protocol graph), ``"bond"`` or ``"both"``.
        velocity_sh: embed the velocity's spherical harmonics of degree 2..l_max too (no effect at l_max 1).
        velocity_scale: Å/fs; input velocities are divided by it (order-one features).
        dpos_scale, dvel_scale: Å and Å/fs; size of the outputs (``statistics`` measures them).
        conserve_momentum: project out the net momentum change (above).
        resnet: residual blocks.
        learn_ballistic: learn the scale ``c`` of the internal velocity extrapolation (see above).
        parity: ``"natural"`` hidden irreps (0e, 1o, 2e, ...) or ``"all"`` (both parities of each l).
        rigid_rotation: extrapolate each molecule's overall rotation as a free rotor
            (``models.rigid_rotation``) and correct that, instead of straight lines; for long jumps.
        energy_head: add an invariant potential-energy readout (``potential_energy``); off by
            default, and then the model, its config and its checkpoints are exactly as without it.
        energy_scale: eV, typical fluctuation of the potential energy (``from_data`` measures it).
        energy_shift: eV per atom, mean potential energy per atom (``from_data`` measures it).

    ``forward(batch, conditioning=None)``: ``conditioning`` optionally gives one ``BlockCondition``
    (per-graph scale per irrep channel, shift per 0e channel; see ``conditioning_sizes``) or
    ``None`` per block, for tailoring; without it the model is unconditioned.

    For exact float64 work (equivariance tests to 1e-10), build the model with float64 as torch's
    default dtype: e3nn computes its coupling constants in the default dtype at construction, and
    ``.double()`` cannot restore the digits a float32 build rounded away (see ``nn.testing``).
    """

    kind = "equivariant"
    # e3nn's tensor products and the free-rotor solve mix dtypes under torch.autocast and fail
    # (CPU and an H200, benchmarks/speedups.py); the trainer refuses train.amp for such models
    autocast_safe = False

    def __init__(
        self,
        elements: Sequence[int],
        *,
        channels: int = 32,
        layers: int = 3,
        l_max: int = 1,
        cutoff: float = 5.0,
        num_basis: int = 8,
        cutoff_power: int = 6,
        radial_neurons: int = 32,
        radial_layers: int = 2,
        avg_num_neighbors: float = 8.0,
        edges: str = "near",
        velocity_sh: bool = True,
        velocity_scale: float = 0.01,
        dpos_scale: float = 0.05,
        dvel_scale: float = 0.01,
        conserve_momentum: bool = True,
        resnet: bool = True,
        learn_ballistic: bool = True,
        parity: str = "natural",
        rigid_rotation: bool = False,
        energy_head: bool = False,
        energy_scale: float = 1.0,
        energy_shift: float = 0.0,
    ):
        element_types = ElementTypes(elements)
        # the energy options enter the config only when the head is on, so a model without it
        # records exactly the config (and identity) it had before the head existed
        energy_options = (
            {"energy_head": True, "energy_scale": positive_float(energy_scale, "energy_scale", "eV"),
             "energy_shift": _finite_float(energy_shift, "energy_shift")}
            if flag(energy_head, "energy_head") else {}
        )
        super().__init__(
            {
                "elements": list(element_types.elements),
                "channels": positive_int(channels, "channels"),
                "layers": positive_int(layers, "layers"),
                "l_max": positive_int(l_max, "l_max", MAX_L),
                "cutoff": positive_float(cutoff, "cutoff", "Å"),
                "num_basis": positive_int(num_basis, "num_basis"),
                "cutoff_power": positive_int(cutoff_power, "cutoff_power"),
                "radial_neurons": positive_int(radial_neurons, "radial_neurons"),
                "radial_layers": positive_int(radial_layers, "radial_layers"),
                "avg_num_neighbors": positive_float(avg_num_neighbors, "avg_num_neighbors"),
                "edges": checked_edges(edges),
                "velocity_sh": flag(velocity_sh, "velocity_sh"),
                "velocity_scale": positive_float(velocity_scale, "velocity_scale", "Å/fs"),
                "dpos_scale": positive_float(dpos_scale, "dpos_scale", "Å"),
                "dvel_scale": positive_float(dvel_scale, "dvel_scale", "Å/fs"),
                "conserve_momentum": flag(conserve_momentum, "conserve_momentum"),
                "resnet": flag(resnet, "resnet"),
                "learn_ballistic": flag(learn_ballistic, "learn_ballistic"),
                "parity": _checked_parity(parity),
                "rigid_rotation": flag(rigid_rotation, "rigid_rotation"),
                **energy_options,
            }
        )
        self.edges = edges
        self.velocity_scale = float(velocity_scale)
        self.dpos_scale, self.dvel_scale = float(dpos_scale), float(dvel_scale)
        self.conserve_momentum = conserve_momentum
        self.rigid_rotation = rigid_rotation

        # natural parity (0e, 1o, 2e...) as MACE: what positions and velocities generate; "all" adds
        # the pseudo-irreps (0o, 1e, ...): an angular momentum r x v is 1e, which the natural set
        # can only build through longer paths
        parities = {"natural": lambda l: [(-1) ** l], "all": lambda l: [1, -1]}[parity]
        hidden = [(channels, (l, p)) for l in range(l_max + 1) for p in parities(l)]
        self.irreps_hidden = o3.Irreps(hidden).sort().irreps.simplify()
        self.irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        self.irreps_out = o3.Irreps("2x1o")  # displacement correction, velocity change

        self.element_types = element_types
        self.embedding = NodeEmbedding(element_types.num_types, self.irreps_hidden, l_max if velocity_sh else 1)
        self.spherical_harmonics = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self.radial_basis = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialCutoff(cutoff, cutoff_power)
        self.blocks = torch.nn.ModuleList(
            InteractionBlock(
                self.irreps_hidden,
                self.irreps_hidden,
                self.irreps_sh,
                num_basis=num_basis,
                radial_neurons=radial_neurons,
                radial_layers=radial_layers,
                avg_num_neighbors=avg_num_neighbors,
                resnet=resnet,
            )
            for _ in range(layers)
        )
        self.readout = o3.Linear(self.irreps_hidden, self.irreps_out)
        # a 0e scalar: scaling the internal velocity keeps every equivariance and the momentum
        self.ballistic = torch.nn.Parameter(torch.ones(()), requires_grad=learn_ballistic)
        self.energy_head = (
            EnergyHead(channels, element_types.num_types, radial_neurons, energy_scale, energy_shift) if energy_head else None
        )

    @property
    def conditioning_sizes(self) -> tuple[tuple[int, int], ...]:
        """Per block, ``(num_scales, num_shifts)``: widths of a ``BlockCondition``'s scale and shift."""
        return tuple((block.condition.num_scales, block.condition.num_shifts) for block in self.blocks)

    def node_scalars(self, batch: GraphTensors, conditioning: Sequence[BlockCondition | None] | None = None) -> torch.Tensor:
        """(N, channels) invariant per-atom embeddings: the 0e channels of the last block's output.

        Selected by irreps (with ``parity="all"`` the first channels are 0o, pseudo-scalars that flip
        sign under a reflection, so "the first ``channels``" would not be invariant). Invariant to
        rotations, reflections and translations, equivariant to atom permutations; what the
        spectral GP heads (``chemnoether.gp``) read. ``conditioning`` as for ``forward``.
        """
        return self._scalars(self._hidden(batch, conditioning))

    def _scalars(self, x: torch.Tensor) -> torch.Tensor:
        scalars = [x[:, part] for (_, ir), part in zip(self.irreps_hidden, self.irreps_hidden.slices(), strict=True) if ir == o3.Irrep("0e")]
        return torch.cat(scalars, dim=1)

    def potential_energy(self, batch: GraphTensors) -> torch.Tensor:
        """(num_graphs,) learned potential energy of the positions in ``batch``, eV.

        The interaction network runs on the positions with every velocity set to zero and no
        conditioning, so the energy depends on the positions (and atom types) only, and is
        invariant to rotations, reflections, translations and atom permutations. It is
        differentiable in ``batch.atom[POS]``; ``energy_and_forces`` also gives ``-dE/dpos``.
        Needs ``energy_head=True``.
        """
        if self.energy_head is None:
            raise ConfigError(
                "this EquivariantDynamics has no energy head: build it with energy_head=True "
                "(recipe: model.energy_head: true) to learn a potential energy"
            )
        self.check_inputs(batch)
        at_rest = replace(batch, atom={**batch.atom, keys.VEL: torch.zeros_like(batch.atom[keys.POS])})
        scalars = self._scalars(self._hidden(at_rest, None))
        types = self.element_types(batch.atom[keys.ATOMIC_NUMBERS])
        return self.energy_head(scalars, types, batch.atom_graph, batch.num_graphs)

    def energy_and_forces(self, batch: GraphTensors, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(energy (B,) eV, forces (N, 3) eV/Å)`` with ``forces = -d potential_energy / d pos``.

        ``create_graph``: keep both differentiable in the parameters (for a force loss).
        """
        return energy_forces(self.potential_energy, batch, create_graph=create_graph)

    def _hidden(
        self, batch: GraphTensors, conditioning: Sequence[BlockCondition | None] | None, cache: dict | None = None
    ) -> torch.Tensor:
        """(N, irreps_hidden.dim) features after the embedding and every interaction block.

        ``cache``: a dict shared by calls on the same ``batch`` object whose conditioning leaves
        the first blocks unconditioned (tailoring of the last blocks): the features before the
        first conditioned block are computed once and reused, so a tailored prediction repeats
        only the tailored blocks.
        """
        self.check_inputs(batch)
        if conditioning is not None and len(conditioning) != len(self.blocks):
            raise ConfigError(
                f"conditioning must give one BlockCondition (or None) per block ({len(self.blocks)}), "
                f"got {len(conditioning)}"
            )
        conditions = list(conditioning) if conditioning is not None else [None] * len(self.blocks)
        first = next((i for i, c in enumerate(conditions) if c is not None), len(conditions))
        cached = cache.get("prefix") if cache is not None else None
        if cached is not None and cached[0] is batch and cached[1] == first:
            x, edges = cached[2], cached[3]
        else:
            edges = self._edge_features(batch)
            x = self.embedding(self.element_types(batch.atom[keys.ATOMIC_NUMBERS]), batch.atom[keys.VEL] / self.velocity_scale)
            for block in self.blocks[:first]:
                x = block(x, *edges, batch.atom_graph, None)
            if cache is not None:  # the batch itself is kept, so its id cannot be reused by another
                cache["prefix"] = (batch, first, x, edges)
        for block, condition in zip(self.blocks[first:], conditions[first:]):
            x = block(x, *edges, batch.atom_graph, condition)
        return x

    def _edge_features(self, batch: GraphTensors) -> tuple:
        """``(edge_index, harmonics, radial basis, envelope)`` of the model's edges in ``batch``."""
        edge_index, shift = select_edges(batch, self.edges)
        vectors = edge_vectors(batch.atom[keys.POS], edge_index, shift)
        lengths = vectors.norm(dim=1)
        return edge_index, self.spherical_harmonics(vectors), self.radial_basis(lengths), self.envelope(lengths)

    def forward(
        self, batch: GraphTensors, conditioning: Sequence[BlockCondition | None] | None = None, cache: dict | None = None
    ) -> Prediction:
        x = self._hidden(batch, conditioning, cache)
        atom = batch.atom
        pos, vel = atom[keys.POS], atom[keys.VEL]
        out = self.readout(x)
        dpos, dvel = out[:, :3] * self.dpos_scale, out[:, 3:] * self.dvel_scale

        if self.conserve_momentum:
            masses = atom[keys.MASSES]
            dpos = remove_mass_weighted_mean(dpos, masses, batch.atom_graph, batch.num_graphs)
            dvel = remove_mass_weighted_mean(dvel, masses, batch.atom_graph, batch.num_graphs)
        dt = time_step_per_atom(batch, pos)
        c = self.ballistic.to(vel.dtype)
        if not self.rigid_rotation:
            internal = remove_mass_weighted_mean(vel, atom[keys.MASSES], batch.atom_graph, batch.num_graphs)
            ballistic = (vel - internal) * dt + c * internal * dt
            return Prediction(pos=pos + ballistic + dpos, vel=vel + dvel)
        # centre of mass in a straight line, the molecule turned as a free rotor, the rest of the
        # internal motion extrapolated by c (module docstring of rigid_rotation)
        omega, rel_pos, rel_vel = angular_velocity(pos, vel, atom[keys.MASSES], batch.atom_graph, batch.num_graphs)
        spin = omega.index_select(0, batch.atom_graph)
        turn = spin * dt
        vibration = rel_vel - torch.cross(spin, rel_pos, dim=1)
        next_pos = pos + (vel - rel_vel) * dt + (rotate(rel_pos, turn) - rel_pos) + c * vibration * dt
        next_vel = (vel - rel_vel) + rotate(rel_vel, turn)
        return Prediction(pos=next_pos + dpos, vel=next_vel + dvel)


PARITIES = ("natural", "all")


def _finite_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < float("inf"):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _checked_parity(parity: str) -> str:
    if parity not in PARITIES:
        raise ConfigError(f"parity={parity!r}: choose one of {PARITIES}")
    return parity
