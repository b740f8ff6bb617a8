"""Message-passing primitives on plain tensors: edge vectors, scatters and pooling.

They take the index tensors of a ``GraphTensors`` batch and run unchanged on CPU and on any CUDA
torch, because PyPI's DGL has no CUDA build (``docs/design.md`` section 3). Scatters use ``index_add``,
which torch ships everywhere, so nothing depends on ``torch_scatter``. On CUDA ``index_add``
adds with atomics, in no fixed order, unless ``torch.use_deterministic_algorithms(True)``.

Index values are not range-checked here: that would synchronise with the GPU on every call. On
CPU torch raises for an out-of-range index; on CUDA it is a device-side assertion.
"""

from __future__ import annotations

import torch

REDUCTIONS = ("sum", "mean")


def edge_vectors(pos: torch.Tensor, edge_index: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """(E, 3) vectors ``pos[dst] - pos[src] + shift``, Å, for ``edge_index`` (2, E) as ``[src, dst]``.

    ``shift`` (E, 3) is the periodic-image offset of ``near`` edges (``keys.EDGE_SHIFT``); bonds
    need none. The vector points from the sender to the receiver, where messages aggregate.
    """
    _check_edge_index(edge_index)
    if pos.dim() != 2 or pos.shape[1] != 3:
        raise ValueError(f"pos must have shape (num_atoms, 3), got {tuple(pos.shape)}")
    vectors = pos.index_select(0, edge_index[1]) - pos.index_select(0, edge_index[0])
    if shift is None:
        return vectors
    if shift.shape != vectors.shape:
        raise ValueError(f"shift must have shape {tuple(vectors.shape)} (one row per edge), got {tuple(shift.shape)}")
    return vectors + shift


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Sum the rows of ``src`` (M, ...) into ``dim_size`` rows: ``out[index[m]] += src[m]``.

    Rows no index points to are zero. Differentiable with respect to ``src``, to any order.
    """
    _check_index(src, index)
    out = src.new_zeros((dim_size, *src.shape[1:]))
    return out.index_add_(0, index, src)


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Mean of the rows of ``src`` (M, ...) sent to each of ``dim_size`` rows; zero where none is."""
    if not src.is_floating_point():
        raise TypeError(f"scatter_mean needs a floating tensor, got {src.dtype}; cast it first")
    sums = scatter_sum(src, index, dim_size)
    counts = scatter_sum(torch.ones_like(index, dtype=src.dtype), index, dim_size)
    # clamp: an empty group has sum 0 and should stay 0, not become 0/0
    return sums / counts.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))


def pool_atoms(values: torch.Tensor, atom_graph: torch.Tensor, num_graphs: int, reduce: str = "sum") -> torch.Tensor:
    """Per-graph ``reduce`` ("sum" or "mean") of per-atom ``values`` (N, ...): (num_graphs, ...)."""
    return _reduce(values, atom_graph, num_graphs, reduce)


def pool_incidence(
    atom_values: torch.Tensor, incidence: torch.Tensor, num_groups: int, reduce: str = "sum"
) -> torch.Tensor:
    """Per-group ``reduce`` of per-atom values over an incidence (2, P) of ``[atom, group]`` pairs.

    Groups are rings (``GraphTensors.ring_incidence``) or subgraphs. An atom in several groups
    (a fused atom of naphthalene) counts in each, which a per-atom group id could not express.
    Returns (num_groups, ...).
    """
    _check_edge_index(incidence, what="incidence", layout="[atom, group]")
    return _reduce(atom_values.index_select(0, incidence[0]), incidence[1], num_groups, reduce)


def _reduce(src: torch.Tensor, index: torch.Tensor, dim_size: int, reduce: str) -> torch.Tensor:
    if reduce == "sum":
        return scatter_sum(src, index, dim_size)
    if reduce == "mean":
        return scatter_mean(src, index, dim_size)
    raise ValueError(f"reduce={reduce!r} is not one of {REDUCTIONS}")


def _check_index(src: torch.Tensor, index: torch.Tensor) -> None:
    if index.dim() != 1 or src.dim() == 0 or index.shape[0] != src.shape[0]:
        raise ValueError(
            f"index must be 1-D with one entry per row of src: got index {tuple(index.shape)}, src {tuple(src.shape)}"
        )


def _check_edge_index(edge_index: torch.Tensor, what: str = "edge_index", layout: str = "[src, dst]") -> None:
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"{what} must have shape (2, num_edges) as {layout}, got {tuple(edge_index.shape)}")
