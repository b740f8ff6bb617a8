"""The EGNN peer (Satorras et al. 2021) on ``dgl.nn.EGNNConv``, in the MD17 setup of EGNN / GMN / EGNO.

docs/design.md section 5 wants every accuracy number beside a plain E(n)-equivariant baseline. This one
uses DGL's own layer, so it builds a homogeneous DGLGraph from the batch's edge index inside
``forward``. PyPI's DGL is CPU-only: on another device the model raises ``ConfigError`` unless a
DGL build for that device is installed (the equivariant model has no such limit).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError
from chemnoether.models._egnn_layer import TorchEGNNConv, egnn_conv
from chemnoether.core.options import flag, positive_float, positive_int
from chemnoether.models.base import (
    DynamicsModel,
    Prediction,
    checked_edges,
    remove_mass_weighted_mean,
    select_edges,
    time_step_per_atom,
)
from chemnoether.nn import ElementTypes

# EGNN's reference code initialises its coordinate heads with this Xavier gain, so that the first
# steps barely move the atoms (an O(1) update would throw them Ångströms away).
COORDINATE_INIT_GAIN = 0.001


class EGNNDynamics(DynamicsModel):
    """EGNN with the velocity as input (EGNN-vel, as in the MD17 benchmarks of GMN and EGNO).

    Node features are the type one-hot and ``|v| / velocity_scale`` (GMN: Z and |v|). Each layer
    is an ``EGNNConv`` (messages from invariants, coordinates moved along unit edge vectors) plus
    EGNN-vel's velocity term: ``x <- EGNNConv(x) + phi_v(h) * vel * dt``; the per-layer gates start
    at ``1 / layers``, so an untrained model is near constant velocity. Node updates are residual.
    Outputs, E(n)-equivariant and translation invariant for the changes:

        dpos = x_L - pos - vel * dt               next_pos = pos + vel * dt + dpos
        dvel = sum_l gamma_l(h_L) * c_l / dt      next_vel = vel + dvel

    where ``c_l`` is layer l's EGNNConv coordinate update (an equivariant vector per atom) and
    ``gamma_l`` invariant per-atom gains, initialised to 2: since ``sum_l c_l`` is about ``dpos``,
    that starts from the constant-acceleration relation ``dvel = 2 dpos / dt``; separate gains let
    the velocity change point elsewhere than the displacement.
    ``conserve_momentum`` projects out the net momentum change as in ``EquivariantDynamics``.

    Args:
        elements: atomic numbers the model knows.
        hidden: width of node features and of EGNNConv's MLPs.
        layers: number of EGNNConv layers.
        edges: ``"near"``, ``"bond"`` or ``"both"`` (no periodic images: EGNNConv has no shifts).
        velocity_scale: Å/fs, divides ``|v|``.
        conserve_momentum: project out the net momentum change.
        backend: ``"dgl"`` (``dgl.nn.EGNNConv``; on a device PyPI's CPU-only DGL cannot use, its
            layers run as the same arithmetic on plain tensors, ``_egnn_layer.egnn_conv``) or
            ``"torch"`` (``_egnn_layer.TorchEGNNConv`` everywhere; same parameter names).
    """

    kind = "egnn"

    def __init__(
        self,
        elements: Sequence[int],
        *,
        hidden: int = 64,
        layers: int = 4,
        edges: str = "near",
        velocity_scale: float = 0.01,
        conserve_momentum: bool = True,
        backend: str = "dgl",
    ):
        element_types = ElementTypes(elements)
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
        super().__init__(
            {
                "elements": list(element_types.elements),
                "hidden": positive_int(hidden, "hidden"),
                "layers": positive_int(layers, "layers"),
                "edges": checked_edges(edges),
                "velocity_scale": positive_float(velocity_scale, "velocity_scale", "Å/fs"),
                "conserve_momentum": flag(conserve_momentum, "conserve_momentum"),
                "backend": backend,
            }
        )
        self.backend = backend
        self.edges = edges
        self.velocity_scale = float(velocity_scale)
        self.conserve_momentum = conserve_momentum
        self.element_types = element_types
        self.embedding = torch.nn.Linear(element_types.num_types + 1, hidden)
        if backend == "dgl":
            from dgl.nn import EGNNConv as layer  # lazy: keeps DGL out of `import chemnoether.models`
        else:
            layer = TorchEGNNConv
        self.convs = torch.nn.ModuleList(layer(hidden, hidden, hidden) for _ in range(layers))
        self.velocity_gates = torch.nn.ModuleList(_mlp(hidden, 1, bias=1.0 / layers) for _ in range(layers))
        self.velocity_gains = _mlp(hidden, layers, bias=2.0)
        for conv in self.convs:
            torch.nn.init.xavier_uniform_(conv.coord_mlp[-1].weight, gain=COORDINATE_INIT_GAIN)

    def forward(self, batch: GraphTensors) -> Prediction:
        self.check_inputs(batch)
        atom = batch.atom
        pos, vel = atom[keys.POS], atom[keys.VEL]
        edge_index, shift = select_edges(batch, self.edges)
        # PyPI's DGL is CPU-only: elsewhere DGL's layers run as the same arithmetic on plain tensors
        on_dgl = self.backend == "dgl" and pos.device.type == "cpu"
        if on_dgl:
            import dgl  # lazy: keeps DGL out of `import chemnoether.models`

            graph = dgl.graph((edge_index[0], edge_index[1]), num_nodes=pos.shape[0])
        else:
            graph = edge_index
        layer = (lambda conv, g, h, x: conv(g, h, x)) if on_dgl else egnn_conv
        if shift.numel() and bool((shift != 0).any()):
            raise ConfigError(
                "EGNNDynamics cannot use periodic images (near edges with a nonzero edge_shift); "
                "use the equivariant model"
            )
        types = self.element_types(atom[keys.ATOMIC_NUMBERS])

        one_hot = torch.nn.functional.one_hot(types, self.element_types.num_types).to(pos.dtype)
        speed = vel.norm(dim=1, keepdim=True) / self.velocity_scale
        h = self.embedding(torch.cat([one_hot, speed], dim=1))
        dt = time_step_per_atom(batch, pos)
        ballistic = vel * dt
        x, updates = pos, []
        for conv, gate in zip(self.convs, self.velocity_gates):
            h_new, x_new = layer(conv, graph, h, x)
            updates.append(x_new - x)
            x = x_new + gate(h) * ballistic  # EGNN-vel: phi_v(h) * v_init
            h = h + h_new
        dpos = x - pos - ballistic
        gains = self.velocity_gains(h)  # (N, layers)
        dvel = torch.einsum("nl,lnc->nc", gains, torch.stack(updates)) / dt

        if self.conserve_momentum:
            masses = atom[keys.MASSES]
            dpos = remove_mass_weighted_mean(dpos, masses, batch.atom_graph, batch.num_graphs)
            dvel = remove_mass_weighted_mean(dvel, masses, batch.atom_graph, batch.num_graphs)
        return Prediction(pos=pos + ballistic + dpos, vel=vel + dvel)


BACKENDS = ("dgl", "torch")


def _mlp(hidden: int, out: int, bias: float) -> torch.nn.Sequential:
    """Invariant head ``Linear-SiLU-Linear`` whose outputs start near ``bias`` (small last weights)."""
    last = torch.nn.Linear(hidden, out)
    torch.nn.init.xavier_uniform_(last.weight, gain=COORDINATE_INIT_GAIN)
    torch.nn.init.constant_(last.bias, bias)
    return torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), last)
