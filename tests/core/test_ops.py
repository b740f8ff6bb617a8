import pytest
import torch

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether.data import (
    edge_vectors,
    pool_atoms,
    pool_incidence,
    scatter_mean,
    scatter_sum,
)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def dense_scatter(src, index, dim_size, reduce):
    """Reference: one Python loop per output row."""
    rows = []
    for row in range(dim_size):
        members = [src[m] for m in range(len(index)) if index[m] == row]
        if not members:
            rows.append(torch.zeros_like(src[0]))
        elif reduce == "sum":
            rows.append(torch.stack(members).sum(0))
        else:
            rows.append(torch.stack(members).mean(0))
    return torch.stack(rows)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(12,), (12, 3), (12, 2, 4)])
def test_scatters_match_dense_loops(generator, dtype, shape):
    src = torch.randn(shape, generator=generator, dtype=dtype)
    index = torch.tensor([0, 2, 2, 4, 0, 0, 4, 2, 1, 4, 4, 2])  # row 3 and row 5 get nothing
    torch.testing.assert_close(scatter_sum(src, index, 6), dense_scatter(src, index, 6, "sum"))
    torch.testing.assert_close(scatter_mean(src, index, 6), dense_scatter(src, index, 6, "mean"))
    assert scatter_sum(src, index, 6).dtype == dtype


def test_scatter_sum_of_integers_and_empty_input():
    assert scatter_sum(torch.tensor([1, 2, 3]), torch.tensor([1, 1, 0]), 3).tolist() == [3, 3, 0]
    empty = scatter_sum(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 2)
    assert empty.shape == (2, 3) and not bool(empty.any())


def test_scatters_are_differentiable(generator):
    src = torch.randn(7, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 1, 1, 2, 0, 2, 2])
    assert torch.autograd.gradcheck(lambda x: scatter_mean(x, index, 4), (src,))
    assert torch.autograd.gradgradcheck(lambda x: scatter_sum(x, index, 4) ** 2, (src,))


def test_pool_atoms_and_incidence_match_loops(generator):
    values = torch.randn(5, 3, generator=generator)
    atom_graph = torch.tensor([0, 0, 1, 1, 1])
    torch.testing.assert_close(pool_atoms(values, atom_graph, 2), torch.stack([values[:2].sum(0), values[2:].sum(0)]))
    torch.testing.assert_close(
        pool_atoms(values, atom_graph, 2, reduce="mean"), torch.stack([values[:2].mean(0), values[2:].mean(0)])
    )
    # group 0 = atoms {0, 1, 2}, group 1 = atoms {2, 3}: atom 2 is in both
    incidence = torch.tensor([[0, 1, 2, 2, 3], [0, 0, 0, 1, 1]])
    expected = torch.stack([values[[0, 1, 2]].sum(0), values[[2, 3]].sum(0)])
    torch.testing.assert_close(pool_incidence(values, incidence, 2), expected)
    means = pool_incidence(values, incidence, 2, reduce="mean")
    torch.testing.assert_close(means, expected / torch.tensor([[3.0], [2.0]]))


def test_edge_vectors_point_from_source_to_destination():
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    edge_index = torch.tensor([[0, 1, 2], [1, 0, 0]])
    assert edge_vectors(pos, edge_index).tolist() == [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -2.0, 0.0]]
    shift = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert edge_vectors(pos, edge_index, shift)[0].tolist() == [1.0, 0.0, 5.0]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="reduce='max'"):
        pool_atoms(torch.ones(2), torch.zeros(2, dtype=torch.long), 1, reduce="max")
    with pytest.raises(ValueError, match="one entry per row"):
        scatter_sum(torch.ones(3), torch.zeros(2, dtype=torch.long), 1)
    with pytest.raises(TypeError, match="floating"):
        scatter_mean(torch.ones(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"\(2, num_edges\)"):
        edge_vectors(torch.zeros(3, 3), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(num_atoms, 3\)"):
        edge_vectors(torch.zeros(3, 2), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="shift must have shape"):
        edge_vectors(torch.zeros(3, 3), torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[atom, group\]"):
        pool_incidence(torch.zeros(3), torch.zeros(3, dtype=torch.long), 1)
