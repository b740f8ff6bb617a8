"""g_phi: a learned, E(3)- and permutation-invariant embedding of a state (docs/design.md section 6).

A Noether network asks the dynamics model's rollout to keep ``g_phi(state)`` constant. For that to
mean "conserved quantity" rather than "coordinate artefact", g must not change when the whole
system is rotated, reflected, translated or its atoms relabelled. We get this by construction:
every feature is a scalar built from distances, norms and dot products of relative positions and
velocities, aggregated with sums (order-free), so no e3nn machinery is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from chemnoether import keys
from chemnoether.core.ops import edge_vectors, pool_atoms, pool_incidence, scatter_sum
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.core.options import positive_int
from chemnoether.models.base import checked_edges, select_edges
from chemnoether.noether.quantity import ConservedQuantity
from chemnoether.nn import BesselBasis, ElementTypes, PolynomialCutoff, silu_mlp

# per edge: |v_src|, |v_dst|, r_hat . v_src, r_hat . v_dst, v_src . v_dst, |v_dst - v_src|
NUM_EDGE_VELOCITY_FEATURES = 6


def _positive_float(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} must be a positive number, got {value!r}") from err
    if not number > 0 or number == float("inf"):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return number


class NoetherEmbedding(ConservedQuantity):
    """``g_phi(state) -> (B, k)``: per-graph invariant embedding of positions, velocities and structure.

    Per atom: an element embedding and ``|v|``. ``layers`` rounds of invariant messages along the
    chosen edges (Bessel basis of the distance times a smooth cutoff, and the velocity invariants
    ``|v_i|, |v_j|, r_hat.v_i, r_hat.v_j, v_i.v_j, |v_j - v_i|``). Then three separate pools,
    concatenated: the sum over atoms, the sum over rings of the per-ring mean, and likewise for
    subgraphs (a graph with no rings or subgraphs pools to exact zeros there, never NaN); a final
    MLP maps the ``3 * hidden`` vector to R^k.

    Args:
        elements: atomic numbers the embedding knows.
        k: output width.
        hidden: width of the atom features and MLPs.
        layers: message-passing rounds, at least 1 (positions enter only through the messages).
        cutoff: Å, radius of the Bessel basis and cutoff envelope (longer edges carry nothing).
        num_basis: Bessel functions.
        edges: ``"near"``, ``"bond"`` or ``"both"`` (as the dynamics models).
        velocity_scale: Å/fs; velocities are divided by it so the features are of order one.

    ``forward(state: GraphTensors) -> (num_graphs, k)``; it reads ``atom[POS]``, ``atom[VEL]``,
    ``atom[ATOMIC_NUMBERS]``, the edges, and the ring and subgraph incidences.
    ``config`` holds the keyword arguments that rebuild it (``NoetherEmbedding(**g.config)``).
    """

    kind = "learned"

    def __init__(
        self,
        elements: Sequence[int],
        k: int = 8,
        hidden: int = 32,
        layers: int = 2,
        *,
        cutoff: float = 5.0,
        num_basis: int = 8,
        edges: str = "near",
        velocity_scale: float = 0.01,
    ):
        super().__init__()
        self.k = positive_int(k, "k")
        hidden = positive_int(hidden, "hidden")
        positive_int(layers, "layers")
        self.edges = checked_edges(edges)
        self.velocity_scale = _positive_float(velocity_scale, "velocity_scale")
        self.element_types = ElementTypes(elements)
        self.element_embedding = torch.nn.Embedding(self.element_types.num_types, hidden)
        self.speed_embedding = torch.nn.Linear(1, hidden)
        self.radial_basis = BesselBasis(_positive_float(cutoff, "cutoff"), positive_int(num_basis, "num_basis"))
        self.envelope = PolynomialCutoff(cutoff, 6)
        edge_width = num_basis + NUM_EDGE_VELOCITY_FEATURES
        self.messages = torch.nn.ModuleList(silu_mlp([2 * hidden + edge_width, hidden, hidden]) for _ in range(layers))
        self.updates = torch.nn.ModuleList(silu_mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        self.head = silu_mlp([3 * hidden, hidden, self.k])
        self.config = {
            "elements": [int(z) for z in self.element_types.elements], "k": self.k, "hidden": hidden, "layers": layers,
            "cutoff": float(cutoff), "num_basis": num_basis, "edges": self.edges, "velocity_scale": self.velocity_scale,
        }

    def atom_features(self, state: GraphTensors) -> torch.Tensor:
        """(N, hidden) invariant per-atom features after message passing."""
        atom = state.atom
        pos, vel = atom[keys.POS], atom[keys.VEL] / self.velocity_scale
        edge_index, shift = select_edges(state, self.edges)
        vectors = edge_vectors(pos, edge_index, shift)
        # sqrt of (r^2 + tiny): finite gradients even for coinciding atoms (which no edge should have)
        lengths = (vectors.pow(2).sum(dim=1) + 1e-12).sqrt()
        r_hat = vectors / lengths.unsqueeze(1)
        src, dst = edge_index
        v_src, v_dst = vel.index_select(0, src), vel.index_select(0, dst)
        edge_features = torch.cat(
            [
                self.radial_basis(lengths),
                torch.stack(
                    [
                        _norm(v_src),
                        _norm(v_dst),
                        (r_hat * v_src).sum(dim=1),
                        (r_hat * v_dst).sum(dim=1),
                        (v_src * v_dst).sum(dim=1),
                        _norm(v_dst - v_src),
                    ],
                    dim=1,
                ),
            ],
            dim=1,
        )
        weight = self.envelope(lengths).unsqueeze(1)

        types = self.element_types(atom[keys.ATOMIC_NUMBERS])
        h = self.element_embedding(types) + self.speed_embedding(_norm(vel).unsqueeze(1))
        for message, update in zip(self.messages, self.updates):
            m = message(torch.cat([h.index_select(0, src), h.index_select(0, dst), edge_features], dim=1)) * weight
            h = h + update(torch.cat([h, scatter_sum(m, dst, h.shape[0])], dim=1))  # residual
        return h

    def forward(self, state: GraphTensors) -> torch.Tensor:
        h = self.atom_features(state)
        b = state.num_graphs
        over_atoms = pool_atoms(h, state.atom_graph, b)
        over_rings = _pool_groups(h, state.ring_incidence, state.ring_graph, b)
        over_subgraphs = _pool_groups(h, state.subgraph_incidence, state.subgraph_graph, b)
        return self.head(torch.cat([over_atoms, over_rings, over_subgraphs], dim=1))


def _norm(v: torch.Tensor) -> torch.Tensor:
    # smooth at v = 0 (a resting atom): plain .norm() has an undefined gradient there
    return (v.pow(2).sum(dim=1) + 1e-12).sqrt()


def _pool_groups(h: torch.Tensor, incidence: torch.Tensor, group_graph: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per graph, the sum over its groups (rings, subgraphs) of each group's mean atom feature."""
    # mean within a group: a ring is described by its atoms, whatever its size; scatter_mean
    # leaves an empty group at 0 and a graph without groups sums to exactly 0
    per_group = pool_incidence(h, incidence, group_graph.shape[0], reduce="mean")
    return pool_atoms(per_group, group_graph, num_graphs)
