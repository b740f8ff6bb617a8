"""One message-passing layer of the equivariant model (NequIP / MACE interaction block)."""

from __future__ import annotations

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet

from chemnoether.core.ops import scatter_sum
from chemnoether.errors import ConfigError
from chemnoether.nn._conditional import BlockCondition, ConditionalAffine
from chemnoether.nn._gate import IrrepsGate

_RESIDUAL_NORM = 0.5**0.5


# edges per slice of a large graph (see forward); small graphs run in one piece. On CPU slices sized
# for the cache keep time per atom flat; a GPU wants large launches: on an H200 a 10^5-atom water box
# ran 8.6x slower in 16k slices than in 256k ones, which still need a third of one piece's memory
EDGE_CHUNK = 16384
EDGE_CHUNK_ACCELERATOR = 1 << 18


class InteractionBlock(torch.nn.Module):
    """``o3.Linear`` -> edge tensor product -> scatter at dst / avg neighbours -> ``o3.Linear`` + self-connection -> gate.

    For every edge ``src -> dst``, the sender's features (after a linear mix) are coupled with the
    spherical harmonics of the edge vector by an ``o3.TensorProduct`` ("uvu": one path per input
    channel) whose weights come from a radial MLP on the edge's Bessel basis, times the cutoff
    envelope (so edges beyond the cutoff send nothing). Messages are summed at ``dst`` and divided
    by the constant ``avg_num_neighbors`` (keeps activations of order one whatever the graph
    density, NequIP). A linear map of the sum plus a linear self-connection of the node's own
    features feed the gate. With ``irreps_in == irreps_out`` the block is residual,
    ``(x + gate(...)) / sqrt(2)``, which keeps features of order one however deep the model.
    Last, an optional per-graph ``BlockCondition`` scales irrep channels and shifts scalars.

    Message passing is plain torch (``index_select`` / ``index_add``), so it runs on any device.

    Args:
        irreps_in, irreps_out: node features in and out (``irreps_out`` sorted and simplified).
        irreps_sh: spherical harmonics of the edge vectors, e.g. ``Irreps.spherical_harmonics(2)``.
        num_basis: width of the radial basis given to ``forward``.
        radial_neurons, radial_layers: hidden width and depth of the radial MLP.
        avg_num_neighbors: divisor of the summed messages.
        resnet: add the input to the output when the irreps allow it.
    """

    def __init__(
        self,
        irreps_in,
        irreps_out,
        irreps_sh,
        num_basis: int = 8,
        radial_neurons: int = 32,
        radial_layers: int = 2,
        avg_num_neighbors: float = 1.0,
        resnet: bool = True,
    ):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_sh = o3.Irreps(irreps_sh)
        if not avg_num_neighbors > 0:
            raise ConfigError(f"avg_num_neighbors must be > 0, got {avg_num_neighbors!r}")
        if self.irreps_in.dim == 0 or self.irreps_sh.dim == 0:
            raise ValueError(
                f"InteractionBlock needs non-empty irreps_in and irreps_sh, got {self.irreps_in} and {self.irreps_sh}"
            )
        self.gate = IrrepsGate(irreps_out)
        self.irreps_out = self.gate.irreps_out
        self.avg_num_neighbors = float(avg_num_neighbors)

        irreps_mid, instructions = _uvu_paths(self.irreps_in, self.irreps_sh, self.irreps_out)
        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.tensor_product = o3.TensorProduct(
            self.irreps_in, self.irreps_sh, irreps_mid, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = FullyConnectedNet(
            [num_basis] + [radial_neurons] * radial_layers + [self.tensor_product.weight_numel], torch.nn.functional.silu
        )
        self.linear_out = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.self_connection = o3.Linear(self.irreps_in, self.gate.irreps_in)
        self.condition = ConditionalAffine(self.irreps_out)
        self.resnet = bool(resnet) and self.irreps_in == self.irreps_out
        # plain ints for forward: torch.compile cannot guard on e3nn's Irrep objects
        self._dim_in = self.irreps_in.dim
        self._dim_mid = self.tensor_product.irreps_out.dim

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_basis: torch.Tensor,
        edge_envelope: torch.Tensor,
        atom_graph: torch.Tensor | None = None,
        condition: BlockCondition | None = None,
    ) -> torch.Tensor:
        """Features x (N, irreps_in.dim) -> (N, irreps_out.dim).

        Args:
            edge_index: (2, E) ``[src, dst]``; messages aggregate at dst.
            edge_sh: (E, irreps_sh.dim) harmonics of the edge vectors.
            edge_basis: (E, num_basis) radial basis of the edge lengths.
            edge_envelope: (E,) cutoff envelope (0 beyond the cutoff).
            atom_graph, condition: per-graph conditioning (``ConditionalAffine``); identity if absent.
        """
        if x.dim() != 2 or x.shape[1] != self._dim_in:
            raise ValueError(f"x must have shape (num_atoms, {self._dim_in}) for {self.irreps_in}, got {tuple(x.shape)}")
        src, dst = edge_index[0], edge_index[1]
        mixed = self.linear_in(x)
        num_edges = edge_index.shape[1]
        chunk = EDGE_CHUNK if x.device.type == "cpu" else EDGE_CHUNK_ACCELERATOR
        if num_edges <= chunk:
            aggregated = scatter_sum(self._messages(mixed, src, edge_sh, edge_basis, edge_envelope), dst, x.shape[0])
        else:
            # large graphs in cache-sized slices of edges: the per-edge intermediates of the tensor
            # product are memory-bound, and one slice at a time keeps them in cache, so time per
            # atom stays flat as systems grow (benchmarks/scaling.py); the sum is the same
            aggregated = mixed.new_zeros((x.shape[0], self._dim_mid))
            for start in range(0, num_edges, chunk):
                part = slice(start, start + chunk)
                messages = self._messages(mixed, src[part], edge_sh[part], edge_basis[part], edge_envelope[part])
                aggregated.index_add_(0, dst[part], messages)  # in place: a copy per slice would cost O(N) each
        aggregated = aggregated / self.avg_num_neighbors
        out = self.gate(self.linear_out(aggregated) + self.self_connection(x))
        if self.resnet:
            # divided by sqrt(2): the sum of two order-one parts would grow layer after layer
            out = (out + x) * _RESIDUAL_NORM
        return self.condition(out, atom_graph, condition)

    def _messages(self, mixed, src, edge_sh, edge_basis, edge_envelope) -> torch.Tensor:
        weights = self.radial(edge_basis) * edge_envelope.unsqueeze(-1)
        return self.tensor_product(mixed.index_select(0, src), edge_sh, weights)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} x {self.irreps_sh} -> {self.irreps_out}, avg_num_neighbors={self.avg_num_neighbors:g}"


def _uvu_paths(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_out: o3.Irreps):
    """Irreps and instructions of the edge tensor product: every in x sh -> out path whose output type is wanted."""
    wanted = {ir for _, ir in irreps_out}
    mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    if not instructions:
        raise ValueError(f"no tensor-product path from {irreps_in} x {irreps_sh} reaches any irrep of {irreps_out}")
    mid = o3.Irreps(mid)
    # sorted irreps make the following Linear cheaper; remap the instructions' output index
    mid, permutation, _ = mid.sort()
    return mid, [(i, j, permutation[k], mode, train) for i, j, k, mode, train in instructions]
