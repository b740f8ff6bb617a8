"""Exact GP conditioning straight from lag covariances, for forecasts without autograd (the head at test time).

The head's windows are evenly spaced frames and its kernels stationary, so every covariance it
needs is one of the lag covariances ``lagged[b, i, j, k] = cov(f_i(t + k dt), f_j(t))`` (B, S, S, L),
and the joint covariance is block Toeplitz. ``head._exact`` builds it with views, a flip and a
permuting copy, and ``conditioning.exact_condition`` then copies it twice more (a padding copy
at slow orders, ``cholesky_ex``'s own) and zeroes a triangle. Here, on the CPU, each matrix is
written once, padding included, into the buffer LAPACK factors in place:

* a Toeplitz matrix is a strided view with one negative stride (``[s, t] -> lag s - t``), which
  numpy allows and torch does not: one copy from a view of the (small) lag table;
* the noise joins the lag-0 entries before that copy (they are exactly the diagonal), so the
  diagonal holds ``K(0) + noise`` with the same single rounding as adding it afterwards;
* the right-hand side ``[y, K_xo^T]`` is written the same way (``K_xo^T[(j, t), (i, h)] =
  lagged[i, j, T + h - t]``);
* ``factor_in_place`` factors it where it lies, through ``torch.linalg.cholesky_ex`` (no copy).

The results equal ``exact_condition`` on the same problem to round-off (tests/gp/test_lagged.py).
A matrix LAPACK finds not positive definite returns None: the caller takes the general path,
whose jitter escalation handles it. With autograd (training) or on another device, the general
path is the one used.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from chemnoether.gp.conditioning import VARIANCE_FLOOR, Conditioned


def factor_order(rows: int) -> int:
    """The order a covariance of ``rows`` rows is factored at here: the next one of the form 16 k + 8.

    The head's orders are atoms x frames, multiples of 32 at the recipe's 32 frames, and LAPACK's
    lower Cholesky of a column-major matrix (what ``torch.linalg.cholesky_ex`` runs) is up to 2.5x
    slower at such strides (cache aliasing); 8 more rows (identity, zero targets: no result
    changes) avoid it (``benchmarks/cholesky_routes.py``). The padding costs nothing extra: the
    matrix is written once, padding included.
    """
    return rows + (8 - rows % 16) % 16


@functools.cache
def _aliased_factor_works() -> bool:
    """Whether ``cholesky_ex(A.mT, out=(A.mT, info))`` factors ``A`` where it lies and right. Torch
    documents ``out=`` but not an output that is also the input, so this is checked once, on a small
    matrix; where it fails, ``factor_in_place`` takes the copying call."""
    with torch.inference_mode(False):
        g = torch.Generator().manual_seed(0)
        a = torch.randn(1, 40, 45, generator=g, dtype=torch.float64)
        matrix = a @ a.mT + torch.eye(40, dtype=torch.float64)
        expected = torch.linalg.cholesky(matrix)
        try:
            factor, info = _factor_aliased(matrix.clone())
        except RuntimeError:  # a torch that refuses an output overlapping its input
            return False
        return not info.any() and torch.allclose(factor, expected, rtol=1e-12, atol=1e-12)


def _factor_aliased(matrix: Tensor) -> tuple[Tensor, Tensor]:
    # a C-contiguous symmetric matrix read column-major (``.mT``) is itself: LAPACK can factor it
    # in that buffer, and with the output the input, torch has nothing to copy first
    columns = matrix.mT
    info = torch.empty(matrix.shape[:-2], dtype=torch.int32)
    torch.linalg.cholesky_ex(columns, out=(columns, info))
    return columns, info


def factor_in_place(matrix: Tensor) -> tuple[Tensor, Tensor]:
    """``(L, info)`` of a batch (B, M, M) of symmetric float64 matrices, ``torch.linalg.cholesky_ex``'s:
    ``L`` the lower Cholesky factors (upper triangles zero), ``info`` (B,) 0 where positive
    definite, k > 0 where the leading minor of order k is not. On a contiguous CPU batch ``L`` is
    ``matrix``'s own memory, overwritten (column-major), instead of a copy of it."""
    if matrix.device.type == "cpu" and matrix.dtype == torch.float64 and matrix.is_contiguous() and _aliased_factor_works():
        return _factor_aliased(matrix)
    return torch.linalg.cholesky_ex(matrix)


def usable(lagged: Tensor) -> bool:
    """Whether ``lagged_condition`` can serve: float64 on the CPU, and no autograd to feed."""
    return lagged.device.type == "cpu" and lagged.dtype == torch.float64 and not (torch.is_grad_enabled() and lagged.requires_grad)


def toeplitz_covariance(lagged: Tensor, noise: Tensor, frames: int, order: int | None = None) -> Tensor:
    """(B, order, order): the covariance of frames 0..T-1, ``[(i, s), (j, t)] = lagged[i, j, |s - t|]``
    plus ``noise[i]`` (B, S) on the diagonal; rows beyond S T (``order``, default S T) are identity."""
    batch, size = lagged.shape[:2]
    rows = size * frames
    order = rows if order is None else order
    # [m] = lagged[|m - (T - 1)|], m = 0..2T-2, with the noise on the lag-0 entries of each atom's own pair
    symmetric = torch.cat([lagged[..., 1:frames].flip(-1), lagged[..., :frames]], -1).contiguous()
    symmetric.diagonal(dim1=1, dim2=2)[:, frames - 1] += noise
    width = 2 * frames - 1
    # [b, i, s, j, t] -> (i, j, T - 1 + s - t)
    source = _view(symmetric.numpy(), frames - 1, (batch, size, frames, size, frames), (size * size * width, size * width, 1, width, -1))
    out = torch.empty(batch, order, order, dtype=lagged.dtype)
    target = out.numpy()
    np.copyto(_blocks(target, size, frames, 0), source)
    if order > rows:
        target[:, rows:, :] = 0.0
        target[:, :rows, rows:] = 0.0
        target.reshape(batch, -1)[:, rows * (order + 1) :: order + 1] = 1.0  # the padding rows' diagonal
    return out


def cross_right_hand_side(lagged: Tensor, targets: Tensor, frames: int, first: int, horizon: int, order: int | None = None) -> Tensor:
    """(B, order, C + S H): ``[y, K_xo^T]`` with ``K_xo^T[(j, t), (i, h)] = lagged[i, j, first + h - t]``, the
    covariance of the observations (frames 0..T-1) with frames first..first+H-1 (``first >= T``);
    ``targets`` (B, S T, C); rows beyond S T zero."""
    batch, size, _, lags = lagged.shape
    if not frames <= first and first + horizon <= lags:
        raise ValueError(f"cross_right_hand_side: frames {first}..{first + horizon - 1} after {frames} observed need {first + horizon} lags, got {lags}")
    rows, columns = size * frames, targets.shape[-1]
    order = rows if order is None else order
    out = torch.empty(batch, order, columns + size * horizon, dtype=lagged.dtype)
    target = out.numpy()
    target[:, :rows, :columns] = targets.numpy()
    # [b, j, t, i, h] -> (i, j, first + h - t)
    source = _view(lagged.contiguous().numpy(), first, (batch, size, frames, size, horizon), (size * size * lags, lags, -1, size * lags, 1))
    np.copyto(_blocks(target, size, frames, columns, horizon), source)
    if order > rows:
        target[:, rows:, :] = 0.0
    return out


def _view(array: np.ndarray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """The view of a C-contiguous ``array`` with the given ``shape`` and element ``strides`` (negative
    ones allowed) from element ``offset``; numpy checks that it stays inside the array."""
    item = array.itemsize
    return np.ndarray(shape, array.dtype, buffer=array, offset=offset * item, strides=tuple(s * item for s in strides))


def _blocks(array: np.ndarray, size: int, frames: int, first_column: int, per_block: int | None = None) -> np.ndarray:
    """A writeable (B, S, T, S, W) view of rows 0..S T-1 and columns from ``first_column`` of a C-contiguous (B, R, K) array."""
    width = frames if per_block is None else per_block
    batch, rows, columns = array.shape
    return _view(array, first_column, (batch, size, frames, size, width), (rows * columns, frames * columns, columns, width, 1))


def lagged_condition(
    lagged: Tensor, noise: Tensor, targets: Tensor, prior_var: Tensor, num_observations: Tensor, frames: int, first: int, horizon: int
) -> Conditioned | None:
    """The exact posterior at frames first..first+H-1 given frames 0..T-1, as ``exact_condition`` on
    the block-Toeplitz covariance of ``lagged`` (B, S, S, L >= first + H) with ``noise`` (B, S) on
    the diagonal; ``targets`` (B, S T, C), ``prior_var`` (B, S H) the prior variance at the new
    frames. None where a matrix is not positive definite (let the general path's jitter handle it)."""
    batch, size = lagged.shape[:2]
    rows, columns = size * frames, targets.shape[-1]
    order = factor_order(rows)
    factor, info = factor_in_place(toeplitz_covariance(lagged, noise.to(lagged.dtype), frames, order))
    if bool(info.any()):
        return None
    rhs = cross_right_hand_side(lagged, targets.to(lagged.dtype).contiguous(), frames, first, horizon, order)
    solved = torch.linalg.solve_triangular(factor, rhs, upper=False)[..., :rows, :]
    whitened, cross = solved[..., :columns], solved[..., columns:]
    mean = cross.transpose(-1, -2) @ whitened
    var = torch.maximum(prior_var - cross.pow(2).sum(-2), VARIANCE_FLOOR * prior_var)
    log_det = 2 * torch.log(factor.diagonal(dim1=-2, dim2=-1)[..., :rows]).sum(-1)
    lml = -0.5 * whitened.pow(2).sum((-1, -2)) - 0.5 * columns * (log_det + num_observations.to(lagged.dtype) * math.log(2 * math.pi))
    return Conditioned(mean=mean, var=var, log_marginal_likelihood=lml, jitter=lagged.new_zeros(batch))
