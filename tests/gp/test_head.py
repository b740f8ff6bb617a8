"""The spectral GP node head: E(3) and permutation equivariance, batching, guards, errors, losses."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.errors import ConfigError
from chemnoether.gp import (
    SpectralGPHead,
    WindowError,
    negative_log_marginal_likelihood,
    predictive_nll,
)

F64 = torch.float64
FEATURES = 6


def system(n: int, frames: int = 20, seed: int = 0, dt: float = 0.5):
    """Invariant features, a position window (N, T, 3) Å of a few oscillating atoms, all directed edges."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, FEATURES, generator=g, dtype=F64)
    base = torch.randn(n, 1, 3, generator=g, dtype=F64) * 1.5
    times = torch.arange(frames, dtype=F64)[None, :, None] * dt
    frequency = 0.03 + 0.08 * torch.rand(n, 1, 1, generator=g, dtype=F64)  # 1000-3700 cm^-1
    direction = torch.randn(n, 1, 3, generator=g, dtype=F64)
    window = base + 0.05 * direction * torch.sin(6.283 * frequency * times) + 0.002 * torch.randn(n, frames, 3, generator=g, dtype=F64)
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = src != dst
    return features, window, torch.stack([src[keep], dst[keep]])


def distances(window, edge_index):
    return (window[edge_index[1], 0] - window[edge_index[0], 0]).norm(dim=-1, keepdim=True)


def make_head(method="exact", **options):
    torch.manual_seed(0)
    return SpectralGPHead(FEATURES, edge_features=1, num_components=2, method=method, rff_features=8, hidden=16, **options).double()


def transformed_runs(head, features, window, edges):
    """``(forecast, forecast of the window rotated with parity and translated, rotation, shift)``."""
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=F64))[0]
    if torch.det(rotation) > 0:
        rotation = -rotation  # include parity
    shift = torch.tensor([3.0, -1.0, 7.5], dtype=F64)
    return run(head, features, window, edges), run(head, features, window @ rotation.T + shift, edges), rotation, shift


def run(head, features, window, edge_index, horizon=3, **kwargs):
    return head(features, window, kwargs.pop("dt", 0.5), horizon, edge_index=edge_index, edge_features=distances(window, edge_index), **kwargs)


@pytest.mark.parametrize("method", ["exact", "rff"])
def test_rotation_reflection_and_translation_move_the_mean_only(method):
    head = make_head(method)
    features, window, edges = system(5)
    before, after, rotation, shift = transformed_runs(head, features, window, edges)
    torch.testing.assert_close(after.mean, before.mean @ rotation.T + shift, rtol=0, atol=1e-9)
    torch.testing.assert_close(after.var, before.var, rtol=1e-9, atol=0)
    torch.testing.assert_close(after.log_marginal_likelihood, before.log_marginal_likelihood)
    assert not torch.allclose(before.mean, before.mean @ rotation.T, atol=1e-3)  # the check is not vacuous


def test_permuting_atoms_permutes_the_forecast():
    torch.manual_seed(0)
    head = SpectralGPHead(FEATURES, edge_features=1, context_sets=1, num_components=2, hidden=16).double()
    features, window, edges = system(6)
    rings = torch.tensor([[0, 1, 2, 2, 3], [0, 0, 0, 1, 1]])
    perm = torch.tensor([4, 2, 0, 5, 1, 3])
    new_index = torch.empty_like(perm)
    new_index[perm] = torch.arange(6)
    before = run(head, features, window, edges, incidences=[(rings, 2)])
    permuted_rings = torch.stack([new_index[rings[0]], rings[1]])
    after = run(head, features[perm], window[perm], new_index[edges], incidences=[(permuted_rings, 2)])
    torch.testing.assert_close(after.mean, before.mean[perm])
    torch.testing.assert_close(after.var, before.var[perm])
    torch.testing.assert_close(after.log_marginal_likelihood, before.log_marginal_likelihood)


@pytest.mark.parametrize("method", ["exact", "rff"])
def test_a_batch_equals_its_graphs_one_at_a_time(method):
    head = make_head(method)
    graphs = [system(3, seed=1), system(5, seed=2)]
    dts = [0.5, 0.25]
    alone = [run(head, f, w, e, dt=dt, graph_names=[f"g{i}"]) for i, ((f, w, e), dt) in enumerate(zip(graphs, dts, strict=True))]
    features = torch.cat([g[0] for g in graphs])
    window = torch.cat([g[1] for g in graphs])
    edges = torch.cat([graphs[0][2], graphs[1][2] + 3], 1)
    atom_graph = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    batched = run(head, features, window, edges, dt=torch.tensor(dts, dtype=F64), atom_graph=atom_graph)
    torch.testing.assert_close(batched.mean, torch.cat([a.mean for a in alone]), rtol=0, atol=1e-10)
    torch.testing.assert_close(batched.var, torch.cat([a.var for a in alone]), rtol=1e-9, atol=0)
    torch.testing.assert_close(batched.log_marginal_likelihood, torch.cat([a.log_marginal_likelihood for a in alone]))


def test_rff_path_approaches_the_exact_path():
    """Two atoms, one broad component each (sigma ~ 1000 cm^-1, a poorly conditioned 30-frame
    window), quantile eps: the largest mean error is 24%, 6%, 3% of the signal's RMS at D = 16,
    64, 256 frequency samples, the variance ratio within 21%, 7%, 2.5% of 1."""
    torch.manual_seed(0)
    exact = SpectralGPHead(FEATURES, num_components=1, graph_components=0, hidden=16).double()
    features, window, edges = system(2, frames=30, seed=3)
    with torch.no_grad():
        a = exact(features, window, 0.5, 4, edge_index=edges)
        errors = [_rff_error(exact, a, features, window, edges, d) for d in (16, 256)]
    assert errors[1][0] < 0.05 and errors[1][1] < 0.05
    assert errors[0][0] > 0.1  # fewer features are measurably worse: the comparison has teeth


def _rff_error(exact, a, features, window, edges, features_per_component):
    rff = SpectralGPHead(FEATURES, num_components=1, graph_components=0, hidden=16, method="rff", rff_features=features_per_component).double()
    rff.load_state_dict(exact.state_dict())
    b = rff(features, window, 0.5, 4, edge_index=edges)
    return float((a.mean - b.mean).abs().max() / a.scale[0]), float((a.var / b.var - 1).abs().max())


def test_forecast_follows_a_clean_oscillation_and_losses_train():
    head = make_head()
    features, window, edges = system(4, frames=40)
    forecast = run(head, features, window[:, :34], edges, horizon=6)
    assert forecast.mean.shape == (4, 6, 3) and forecast.var.shape == (4, 6) and forecast.var_components.shape == (4, 6, 3)
    assert bool((forecast.var > forecast.var_latent).all())  # noise included
    nll = predictive_nll(forecast, window[:, 34:])
    loss = negative_log_marginal_likelihood(forecast) + nll
    loss.backward()
    grads = [p.grad for p in head.parameters() if p.requires_grad]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().max()) > 0 for g in grads)
    # a few steps on the window's likelihood improve the forecast of the held-out frames
    optimiser = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(15):
        optimiser.zero_grad()
        negative_log_marginal_likelihood(run(head, features, window[:, :34], edges, horizon=6)).backward()
        optimiser.step()
    assert float(predictive_nll(run(head, features, window[:, :34], edges, horizon=6), window[:, 34:]).detach()) < float(nll.detach())


def test_the_mixture_weights_cannot_shrink_the_prior_variance():
    """The amplitude of each atom's prior is set by the prior-variance net (with its floor), not by
    alpha: collapsing every alpha to its floor leaves the forecast unchanged."""
    torch.manual_seed(0)
    head = SpectralGPHead(FEATURES, num_components=1, graph_components=0, hidden=16).double()
    features, window, edges = system(3)
    last = head.node_density.net[-1]
    with torch.no_grad():
        last.weight[:1].zero_()
        last.bias[:1] = 2.0
    before = head(features, window, 0.5, 3, edge_index=edges)
    with torch.no_grad():
        last.bias[:1] = -40.0  # alpha -> alpha_min
    after = head(features, window, 0.5, 3, edge_index=edges)
    torch.testing.assert_close(after.var, before.var)
    torch.testing.assert_close(after.mean, before.mean)
    with torch.no_grad():  # the prior-variance net driven to its floor: the variance stays above it
        head.self_net[-1].weight.zero_()
        head.self_net[-1].bias[1] = -60.0
        head.self_net[-1].bias[2] = -60.0
    floored = head(features, window, 0.5, 30, edge_index=edges)
    far = floored.var_latent[:, -1] / floored.scale[0] ** 2
    assert float(far.detach().min()) > 0.5 * head.prior_var_floor
    assert float((floored.var - floored.var_latent).detach().min()) >= head.noise_floor * float(floored.scale[0]) ** 2 * (1 - 1e-9)


def test_bad_windows_and_options_are_refused():
    head = make_head()
    features, window, edges = system(3)
    bad = window.clone()
    bad[1, 9] = float("nan")
    with pytest.raises(WindowError, match=r"benzene: frame 9 \(atom 1\)"):
        run(head, features, bad, edges, graph_names=["benzene"])
    with pytest.raises(WindowError, match=r"window of 20 frames at dt_fs=5 fs"):
        run(head, features, window, edges, dt=5.0)
    with pytest.raises(ConfigError, match="method"):
        SpectralGPHead(4, method="svgp")
    with pytest.raises(ConfigError, match="different graphs"):
        run(head, features, window, torch.tensor([[0], [2]]), atom_graph=torch.tensor([0, 0, 1]))
    with pytest.raises(ConfigError, match="non-decreasing"):
        run(head, features, window, edges, atom_graph=torch.tensor([1, 0, 1]))


def test_block_toeplitz_covariance_equals_the_dense_lmc_sum():
    """The lag-based build (``_lag_covariances`` + ``_gather_blocks``) against the definition,
    ``cov[(i, r), (j, t)] = sum_q a_iq a_jq K_q(rows_r dt - cols_t dt)``, at a step that is not a
    power of two, for the window's own block and for the forecast block (rows after the window)."""
    from chemnoether.gp.head import (
        _block_toeplitz_index,
        _gather_blocks,
        _lag_covariances,
        _toeplitz_blocks,
    )
    from chemnoether.gp.spectral import SpectralMixture

    g = torch.Generator().manual_seed(4)
    batch, size, q, frames, dt = 2, 4, 3, 7, torch.tensor([0.7, 1.3], dtype=F64)
    mixture = SpectralMixture(torch.rand(batch, size, q, generator=g, dtype=F64) + 0.1,
                              torch.rand(batch, size, q, generator=g, dtype=F64) * 0.1,
                              torch.rand(batch, size, q, generator=g, dtype=F64) * 0.02 + 0.005)
    mixing = torch.randn(batch, size, size, generator=g, dtype=F64)
    new = torch.tensor([7, 8, 9])
    obs = torch.arange(frames)
    lagged = _lag_covariances(mixture, mixing, dt, 10)
    for rows in (obs, new):
        built = _gather_blocks(lagged, _block_toeplitz_index(size, 10, rows, obs)).reshape(batch, size * len(rows), size * frames)
        t_rows, t_cols = rows[None, None, :] * dt[:, None, None], obs[None, None, :] * dt[:, None, None]
        kernels = mixture.kernel_matrix(t_rows.expand(batch, size, -1), t_cols.expand(batch, size, -1))  # (B, S, R, T)
        dense = torch.einsum("biq,bjq,bqrt->birjt", mixing, mixing, kernels).reshape(batch, size * len(rows), size * frames)
        torch.testing.assert_close(built, dense, rtol=1e-12, atol=1e-12)
        assert float(dense.abs().max()) > 0.1  # not vacuous
        if rows is obs:  # the window's own block, which the head builds from views
            torch.testing.assert_close(_toeplitz_blocks(lagged, frames), dense, rtol=1e-12, atol=1e-12)


def test_equal_sized_graphs_batch_without_padding_like_one_at_a_time():
    """Graphs of one size take the no-padding shortcut of ``_pad``: the batch must still equal its graphs."""
    head = make_head()
    graphs = [system(4, seed=5), system(4, seed=6)]
    alone = [run(head, f, w, e) for f, w, e in graphs]
    batched = run(head, torch.cat([g[0] for g in graphs]), torch.cat([g[1] for g in graphs]),
                  torch.cat([graphs[0][2], graphs[1][2] + 4], 1), atom_graph=torch.tensor([0] * 4 + [1] * 4))
    torch.testing.assert_close(batched.mean, torch.cat([a.mean for a in alone]), rtol=0, atol=1e-10)
    torch.testing.assert_close(batched.var, torch.cat([a.var for a in alone]), rtol=1e-9, atol=0)
    torch.testing.assert_close(batched.log_marginal_likelihood, torch.cat([a.log_marginal_likelihood for a in alone]))
