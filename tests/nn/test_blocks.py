"""Equivariance (rotation with parity, permutation) of every block, in float64, and irreps checks."""

import pytest
import torch
from e3nn import o3
from e3nn.util.test import assert_equivariant

from chemnoether.errors import ConfigError
from chemnoether.nn import (
    BlockCondition,
    ConditionalAffine,
    InteractionBlock,
    IrrepsGate,
    NodeEmbedding,
)
from chemnoether.nn.testing import random_orthogonal

HIDDEN = {1: o3.Irreps("4x0e+4x1o"), 2: o3.Irreps("4x0e+4x1o+4x2e")}


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(previous)


def random_graph(num_atoms=7, num_edges=20):
    src = torch.randint(num_atoms, (num_edges,))
    dst = (src + torch.randint(1, num_atoms, (num_edges,))) % num_atoms  # no self loops
    return torch.stack([src, dst])


def edge_inputs(pos, edge_index, l_max, num_basis=8, cutoff=3.0):
    from chemnoether.nn import BesselBasis, PolynomialCutoff

    vectors = pos[edge_index[1]] - pos[edge_index[0]]
    lengths = vectors.norm(dim=1)
    sh = o3.spherical_harmonics(list(range(l_max + 1)), vectors, normalize=True, normalization="component")
    return sh, BesselBasis(cutoff, num_basis)(lengths), PolynomialCutoff(cutoff)(lengths)


@pytest.mark.parametrize("l_max", [1, 2])
def test_interaction_block_is_o3_equivariant(l_max):
    irreps = HIDDEN[l_max]
    block = InteractionBlock(irreps, irreps, o3.Irreps.spherical_harmonics(l_max), avg_num_neighbors=3.0)
    edge_index = random_graph()
    pos = 2 * torch.randn(7, 3)

    def run(x, pos):
        return block(x, edge_index, *edge_inputs(pos, edge_index, l_max))

    # e3nn's check: random rotation with parity, and translation of the positions
    assert_equivariant(run, [irreps.randn(7, -1), pos], irreps_in=[irreps, "cartesian_points"], irreps_out=[irreps])


@pytest.mark.parametrize("l_max", [1, 2])
def test_interaction_block_is_permutation_equivariant(l_max):
    irreps = HIDDEN[l_max]
    block = InteractionBlock(irreps, irreps, o3.Irreps.spherical_harmonics(l_max), avg_num_neighbors=3.0)
    edge_index, pos, x = random_graph(), 2 * torch.randn(7, 3), irreps.randn(7, -1)
    out = block(x, edge_index, *edge_inputs(pos, edge_index, l_max))
    perm = torch.randperm(7)
    new_id = torch.empty_like(perm)
    new_id[perm] = torch.arange(7)
    moved = new_id[edge_index]
    out_perm = block(x[perm], moved, *edge_inputs(pos[perm], moved, l_max))
    torch.testing.assert_close(out_perm, out[perm], atol=1e-12, rtol=0)


def test_edges_beyond_the_cutoff_send_nothing():
    irreps = HIDDEN[1]
    block = InteractionBlock(irreps, irreps, o3.Irreps.spherical_harmonics(1))
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 3.5], [0.0, 1.0, 0.0]])
    x = irreps.randn(3, -1)
    far = torch.tensor([[1], [0]])  # 3.5 Å > cutoff 3 Å
    none = torch.zeros(2, 0, dtype=torch.long)
    torch.testing.assert_close(block(x, far, *edge_inputs(pos, far, 1)), block(x, none, *edge_inputs(pos, none, 1)))


def test_gate_and_embedding_are_equivariant():
    gate = IrrepsGate("2x0o+3x0e+2x1o+1x2e")
    assert gate.irreps_out == o3.Irreps("2x0o+3x0e+2x1o+1x2e")
    assert_equivariant(gate)
    embedding = NodeEmbedding(3, HIDDEN[2], velocity_lmax=2)
    types = torch.tensor([0, 2, 1, 1])
    assert_equivariant(lambda v: embedding(types, v), [torch.randn(4, 3)], irreps_in=["cartesian_points"], irreps_out=[HIDDEN[2]], do_translation=False)


def test_conditional_affine_identity_and_equivariance():
    irreps = o3.Irreps("2x0e+1x0o+2x1o")
    affine = ConditionalAffine(irreps)
    assert (affine.num_scales, affine.num_shifts) == (5, 2)
    x, graph = irreps.randn(5, -1), torch.tensor([0, 0, 1, 1, 1])
    assert affine(x) is x
    ones = BlockCondition(scale=torch.ones(2, 5), shift=torch.zeros(2, 2))
    torch.testing.assert_close(affine(x, graph, ones), x)
    condition = BlockCondition(scale=torch.randn(2, 5), shift=torch.randn(2, 2))
    out = affine(x, graph, condition)
    # channel 0e #1 of atom 3 (graph 1): scaled, then shifted
    assert torch.isclose(out[3, 1], x[3, 1] * condition.scale[1, 1] + condition.shift[1, 1])
    # the 0o channel gets no shift; vectors are scaled as a whole
    assert torch.isclose(out[3, 2], x[3, 2] * condition.scale[1, 2])
    torch.testing.assert_close(out[3, 3:6], x[3, 3:6] * condition.scale[1, 3])
    assert_equivariant(lambda x: affine(x, graph, condition), [x], irreps_in=[irreps], irreps_out=[irreps])


def test_block_condition_rotates_with_the_output():
    irreps = HIDDEN[1]
    block = InteractionBlock(irreps, irreps, o3.Irreps.spherical_harmonics(1))
    edge_index, pos, x = random_graph(), torch.randn(7, 3), irreps.randn(7, -1)
    graph = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    condition = BlockCondition(scale=torch.randn(2, 8), shift=torch.randn(2, 4))
    plain = block(x, edge_index, *edge_inputs(pos, edge_index, 1))
    out = block(x, edge_index, *edge_inputs(pos, edge_index, 1), atom_graph=graph, condition=condition)
    assert not torch.allclose(out, plain)
    matrix = random_orthogonal()
    D = irreps.D_from_matrix(matrix)
    rotated = block(x @ D.T, edge_index, *edge_inputs(pos @ matrix.T, edge_index, 1), atom_graph=graph, condition=condition)
    torch.testing.assert_close(rotated, out @ D.T, atol=1e-12, rtol=0)


def test_precise_errors():
    with pytest.raises(ValueError, match="sorted and simplified"):
        IrrepsGate("1x1o+2x0e")
    with pytest.raises(ValueError, match="no tensor-product path"):
        InteractionBlock("2x1e", "2x1o", "1x0e")
    with pytest.raises(ConfigError, match="avg_num_neighbors"):
        InteractionBlock(HIDDEN[1], HIDDEN[1], "1x0e+1x1o", avg_num_neighbors=0)
    block = InteractionBlock(HIDDEN[1], HIDDEN[1], "1x0e+1x1o")
    with pytest.raises(ValueError, match=r"shape \(num_atoms, 16\)"):
        block(torch.zeros(3, 5), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 4), torch.zeros(0, 8), torch.zeros(0))
    affine = ConditionalAffine(HIDDEN[1])
    with pytest.raises(ValueError, match=r"\(num_graphs, 8\)"):
        affine(HIDDEN[1].randn(2, -1), torch.zeros(2, dtype=torch.long), BlockCondition(scale=torch.ones(1, 3)))
    with pytest.raises(ValueError, match="atom_graph"):
        affine(HIDDEN[1].randn(2, -1), None, BlockCondition(scale=torch.ones(1, 8)))
