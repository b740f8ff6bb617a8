"""Batched GP conditioning in float64: exact (Cholesky with jitter escalation) and random Fourier features.

Both take a batch of B independent problems padded to one size: padded observation rows carry
zero targets and unit variance with no covariance to anything (exact path) or zero features
(RFF path), so they change neither the posterior nor the likelihood; ``num_observations`` tells
the likelihood how many rows of each problem are real. Targets have C columns that share one
covariance (the x, y, z components of an isotropic process), so one factorisation serves all.

Errors name the problem (``names[b]``, e.g. the graph's SMILES or index) and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from chemnoether.errors import ChemNoetherError
from chemnoether.gp.spectral import to_wavenumber

# relative jitters tried, in order, after a plain Cholesky fails (times the mean diagonal)
JITTERS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4)
# posterior variances are kept above this fraction of the prior variance (round-off can make
# prior - explained slightly negative; a floor instead of a clamp at 0 keeps log(var) finite)
VARIANCE_FLOOR = 1e-9


class NumericalError(ChemNoetherError, FloatingPointError):
    """A covariance matrix is not finite, or not positive definite even after the largest jitter."""


class WindowError(ChemNoetherError, ValueError):
    """A window of frames cannot be conditioned on: too short, too coarse, or with NaN frames."""


@dataclass
class Conditioned:
    """Posterior of B problems at P new points."""

    mean: Tensor  # (B, P, C) | posterior mean, target units
    var: Tensor  # (B, P) | posterior variance of the latent function (no noise), target units^2
    log_marginal_likelihood: Tensor  # (B,) | log p(y) of the observed rows, summed over the C columns
    jitter: Tensor  # (B,) | relative jitter the Cholesky needed (0: none; exact path only)


def check_window(n_frames: int, dt_fs: float, max_frequency: float, min_frequency: float = 0.0, where: str = "window") -> None:
    """Refuse a window that cannot resolve the band ``[min_frequency, max_frequency]`` (1/fs).

    Nyquist: frames ``dt_fs`` apart see frequencies up to ``1 / (2 dt_fs)``; length: a window of
    ``n_frames`` spans ``(n_frames - 1) dt_fs`` fs and must hold one period of the lowest frequency
    (checked when ``min_frequency > 0``); and at least 3 frames.
    """
    if not (math.isfinite(dt_fs) and dt_fs > 0):
        raise WindowError(f"{where}: time step dt_fs={dt_fs!r} must be positive")
    span = (n_frames - 1) * dt_fs
    nyquist = 1.0 / (2.0 * dt_fs)
    if n_frames >= 3 and max_frequency < nyquist and not (min_frequency > 0 and span * min_frequency < 1.0):
        return  # the common case, checked on every forward: no message to format
    said = (
        f"{where}: window of {n_frames} frames at dt_fs={dt_fs:g} fs ({span:g} fs, Nyquist "
        f"{to_wavenumber(nyquist):.0f} cm^-1) for frequencies up to {to_wavenumber(max_frequency):.0f} cm^-1"
    )
    if n_frames < 3:
        raise WindowError(f"{said}: need at least 3 frames")
    if max_frequency >= nyquist:
        raise WindowError(f"{said}: the highest frequency is above Nyquist; use a time step below {1 / (2 * max_frequency):.3g} fs")
    if min_frequency > 0 and span * min_frequency < 1.0:
        raise WindowError(
            f"{said}: too short for the lowest frequency {to_wavenumber(min_frequency):.0f} cm^-1 "
            f"(one period is {1 / min_frequency:.3g} fs); use at least {math.ceil(1 / (min_frequency * dt_fs)) + 1} frames"
        )


def check_finite_frames(window: Tensor, where: str = "window") -> None:
    """Refuse a window (N, T, C) with NaN or infinite values, naming the first frame and atom."""
    bad = ~torch.isfinite(window)
    if bool(bad.any()):
        per_frame = bad.any(-1)  # (N, T)
        frames = per_frame.any(0).nonzero().flatten().tolist()
        frame = frames[0]  # the earliest: a window cut before it is clean
        atom = int(per_frame[:, frame].nonzero()[0])
        raise WindowError(
            f"{where}: frame {frame} (atom {atom}) has NaN or infinite values (bad frames {frames[:10]}); "
            "drop those frames or cut the window before them"
        )


def _names(names: Sequence[str] | None, count: int) -> list[str]:
    return list(names) if names is not None else [f"graph {b}" for b in range(count)]


def robust_cholesky(matrix: Tensor, names: Sequence[str] | None = None, jitters: Sequence[float] = JITTERS) -> tuple[Tensor, Tensor]:
    """Lower Cholesky factors of a batch (B, M, M) in float64, adding jitter where needed.

    A plain factorisation first; problems where it fails get ``jitter * mean(diag) * I`` with the
    jitters of ``JITTERS`` in turn (a singular matrix, e.g. a kernel of two nearly equal times, is
    fixed by the smallest that works). Returns ``(L, jitter)``, jitter (B,) the relative one used.
    Raises ``NumericalError`` naming the problem for a non-finite matrix or after the last jitter.
    """
    matrix = matrix.to(torch.float64)
    names = _names(names, matrix.shape[0])
    # a NaN or an infinity makes the sum non-finite: one pass instead of an elementwise test (done
    # only when the sum says something is wrong, or overflowed)
    finite = torch.isfinite(matrix.sum((-1, -2)))
    if not bool(finite.all()):
        finite = torch.isfinite(matrix).flatten(1).all(1)
    if not bool(finite.all()):
        b = int((~finite).nonzero()[0])
        raise NumericalError(
            f"{names[b]}: the covariance matrix has NaN or infinite entries; check the embeddings and "
            "the density parameters (alpha, mu, sigma) that built it"
        )
    factor, info = torch.linalg.cholesky_ex(matrix)
    used = matrix.new_zeros(matrix.shape[0])
    if not bool((info != 0).any()):
        return factor, used
    scale = matrix.diagonal(dim1=-2, dim2=-1).mean(-1).abs().clamp(min=1e-300)
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    for jitter in jitters:
        failed = info != 0
        if not bool(failed.any()):
            break
        retry, retry_info = torch.linalg.cholesky_ex(matrix[failed] + (jitter * scale[failed])[:, None, None] * eye)
        factor = factor.clone()
        factor[failed] = retry
        used = used.clone()
        used[failed] = jitter
        info = info.clone()
        info[failed] = retry_info
    if bool((info != 0).any()):
        b = int((info != 0).nonzero()[0])
        raise NumericalError(
            f"{names[b]}: the covariance matrix ({matrix.shape[-1]} rows) is not positive definite even with "
            f"jitter {jitters[-1]:g} x mean diagonal; raise the noise floor or the density width floor"
        )
    return factor, used


# LAPACK's Cholesky runs about twice as slow when the order is a multiple of 128 (cache aliasing of
# the columns), and the head's matrices, atoms x 32 frames, often are (16 or 20 atoms): from 512
# rows on such a problem gets 8 padding rows (identity, zero targets), which change no result
_SLOW_ORDER = 128
_MIN_PADDED_ORDER = 512  # below, the copy costs more than it saves
_ORDER_PAD = 8


def padded_order(order: int) -> int:
    """The order a matrix of ``order`` rows is factored at: ``_ORDER_PAD`` more at a slow one."""
    return order if order < _MIN_PADDED_ORDER or order % _SLOW_ORDER else order + _ORDER_PAD


def _pad_slow_order(cov_obs: Tensor, rhs: Tensor) -> tuple[Tensor, Tensor]:
    """``(diag(cov_obs, I), [rhs; 0])`` with ``_ORDER_PAD`` more rows when the order is a slow one."""
    order = cov_obs.shape[-1]
    if padded_order(order) == order:
        return cov_obs, rhs
    bigger = cov_obs.new_zeros(*cov_obs.shape[:-2], order + _ORDER_PAD, order + _ORDER_PAD)
    bigger.diagonal(dim1=-2, dim2=-1)[..., order:] = 1.0
    bigger[..., :order, :order] = cov_obs
    return bigger, torch.cat([rhs, rhs.new_zeros(*rhs.shape[:-2], _ORDER_PAD, rhs.shape[-1])], -2)


def exact_condition(
    cov_obs: Tensor,
    targets: Tensor,
    cov_cross: Tensor,
    prior_var: Tensor,
    num_observations: Tensor,
    names: Sequence[str] | None = None,
) -> Conditioned:
    """The exact GP posterior of B problems.

    Args:
        cov_obs: (B, M, M) covariance of the observations, noise included; padded rows identity.
        targets: (B, M, C) observed values (zero in padded rows).
        cov_cross: (B, P, M) covariance of the latent function at the new points with the observations.
        prior_var: (B, P) prior variance of the latent function at the new points.
        num_observations: (B,) real rows of each problem (for the likelihood's 2 pi term).
    """
    y = targets.to(torch.float64)
    columns, order = y.shape[-1], y.shape[-2]
    # one triangular solve for both right-hand sides: [L^-1 y, L^-1 K_xo^T]
    cov_obs, rhs = _pad_slow_order(cov_obs.to(torch.float64), torch.cat([y, cov_cross.to(torch.float64).transpose(-1, -2)], -1))
    factor, jitter = robust_cholesky(cov_obs, names)
    solved = torch.linalg.solve_triangular(factor, rhs, upper=False)[..., :order, :]  # padding rows solve to 0
    whitened, cross = solved[..., :columns], solved[..., columns:]
    mean = cross.transpose(-1, -2) @ whitened
    prior = prior_var.to(torch.float64)
    var = torch.maximum(prior - cross.pow(2).sum(-2), VARIANCE_FLOOR * prior)
    log_det = 2 * torch.log(factor.diagonal(dim1=-2, dim2=-1)[..., :order]).sum(-1)
    lml = -0.5 * whitened.pow(2).sum((-1, -2)) - 0.5 * columns * (log_det + num_observations.to(torch.float64) * math.log(2 * math.pi))
    return Conditioned(mean=mean, var=var, log_marginal_likelihood=lml, jitter=jitter)


def rff_condition(
    features_obs: Tensor,
    targets: Tensor,
    noise: Tensor,
    features_new: Tensor,
    num_observations: Tensor,
    names: Sequence[str] | None = None,
) -> Conditioned:
    """The GP posterior with ``K ~ Phi Phi^T`` (random Fourier features), in weight space.

    ``f = Phi w``, ``w ~ N(0, I)``: with rows whitened by the noise (``~Phi = Phi / s``,
    ``~y = y / s``), ``A = I + ~Phi^T ~Phi`` (F x F), the posterior of w is ``N(A^-1 ~Phi^T ~y, A^-1)``;
    cost ``O(M F^2 + F^3)``, linear in the number of observations M. The likelihood uses the
    determinant lemma, ``log|K + S| = log|A| + sum log s^2``. Equal, up to round-off, to
    ``exact_condition`` with ``cov_obs = Phi Phi^T + diag(noise)``.

    Args:
        features_obs: (B, M, F) features of the observations (zero in padded rows).
        targets: (B, M, C); noise: (B, M) noise variance per row (1 in padded rows).
        features_new: (B, P, F); num_observations: (B,) real rows.
    """
    phi = features_obs.to(torch.float64)
    root = noise.to(torch.float64).sqrt()[..., None]
    phi_w, y_w = phi / root, targets.to(torch.float64) / root
    eye = torch.eye(phi.shape[-1], dtype=torch.float64, device=phi.device)
    precision = eye + phi_w.transpose(-1, -2) @ phi_w
    factor, jitter = robust_cholesky(precision, names)
    projected = torch.linalg.solve_triangular(factor, phi_w.transpose(-1, -2) @ y_w, upper=False)  # L^-1 ~Phi^T ~y
    weights = torch.linalg.solve_triangular(factor.transpose(-1, -2), projected, upper=True)  # A^-1 ~Phi^T ~y
    phi_new = features_new.to(torch.float64)
    mean = phi_new @ weights
    spread = torch.linalg.solve_triangular(factor, phi_new.transpose(-1, -2), upper=False)
    prior = phi_new.pow(2).sum(-1)
    var = torch.maximum(spread.pow(2).sum(-2), VARIANCE_FLOOR * prior)
    columns = y_w.shape[-1]
    log_det = 2 * torch.log(factor.diagonal(dim1=-2, dim2=-1)).sum(-1) + torch.log(noise.to(torch.float64)).sum(-1)
    quad = y_w.pow(2).sum((-1, -2)) - projected.pow(2).sum((-1, -2))
    lml = -0.5 * quad - 0.5 * columns * (log_det + num_observations.to(torch.float64) * math.log(2 * math.pi))
    return Conditioned(mean=mean, var=var, log_marginal_likelihood=lml, jitter=jitter)
