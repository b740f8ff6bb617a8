"""Evolving spectral densities in the GP head (``SpectralGPHead(evolve=True)``): the parameters move
with the state, the identity start reproduces the stationary head, and the head stays equivariant."""

import itertools

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.errors import ConfigError
from chemnoether.gp import SpectralGPHead
from tests.gp.test_head import FEATURES, distances, run, system, transformed_runs

F64 = torch.float64


def make_heads(method="exact", graph_components=1):
    """A non-evolving head and an evolving one sharing its weights; F's last layer perturbed (not the identity)."""
    options = {"edge_features": 1, "num_components": 2, "graph_components": graph_components, "method": method, "rff_features": 8, "hidden": 16}
    torch.manual_seed(0)
    plain = SpectralGPHead(FEATURES, **options).double()
    torch.manual_seed(0)
    evolving = SpectralGPHead(FEATURES, evolve=True, **options).double()
    evolving.load_state_dict(plain.state_dict(), strict=False)
    return plain, evolving


def perturb(head, scale=0.3, seed=5):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for evolution in (head.node_evolution, head.graph_evolution):
            if evolution is not None:
                last = evolution.net[-1]
                last.weight.copy_(scale * torch.randn(last.weight.shape, generator=g, dtype=F64))
                last.bias.copy_(scale * torch.randn(last.bias.shape, generator=g, dtype=F64))


def test_parameters_advance_each_step_and_depend_on_the_state():
    _, head = make_heads()
    perturb(head)
    features, _, _ = system(5)
    graph = torch.zeros(5, dtype=torch.long)
    with torch.no_grad():
        steps = head.evolved_mixtures(features, graph, 1, steps=3)
    assert len(steps) == 4
    for before, after in itertools.pairwise(steps):
        moved = max(float((a - b).abs().max()) for a, b in zip(before._fields(), after._fields(), strict=True))
        assert moved > 1e-4  # theta_{t+1} != theta_t
    torch.testing.assert_close(steps[0].mu, head.mixtures(features, graph, 1).mu)  # step 0: the window's density
    # another state (the graph embedding g and theta_0 change) evolves differently: compare the increments
    other = features + 0.5 * torch.randn(features.shape, generator=torch.Generator().manual_seed(9), dtype=F64)
    moved = head.evolved_mixtures(other, graph, 1, steps=1)
    raw = head.node_density.raw(features)
    g_a, g_b = features.mean(0, keepdim=True), other.mean(0, keepdim=True)
    increment_a = head.node_evolution.step(raw, g_a, graph) - raw
    increment_b = head.node_evolution.step(raw, g_b, graph) - raw  # same theta, other state: another step
    assert float((increment_a - increment_b).detach().abs().max()) > 1e-4
    assert not torch.allclose(moved[1].mu - moved[0].mu, steps[1].mu - steps[0].mu, atol=1e-6)


@pytest.mark.parametrize("method", ["exact", "rff"])
def test_identity_start_reproduces_the_stationary_head(method):
    plain, evolving = make_heads(method)
    features, window, edges = system(5)
    a = run(plain, features, window, edges, horizon=3)
    b = run(evolving, features, window, edges, horizon=3)  # F's last layer zero, as built
    torch.testing.assert_close(b.mean, a.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(b.var, a.var, rtol=1e-9, atol=0)
    torch.testing.assert_close(b.var_latent, a.var_latent, rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(b.log_marginal_likelihood, a.log_marginal_likelihood)
    assert b.evolved is not None and len(b.evolved) == 3 and a.evolved is None
    perturb(evolving)
    c = run(evolving, features, window, edges, horizon=3)
    assert float((c.mean - a.mean).detach().abs().max()) > 1e-6  # the evolution changes the forecast...
    torch.testing.assert_close(c.log_marginal_likelihood, a.log_marginal_likelihood)  # ...not the window's likelihood
    c.mean.sum().backward()
    assert evolving.node_evolution.net[-1].weight.grad.abs().max() > 0  # and trains


@pytest.mark.parametrize("method", ["exact", "rff"])
def test_evolving_head_is_e3_and_permutation_equivariant(method):
    _, head = make_heads(method)
    perturb(head)
    features, window, edges = system(5)
    before, after, rotation, shift = transformed_runs(head, features, window, edges)
    torch.testing.assert_close(after.mean, before.mean @ rotation.T + shift, rtol=0, atol=1e-9)
    torch.testing.assert_close(after.var, before.var, rtol=1e-9, atol=0)
    assert not torch.allclose(before.mean, before.mean @ rotation.T, atol=1e-3)
    perm = torch.tensor([4, 2, 0, 1, 3])
    new_index = torch.empty_like(perm)
    new_index[perm] = torch.arange(5)
    permuted = head(features[perm], window[perm], 0.5, 3, edge_index=new_index[edges], edge_features=distances(window, edges))
    torch.testing.assert_close(permuted.mean, before.mean[perm])
    torch.testing.assert_close(permuted.var, before.var[perm])


def test_batched_evolution_equals_one_graph_at_a_time():
    _, head = make_heads()
    perturb(head)
    graphs = [system(3, seed=1), system(4, seed=2)]
    alone = [run(head, f, w, e) for f, w, e in graphs]
    edges = torch.cat([graphs[0][2], graphs[1][2] + 3], 1)
    batched = run(head, torch.cat([g[0] for g in graphs]), torch.cat([g[1] for g in graphs]), edges,
                  atom_graph=torch.tensor([0, 0, 0, 1, 1, 1, 1]))
    torch.testing.assert_close(batched.mean, torch.cat([a.mean for a in alone]), rtol=0, atol=1e-10)
    torch.testing.assert_close(batched.var, torch.cat([a.var for a in alone]), rtol=1e-9, atol=0)


def test_steps_need_evolve():
    plain, _ = make_heads()
    features, _, _ = system(3)
    with pytest.raises(ConfigError, match="evolve=False"):
        plain.evolved_mixtures(features, torch.zeros(3, dtype=torch.long), 1, steps=2)
