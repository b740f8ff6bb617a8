"""Conditioning straight from lag covariances (the head's no-autograd path) against its definitions."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.gp import SpectralGPHead, exact_condition
from chemnoether.gp._lapack import _dpotrf, factor_in_place
from chemnoether.gp.head import _block_toeplitz_index, _gather_blocks, _toeplitz_blocks
from chemnoether.gp.lagged import (
    cross_right_hand_side,
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


def _positive_definite(seed: int) -> torch.Tensor:
    a = torch.randn(2, 30, 40, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return a @ a.transpose(-1, -2) + torch.eye(30, dtype=F64)


def test_factor_in_place_is_the_cholesky_factor():
    matrix = _positive_definite(4)
    factor, info = factor_in_place(matrix.clone())
    assert info.tolist() == [0, 0]
    lower = factor.tril()
    # what a Cholesky factor is, checked directly (not against another library's rounding):
    # lower triangular with a positive diagonal, and L L^T gives the matrix back
    assert (lower.diagonal(dim1=-2, dim2=-1) > 0).all()
    scale = matrix.abs().max()
    torch.testing.assert_close(lower @ lower.transpose(-1, -2), matrix, rtol=0, atol=1e-12 * scale)
    # the factor is unique, so it agrees with torch's to round-off of a well-conditioned matrix
    torch.testing.assert_close(lower, torch.linalg.cholesky(matrix), rtol=0, atol=1e-10 * scale.sqrt())


def test_factor_in_place_reports_the_first_failing_minor():
    bad = _positive_definite(4)
    bad[1, 5, 5] = -1.0  # leading minors 1-5 stay positive definite; the 6th is not
    _, info = factor_in_place(bad)
    assert info.tolist() == [0, 6]


@pytest.mark.skipif(_dpotrf() is None, reason="no LP64 MKL dpotrf in this torch: factor_in_place copies like torch.linalg")
def test_factor_in_place_writes_into_the_given_matrix():
    matrix = _positive_definite(5)
    given = matrix.clone()
    factor, _ = factor_in_place(given)
    assert factor.data_ptr() == given.data_ptr()
    torch.testing.assert_close(given.tril(), torch.linalg.cholesky(matrix), rtol=0, atol=1e-10 * matrix.abs().max().sqrt())
    # only the lower triangle is the factor's: the strict upper one keeps the matrix's values
    upper = torch.ones(30, 30, dtype=torch.bool).triu(1)
    assert torch.equal(given[:, upper], matrix[:, upper])


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
