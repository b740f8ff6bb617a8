"""Conditioning straight from lag covariances (the head's no-autograd path) against its definitions."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.gp import SpectralGPHead, exact_condition
from chemnoether.gp.head import _block_toeplitz_index, _gather_blocks, _toeplitz_blocks
from chemnoether.gp.lagged import (
    _aliased_factor_works,
    cross_right_hand_side,
    factor_in_place,
    factor_order,
    lagged_condition,
    toeplitz_covariance,
)

F64 = torch.float64


def lag_table(batch: int, size: int, lags: int, seed: int = 0) -> torch.Tensor:
    """(B, S, S, L) lag covariances of an LMC of spectral-mixture kernels: a valid covariance at every lag."""
    g = torch.Generator().manual_seed(seed)
    tau = torch.arange(lags, dtype=F64) * 2.0
    mu, sigma = 0.03 + 0.08 * torch.rand(batch, size, 1, generator=g, dtype=F64), 0.003 + 0.01 * torch.rand(batch, size, 1, generator=g, dtype=F64)
    kernels = torch.exp(-2 * torch.pi**2 * sigma**2 * tau**2) * torch.cos(2 * torch.pi * mu * tau)  # (B, S, L)
    mixing = torch.randn(batch, size, size, generator=g, dtype=F64) * 0.3 + torch.eye(size, dtype=F64)
    return torch.matmul(mixing[:, :, None, :] * mixing[:, None, :, :], kernels[:, None])


@pytest.mark.parametrize(("size", "order"), [(3, None), (4, 4 * 6 + 8)], ids=["plain", "padded"])
def test_toeplitz_covariance_and_right_hand_side_equal_their_definitions(size, order):
    frames, horizon, batch = 6, 3, 2
    lagged = lag_table(batch, size, frames + horizon)
    noise = torch.rand(batch, size, generator=torch.Generator().manual_seed(1), dtype=F64)
    rows = size * frames
    expected = _toeplitz_blocks(lagged, frames)
    expected.diagonal(dim1=-2, dim2=-1).add_(noise[:, :, None].expand(-1, -1, frames).flatten(1))
    got = toeplitz_covariance(lagged, noise, frames, order)
    assert torch.equal(got[:, :rows, :rows], expected)  # the same values, rounded the same way
    if order is not None:
        assert torch.equal(got[:, rows:, :], torch.eye(order, dtype=F64)[rows:].expand(batch, -1, -1))
        assert torch.equal(got[:, :rows, rows:], torch.zeros(batch, rows, order - rows, dtype=F64))
    targets = torch.randn(batch, rows, 3, dtype=F64)
    new = torch.arange(frames, frames + horizon)
    cross = _gather_blocks(lagged, _block_toeplitz_index(size, lagged.shape[-1], new, torch.arange(frames))).reshape(batch, size * horizon, rows)
    rhs = cross_right_hand_side(lagged, targets, frames, frames, horizon, order)
    assert torch.equal(rhs[:, :rows], torch.cat([targets, cross.transpose(-1, -2)], -1))
    assert not rhs[:, rows:].any()
    one = cross_right_hand_side(lagged, targets, frames, frames + 2, 1)  # a single later frame (evolving densities)
    assert torch.equal(one[..., 3:], rhs[:, :rows, 3:].unflatten(-1, (size, horizon))[..., 2])


@pytest.mark.parametrize("size", [3, 16], ids=["small", "slow-order"])  # 16 atoms x 32 frames: 512 rows, padded to 520
def test_lagged_condition_equals_exact_condition(size):
    frames, horizon, batch = (8, 3, 2) if size == 3 else (32, 4, 1)
    lagged = lag_table(batch, size, frames + horizon, seed=size)
    noise = 0.01 + 0.1 * torch.rand(batch, size, generator=torch.Generator().manual_seed(2), dtype=F64)
    targets = torch.randn(batch, size * frames, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    prior = lagged[:, torch.arange(size), torch.arange(size), 0][:, :, None].expand(-1, -1, horizon).flatten(1)
    count = torch.full((batch,), size * frames)
    cov = _toeplitz_blocks(lagged, frames)
    cov.diagonal(dim1=-2, dim2=-1).add_(noise[:, :, None].expand(-1, -1, frames).flatten(1))
    new = torch.arange(frames, frames + horizon)
    cross = _gather_blocks(lagged, _block_toeplitz_index(size, lagged.shape[-1], new, torch.arange(frames))).reshape(batch, size * horizon, -1)
    expected = exact_condition(cov, targets, cross, prior, count)
    got = lagged_condition(lagged, noise, targets, prior, count, frames, frames, horizon)
    torch.testing.assert_close(got.mean, expected.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(got.var, expected.var, rtol=1e-10, atol=0)
    torch.testing.assert_close(got.log_marginal_likelihood, expected.log_marginal_likelihood, rtol=1e-12, atol=0)


def test_a_matrix_that_is_not_positive_definite_is_left_to_the_general_path():
    lagged = lag_table(1, 3, 9)
    lagged[0, 0, 1, 0] = lagged[0, 1, 0, 0] = 10.0  # a covariance of 10 between two unit-variance processes
    noise = torch.full((1, 3), 1e-3, dtype=F64)
    assert lagged_condition(lagged, noise, torch.zeros(1, 18, 3, dtype=F64), torch.ones(1, 9, dtype=F64), torch.tensor([18]), 6, 6, 3) is None


def spd(batch: int, order: int, seed: int) -> torch.Tensor:
    a = torch.randn(batch, order, order + 10, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return a @ a.transpose(-1, -2) + torch.eye(order, dtype=F64)


@pytest.mark.parametrize("layout", ["contiguous", "transposed view"])
def test_factor_in_place_is_the_cholesky_factor(layout):
    """What makes L the Cholesky factor: lower triangular, positive diagonal, L L^T = A (unique).
    A transposed view (not contiguous) takes the copying route and must give the same."""
    matrix = spd(2, 30, 4)
    given = matrix.clone() if layout == "contiguous" else matrix.clone().transpose(-1, -2)
    factor, info = factor_in_place(given)
    assert info.tolist() == [0, 0]
    assert torch.equal(factor, factor.tril())
    assert bool((factor.diagonal(dim1=-2, dim2=-1) > 0).all())
    torch.testing.assert_close(factor @ factor.transpose(-1, -2), matrix, rtol=0, atol=1e-10)
    assert float((factor - torch.eye(30, dtype=F64)).abs().max()) > 1.0  # not the identity: the check has teeth


def test_factor_in_place_reports_the_matrices_that_are_not_positive_definite():
    bad = spd(3, 20, 5)
    bad[1, 5, 5] = -1.0
    _, info = factor_in_place(bad)
    assert info[0] == 0 and info[1] == 6 and info[2] == 0  # LAPACK's order of the failing leading minor, 1-based


def test_factor_in_place_uses_the_matrix_memory_where_torch_allows_it():
    """The reason ``factor_in_place`` exists: no copy of the matrix. Skipped (not passed) on a torch
    that does not factor an output aliased to its input; there the copying call serves."""
    if not _aliased_factor_works():
        pytest.skip("this torch does not factor cholesky_ex(A.mT, out=(A.mT, info)) in place: the copying route is used")
    matrix = spd(2, 24, 6)
    factor, _ = factor_in_place(matrix)
    assert factor.data_ptr() == matrix.data_ptr()
    torch.testing.assert_close(factor, torch.linalg.cholesky(spd(2, 24, 6)), rtol=0, atol=1e-12)


def test_factor_order_avoids_multiples_of_16():
    assert [factor_order(r) for r in (24, 32, 384, 448, 512, 672, 17)] == [24, 40, 392, 456, 520, 680, 24]


def test_the_head_forecasts_alike_with_and_without_autograd():
    """Without autograd (CPU) the head conditions through ``lagged_condition``; with it, through the
    general path: the same forecast to round-off, for one graph and a padded batch of two."""
    torch.manual_seed(0)
    head = SpectralGPHead(5, edge_features=1, num_components=2, hidden=16).double()
    g = torch.Generator().manual_seed(5)
    n, frames = 7, 12
    features = torch.randn(n, 5, generator=g, dtype=F64)
    window = torch.randn(n, frames, 3, generator=g, dtype=F64) * 0.01
    edges = torch.tensor([[0, 1, 1, 2, 4, 5], [1, 0, 2, 1, 5, 6]])
    edge_features = torch.rand(6, 1, generator=g, dtype=F64)
    for graph in (torch.zeros(n, dtype=torch.long), torch.tensor([0, 0, 0, 0, 1, 1, 1])):
        kwargs = {"edge_index": edges, "edge_features": edge_features, "atom_graph": graph}
        general = head(features, window, 2.0, 3, **kwargs)
        with torch.no_grad():
            fast = head(features, window, 2.0, 3, **kwargs)
        torch.testing.assert_close(fast.mean, general.mean.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(fast.var, general.var.detach(), rtol=1e-10, atol=0)
        torch.testing.assert_close(fast.log_marginal_likelihood, general.log_marginal_likelihood.detach(), rtol=1e-12, atol=0)
