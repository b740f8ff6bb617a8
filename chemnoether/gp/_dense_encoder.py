"""``EquivariantDynamics.node_scalars`` for forecasts without autograd, its e3nn ``Linear`` layers as dense matrices.

An ``o3.Linear`` is a linear map of the irreps vector, computed by e3nn path by path (an einsum
and a few reshapes per pair of irreps); with fixed weights it is one (in, out) matrix, the map
applied to the identity. The head's encoder runs four of them per window (the embedding, and a
block's input, output and self-connection); as matrices they cost one product each. Everything
else (edge harmonics and radial basis, the tensor product, its radial weights, the gate) is the
model's own code, in the order of ``EquivariantDynamics._hidden`` and ``InteractionBlock.forward``.
The scalars equal ``node_scalars`` to round-off (tests/gp/test_dense_encoder.py).

A snapshot is tied to the parameters' versions: ``DenseScalars.of(model)`` rebuilds it when an
optimiser step or ``load_state_dict`` has changed any of them in place (a parameter replaced by a
new tensor is not seen: make a new snapshot). Used only where nothing needs
gradients, without per-graph conditioning, and for graphs small enough for one edge slice.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import Tensor

from chemnoether import keys
from chemnoether.core.ops import scatter_sum
from chemnoether.core.tensors import GraphTensors
from chemnoether.models import EquivariantDynamics
from chemnoether.nn._interaction import _RESIDUAL_NORM, EDGE_CHUNK


def _dense(linear: o3.Linear) -> tuple[Tensor, Tensor | None]:
    """``(matrix (in, out), bias (out,) or None)`` with ``linear(x) = x @ matrix + bias``."""
    weight = linear.weight
    eye = torch.eye(linear.irreps_in.dim, dtype=weight.dtype, device=weight.device)
    if linear.bias_numel:
        bias = linear(eye.new_zeros(1, eye.shape[0]))[0]
        return linear(eye) - bias, bias
    return linear(eye), None


def _apply(dense: tuple[Tensor, Tensor | None], x: Tensor) -> Tensor:
    matrix, bias = dense
    return x @ matrix if bias is None else torch.addmm(bias, x, matrix)


class DenseScalars:
    """A no-autograd snapshot of ``model.node_scalars`` (see the module docstring)."""

    def __init__(self, model: EquivariantDynamics):
        self.model = model
        self.parameters = list(model.parameters())  # listed once: walking e3nn's module tree costs 0.1 ms a call
        self.version = _version(self.parameters)
        self.scalar_parts = [part for (_, ir), part in zip(model.irreps_hidden, model.irreps_hidden.slices(), strict=True) if ir == o3.Irrep("0e")]
        with torch.no_grad(), torch.inference_mode(False):  # plain tensors: usable whatever the caller's mode
            self.embedding = _dense(model.embedding.linear)
            self.blocks = [(_dense(b.linear_in), _dense(b.linear_out), _dense(b.self_connection)) for b in model.blocks]
            self.last = _ScalarBlock(model.blocks[-1], *self.blocks[-1], self.scalar_parts)

    @classmethod
    def of(cls, model: EquivariantDynamics, cached: DenseScalars | None) -> DenseScalars:
        """``cached`` if it was made from ``model`` with its current parameters, else a new snapshot."""
        if cached is not None and cached.model is model and cached.version == _version(cached.parameters):
            return cached
        return cls(model)

    def usable(self, batch: GraphTensors) -> bool:
        """No gradients wanted, and one edge slice (``InteractionBlock``'s chunking does not apply)."""
        return not torch.is_grad_enabled() and batch.near_index.shape[1] <= EDGE_CHUNK and batch.bond_index.shape[1] <= EDGE_CHUNK

    def __call__(self, batch: GraphTensors) -> Tensor:
        """(N, channels): ``model.node_scalars(batch)`` to round-off."""
        model = self.model
        model.check_inputs(batch)
        edge_index, edge_sh, edge_basis, edge_envelope = model._edge_features(batch)
        src, dst = edge_index[0], edge_index[1]
        types = model.element_types(batch.atom[keys.ATOMIC_NUMBERS])
        x = _apply(self.embedding, model.embedding.attributes(types, batch.atom[keys.VEL] / model.velocity_scale))
        for block, (linear_in, linear_out, self_connection) in zip(model.blocks[:-1], self.blocks[:-1], strict=True):
            messages = block._messages(_apply(linear_in, x), src, edge_sh, edge_basis, edge_envelope)
            aggregated = scatter_sum(messages, dst, x.shape[0]) / block.avg_num_neighbors
            out = block.gate(_apply(linear_out, aggregated) + _apply(self_connection, x))
            x = (out + x) * _RESIDUAL_NORM if block.resnet else out  # no conditioning: the identity
        return self.last(x, src, dst, edge_sh, edge_basis, edge_envelope)


def _radial(net, columns: Tensor | None = None) -> list[tuple[Tensor, object, float]]:
    """e3nn ``FullyConnectedNet`` layers as ``(scaled weight, activation or None, output factor)``
    (its ``_Layer.forward`` divides the weight on every call); ``columns`` keeps those outputs only."""
    layers = list(net.children())
    out = []
    for k, layer in enumerate(layers):
        if layer.act is not None:
            weight, factor = layer.weight / (layer.h_in * layer.var_in) ** 0.5, layer.var_out**0.5
        else:
            weight, factor = layer.weight / (layer.h_in * layer.var_in / layer.var_out) ** 0.5, 1.0
        if columns is not None and k == len(layers) - 1:
            weight = weight[:, columns]
        out.append((weight, layer.act, factor))
    return out


def _apply_radial(layers: list[tuple[Tensor, object, float]], x: Tensor) -> Tensor:
    for weight, act, factor in layers:
        x = x @ weight
        if act is not None:
            x = act(x)
        if factor != 1.0:
            x = x * factor
    return x


class _ScalarBlock:
    """The last interaction block, its 0e outputs only (all ``node_scalars`` reads): the tensor
    product's paths into 0e (``uvu``, ``path_weight x wigner_3j(l1, l2, 0)``), the radial weights of
    those paths, the rows and columns of the linear layers that reach the gate's scalars, and the
    gate's scalar activation; the 1o paths and the gated irreps are not computed."""

    def __init__(self, block, linear_in, linear_out, self_connection, scalar_parts):
        tp = block.tensor_product
        offsets = [0]
        for ins in tp.instructions:
            offsets.append(offsets[-1] + (math.prod(ins.path_shape) if ins.has_weight else 0))
        self.paths, weight_columns, mid_columns = [], [], []
        for k, ins in enumerate(tp.instructions):
            if tp.irreps_out[ins.i_out].ir != o3.Irrep("0e"):
                continue
            (mul1, ir1), (mul2, ir2) = tp.irreps_in1[ins.i_in1], tp.irreps_in2[ins.i_in2]
            if ins.connection_mode != "uvu" or mul2 != 1 or not ins.has_weight:
                raise ValueError(f"_ScalarBlock: path {ins} is not a weighted uvu path with one edge harmonic")
            coupling = ins.path_weight * o3.wigner_3j(ir1.l, ir2.l, 0, dtype=linear_in[0].dtype)[..., 0]  # (d1, d2)
            self.paths.append((tp.irreps_in1.slices()[ins.i_in1], mul1, ir1.dim, tp.irreps_in2.slices()[ins.i_in2], coupling.T.contiguous()))
            weight_columns += range(offsets[k], offsets[k] + mul1)
            mid_columns += range(*tp.irreps_out.slices()[ins.i_out].indices(tp.irreps_out.dim))
        self.block, self.linear_in = block, linear_in
        self.radial = _radial(block.radial, torch.tensor(weight_columns))
        gate = block.gate.gate  # e3nn's Gate: scalars, gates and gated irreps cut from its input, scalars first out
        position = torch.arange(gate.irreps_in.dim, dtype=linear_in[0].dtype)[None]
        scalar_in = gate.sc(position)[0][0].round().long()  # the gate's input columns holding the scalars
        self.act_scalars = gate.act_scalars
        rows = torch.tensor(mid_columns)
        self.linear_out = (linear_out[0][rows][:, scalar_in], None if linear_out[1] is None else linear_out[1][scalar_in])
        self.self_connection = (self_connection[0][:, scalar_in], None if self_connection[1] is None else self_connection[1][scalar_in])
        if any(part.stop > gate.irreps_scalars.dim for part in scalar_parts):
            raise ValueError("_ScalarBlock: the 0e outputs are not all among the gate's scalars")
        self.scalar_parts = scalar_parts

    def __call__(self, x, src, dst, edge_sh, edge_basis, edge_envelope) -> Tensor:
        block = self.block
        sender = _apply(self.linear_in, x).index_select(0, src)
        weights = _apply_radial(self.radial, edge_basis) * edge_envelope.unsqueeze(-1)
        paths, start = [], 0
        for part_in, mul, dim, part_sh, coupling in self.paths:
            projected = (edge_sh[:, part_sh] @ coupling)[:, None, :]  # (E, 1, d1): sum_j C_ij sh_j
            coupled = (sender[:, part_in].reshape(-1, mul, dim) * projected).sum(-1)
            paths.append(coupled * weights[:, start : start + mul])
            start += mul
        aggregated = scatter_sum(torch.cat(paths, 1), dst, x.shape[0]) / block.avg_num_neighbors
        scalars = self.act_scalars(_apply(self.linear_out, aggregated) + _apply(self.self_connection, x))
        if block.resnet:
            return torch.cat([(scalars[:, part] + x[:, part]) * _RESIDUAL_NORM for part in self.scalar_parts], dim=1)
        return torch.cat([scalars[:, part] for part in self.scalar_parts], dim=1)


def _version(parameters: list[Tensor]) -> tuple[int, ...]:
    return tuple(p._version for p in parameters)
