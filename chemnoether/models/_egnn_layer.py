"""``dgl.nn.EGNNConv``'s arithmetic on plain tensors, so the EGNN peer also runs where DGL cannot.

PyPI's DGL is built for CPU only; the EGNN peer on a GPU needs the same layer without a
DGLGraph. ``TorchEGNNConv`` has the same sub-modules (``edge_mlp``, ``node_mlp``, ``coord_mlp``)
and parameter names as ``EGNNConv(in, hidden, out)`` without edge features, so state dicts are
interchangeable, and computes the same thing with index operations: messages from
``[h_src, h_dst, |x_src - x_dst|^2]``, coordinates moved by the mean over in-edges of
``coord_mlp(m) * unit(x_src - x_dst)``, node features from the sum of messages
(``tests/models/test_egnn_backends.py`` checks the two against each other).
"""

from __future__ import annotations

import torch

from chemnoether.core.ops import scatter_mean, scatter_sum


class TorchEGNNConv(torch.nn.Module):
    """``forward(edge_index, h, x) -> (h', x')``, as ``EGNNConv(in_size, hidden_size, out_size)(graph, h, x)``."""

    def __init__(self, in_size: int, hidden_size: int, out_size: int):
        super().__init__()
        self.edge_mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * in_size + 1, hidden_size), torch.nn.SiLU(),
            torch.nn.Linear(hidden_size, hidden_size), torch.nn.SiLU(),
        )
        self.node_mlp = torch.nn.Sequential(
            torch.nn.Linear(in_size + hidden_size, hidden_size), torch.nn.SiLU(), torch.nn.Linear(hidden_size, out_size)
        )
        self.coord_mlp = torch.nn.Sequential(
            torch.nn.Linear(hidden_size, hidden_size), torch.nn.SiLU(), torch.nn.Linear(hidden_size, 1, bias=False)
        )

    def forward(self, edge_index: torch.Tensor, h: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return egnn_conv(self, edge_index, h, x)


def egnn_conv(conv: torch.nn.Module, edge_index: torch.Tensor, h: torch.Tensor, x: torch.Tensor):
    """One EGNN layer with the MLPs of ``conv`` (a ``TorchEGNNConv`` or a ``dgl.nn.EGNNConv``)."""
    src, dst = edge_index[0], edge_index[1]
    diff = x.index_select(0, src) - x.index_select(0, dst)
    radial = diff.square().sum(dim=1, keepdim=True)
    unit = diff / (radial.sqrt() + 1e-30)  # EGNNConv's guard, kept so the two agree to the last digit
    messages = conv.edge_mlp(torch.cat([h.index_select(0, src), h.index_select(0, dst), radial], dim=1))
    moves = conv.coord_mlp(messages) * unit
    n = h.shape[0]
    h_out = conv.node_mlp(torch.cat([h, scatter_sum(messages, dst, n)], dim=1))
    return h_out, x + scatter_mean(moves, dst, n)
