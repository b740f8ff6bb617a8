"""g_phi is invariant to rotations with parity, translations and atom permutations; pools are finite."""

from dataclasses import replace

import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.nn.testing import (
    float64_default,
    permute_batch,
    random_orthogonal,
    rotate_batch,
    translate_batch,
)
from chemnoether.noether import NoetherEmbedding
from chemnoether.noether.embeddings import _pool_groups

from .conftest import HCO, batch_of, graphs_of


@pytest.fixture(scope="module")
def mixed(ethanol, toluene):
    """Two ethanols and a toluene (one ring, some subgraphs) in one batch."""
    return batch_of(graphs_of(ethanol, [0, 30]) + graphs_of(toluene, [5]))


def embedding(**options):
    torch.manual_seed(0)
    with float64_default():
        return NoetherEmbedding(HCO, k=5, hidden=8, layers=2, **options).double()


@pytest.mark.parametrize("edges", ["near", "both"])
def test_invariant_under_rotation_parity_translation_permutation(mixed, edges):
    g = embedding(edges=edges)
    assert int(mixed.num_rings.sum()) > 0 and int(mixed.num_subgraphs.sum()) > 0
    base = g(mixed)
    assert base.shape == (3, 5)
    torch.manual_seed(1)
    matrix = random_orthogonal(torch.float64, parity=True)
    assert torch.det(matrix) < 0  # a reflection is included
    torch.testing.assert_close(g(rotate_batch(mixed, matrix)), base, atol=1e-10, rtol=0)
    torch.testing.assert_close(g(translate_batch(mixed, 10 * torch.randn(3))), base, atol=1e-10, rtol=0)
    permutation = torch.randperm(mixed.atom_graph.shape[0])
    torch.testing.assert_close(g(permute_batch(mixed, permutation)), base, atol=1e-10, rtol=0)


def test_sees_velocities_and_positions(mixed):
    g = embedding()
    base = g(mixed)
    faster = {**mixed.atom, "vel": 1.5 * mixed.atom["vel"]}
    moved = {**mixed.atom, "pos": mixed.atom["pos"] * 1.05}
    assert (g(replace(mixed, atom=faster)) - base).abs().max() > 1e-6
    assert (g(replace(mixed, atom=moved)) - base).abs().max() > 1e-6


def test_graphs_without_rings_pool_to_finite_values(ethanol):
    batch = batch_of(graphs_of(ethanol, [0, 30]))
    assert int(batch.num_rings.sum()) == 0
    g = embedding()
    out = g(batch)
    assert torch.isfinite(out).all()
    h = g.atom_features(batch)
    rings = _pool_groups(h, batch.ring_incidence, batch.ring_graph, batch.num_graphs)
    assert torch.equal(rings, torch.zeros_like(rings))


def test_each_graph_independent_of_its_batch(ethanol, toluene):
    graphs = graphs_of(ethanol, [0]) + graphs_of(toluene, [5])
    g = embedding()
    together = g(batch_of(graphs))
    for i, graph in enumerate(graphs):
        torch.testing.assert_close(g(batch_of([graph]))[0], together[i], atol=1e-12, rtol=0)


@pytest.mark.parametrize("options", [{"k": 0}, {"hidden": -1}, {"layers": 0}, {"edges": "all"}, {"cutoff": 0.0}])
def test_bad_options(options):
    with pytest.raises(ConfigError):
        NoetherEmbedding(HCO, **options)
