"""Spectral densities and their kernels (docs/design.md section 8).

Time is in fs and frequencies are ordinary (not angular) frequencies in 1/fs; ``to_wavenumber``
gives cm^-1 (1/fs = 33356.41 cm^-1). A stationary kernel and its spectral density are a Fourier
pair, ``K(tau) = int S(w) exp(2 pi i w tau) dw`` (Bochner), and every density here is even in
``w``, so ``int S(w) dw = K(0)``, the variance of the process.

* ``SpectralMixture``: Gaussian mixtures ``S(w) = sum_q alpha_q [N(w; mu_q, sigma_q^2) +
  N(w; -mu_q, sigma_q^2)] / 2``, whose kernel is the spectral-mixture kernel of Wilson & Adams
  (2013), ``K(tau) = sum_q alpha_q exp(-2 pi^2 sigma_q^2 tau^2) cos(2 pi mu_q tau)``; any batch
  shape, one mixture per node (or graph). Concatenating two mixtures adds their kernels, which is
  how the whole-graph interaction term joins every node's density.
* ``SpectralMixtureNet``: the MLP that maps invariant embeddings to mixtures, with floors.
* ``DensityEvolution``: ``theta_{t+1} = theta_t + F(theta_t, g)`` for densities that follow the state.
* ``incidence_context``: ring / subgraph embeddings pooled through an incidence, back onto atoms.
* ``QuadricDensity``: the quadric-surface family for d-dimensional inputs (closed-form kernel).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from chemnoether.errors import ConfigError

# 1/fs in cm^-1: 1e15 Hz divided by the speed of light in cm/s
WAVENUMBER_PER_INV_FS = 1e15 / 2.99792458e10


def to_wavenumber(frequency):
    """Frequency in 1/fs -> wavenumber in cm^-1 (works on floats, arrays and tensors)."""
    return frequency * WAVENUMBER_PER_INV_FS


def to_frequency(wavenumber):
    """Wavenumber in cm^-1 -> frequency in 1/fs."""
    return wavenumber / WAVENUMBER_PER_INV_FS


class DensityCollapseWarning(UserWarning):
    """A spectral component sits on its width floor: its kernel barely decays (a pure cosine)."""


@dataclass(frozen=True)
class SpectralMixture:
    """A batch of Gaussian-mixture spectral densities; all three fields share one shape ``(..., Q)``."""

    alpha: Tensor  # (..., Q) | weight of each component; their sum is K(0), the process variance
    mu: Tensor  # (..., Q) | centre frequency, 1/fs, >= 0
    sigma: Tensor  # (..., Q) | spread of the component, 1/fs, > 0 (1/(2 pi sigma): decay time, fs)

    def __post_init__(self):
        if not (self.alpha.shape == self.mu.shape == self.sigma.shape) or self.alpha.dim() == 0:
            raise ConfigError(
                f"SpectralMixture: alpha, mu, sigma must share a shape (..., Q), got "
                f"{tuple(self.alpha.shape)}, {tuple(self.mu.shape)}, {tuple(self.sigma.shape)}"
            )

    @property
    def num_components(self) -> int:
        return self.alpha.shape[-1]

    def variance(self) -> Tensor:
        """(...,) K(0) = sum of the weights: the prior variance of each process."""
        return self.alpha.sum(-1)

    def cat(self, other: SpectralMixture) -> SpectralMixture:
        """The mixture with the components of both: its kernel is the sum of the two kernels."""
        return SpectralMixture(*(torch.cat([a, b], -1) for a, b in zip(self._fields(), other._fields(), strict=True)))

    def select(self, index) -> SpectralMixture:
        """The mixtures ``index`` picks along the batch dimensions (``mixture.select(atom_graph)``)."""
        return SpectralMixture(*(field[index] for field in self._fields()))

    def to(self, dtype: torch.dtype) -> SpectralMixture:
        return SpectralMixture(*(field.to(dtype) for field in self._fields()))

    def _fields(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.alpha, self.mu, self.sigma

    def _expand(self, extra: int) -> tuple[Tensor, Tensor, Tensor]:
        # batch dims first, then ``extra`` singleton dims for the evaluation points, then Q
        shape = self.alpha.shape[:-1] + (1,) * extra + self.alpha.shape[-1:]
        return tuple(field.reshape(shape) for field in self._fields())

    def density(self, frequencies: Tensor) -> Tensor:
        """S(w) at ``frequencies`` (F,) in 1/fs: (..., F), in (process units)^2 fs."""
        alpha, mu, sigma = self._expand(1)
        w = frequencies.to(alpha.dtype)[..., None]
        norm = 1.0 / (sigma * math.sqrt(2 * math.pi))
        up = torch.exp(-0.5 * ((w - mu) / sigma) ** 2)
        down = torch.exp(-0.5 * ((w + mu) / sigma) ** 2)
        return (alpha * norm * 0.5 * (up + down)).sum(-1)

    def kernel(self, tau: Tensor) -> Tensor:
        """K(tau) for lags ``tau`` (fs) of shape ``(*batch, *extra)``: the leading dims broadcast
        against the mixture's batch dims, the trailing ones are free. Returns ``tau``'s broadcast shape."""
        extra = tau.dim() - (self.alpha.dim() - 1)
        if extra < 0:
            raise ConfigError(f"kernel: tau of shape {tuple(tau.shape)} has fewer dims than the mixture batch {tuple(self.alpha.shape[:-1])}")
        alpha, mu, sigma = self._expand(extra)
        tau = tau.to(alpha.dtype)[..., None]
        envelope = torch.exp(-2 * math.pi**2 * sigma**2 * tau**2)
        return (alpha * envelope * torch.cos(2 * math.pi * mu * tau)).sum(-1)

    def kernel_matrix(self, t1: Tensor, t2: Tensor) -> Tensor:
        """K(t1_a - t2_b) for times ``t1`` (*batch, T1) and ``t2`` (*batch, T2) in fs: (*batch, T1, T2)."""
        return self.kernel(t1[..., :, None] - t2[..., None, :])

    def rff_features(self, t: Tensor, eps: Tensor) -> Tensor:
        """Random Fourier features of times ``t`` (*batch, T), fs: (*batch, T, 2 Q D), with ``K ~ Phi Phi^T``.

        Frequencies ``s_qd = mu_q + sigma_q eps_d`` from the shared standard normals ``eps`` (D,);
        features ``sqrt(alpha_q / D) [cos(2 pi s t), sin(2 pi s t)]``, whose products average to
        ``E[cos(2 pi s (t - t'))] = exp(-2 pi^2 sigma^2 tau^2) cos(2 pi mu tau)``, the exact kernel.
        Because ``cos^2 + sin^2 = 1`` the diagonal ``Phi Phi^T`` at ``tau = 0`` is exactly ``K(0)``.
        """
        alpha, mu, sigma = self._expand(0)
        eps = eps.to(alpha.dtype)
        s = mu[..., None] + sigma[..., None] * eps  # (*batch, Q, D)
        phase = 2 * math.pi * t.to(alpha.dtype)[..., :, None, None] * s[..., None, :, :]  # (*batch, T, Q, D)
        weight = torch.sqrt(alpha / eps.numel())[..., None, :, None]
        features = torch.cat([weight * torch.cos(phase), weight * torch.sin(phase)], -1)
        return features.flatten(-2)


RFF_SAMPLINGS = ("quantile", "random")


def rff_eps(num_features: int, sampling: str = "quantile", seed: int = 0) -> Tensor:
    """The shared standard normals ``eps`` (D,) float64 of ``SpectralMixture.rff_features``.

    ``"random"``: D draws (seeded); the kernel error falls as D^-1/2 (about 0.005-0.01 at D = 4096
    for K(0) = 1 over 50 fs). ``"quantile"``: the normal quantiles at (k + 1/2) / D, a deterministic
    quadrature of the one-dimensional frequency integral, 10-100x more accurate at the same D over
    windows of a few hundred fs; over windows much longer than D / (2 sigma) its cosines realign and
    the kernel stops decaying (there use more features, or ``"random"``).
    """
    if num_features < 1 or sampling not in RFF_SAMPLINGS:
        raise ConfigError(f"rff_eps: need num_features >= 1 and sampling in {RFF_SAMPLINGS}, got {num_features}, {sampling!r}")
    if sampling == "random":
        return torch.randn(num_features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.special.ndtri((torch.arange(num_features, dtype=torch.float64) + 0.5) / num_features)


def _mlp(in_features: int, hidden: int, out_features: int, layers: int = 2) -> nn.Sequential:
    modules, width = [], in_features
    for _ in range(layers - 1):
        modules += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    modules.append(nn.Linear(width, out_features))
    return nn.Sequential(*modules)


class SpectralMixtureNet(nn.Module):
    """Invariant embeddings (..., F) -> a ``SpectralMixture`` of ``num_components`` per row.

    Raw outputs ``theta = (a, m, s)`` (..., 3Q) are constrained as
    ``alpha = alpha_min + softplus(a)``, ``mu = f_lo + (f_hi - f_lo) sigmoid(m)`` (so
    ``0 <= f_lo <= mu <= f_hi``), ``sigma = sigma_min + softplus(s)``; the floors keep every
    kernel a proper, decaying covariance. At the start the centres are spread evenly over the band.

    Args:
        in_features: width F of the embeddings (invariant: 0e scalars only).
        num_components: Q.
        freq_range: (f_lo, f_hi) in 1/fs, the band the centres may take (``to_frequency(cm^-1)``).
        sigma_min: floor of the widths, 1/fs; a component reaching it triggers ``DensityCollapseWarning``.
        alpha_min: floor of the weights.
        hidden, layers: the MLP.
    """

    def __init__(
        self,
        in_features: int,
        num_components: int,
        *,
        freq_range: tuple[float, float] = (0.0, to_frequency(4000.0)),
        sigma_min: float = to_frequency(10.0),
        alpha_min: float = 1e-3,
        hidden: int = 64,
        layers: int = 2,
    ):
        super().__init__()
        low, high = (float(f) for f in freq_range)
        if not (0 <= low < high and math.isfinite(high)):
            raise ConfigError(f"freq_range={freq_range}: need 0 <= low < high (1/fs)")
        if not (sigma_min > 0 and alpha_min > 0 and num_components >= 1 and in_features >= 1):
            raise ConfigError(
                f"SpectralMixtureNet: need in_features >= 1, num_components >= 1, sigma_min > 0, alpha_min > 0; "
                f"got {in_features}, {num_components}, {sigma_min}, {alpha_min}"
            )
        self.num_components = num_components
        self.freq_range = (low, high)
        self.sigma_min, self.alpha_min = float(sigma_min), float(alpha_min)
        self.net = _mlp(in_features, hidden, 3 * num_components, layers)
        last = self.net[-1]
        with torch.no_grad():
            # small weights, informative biases: every row starts from the same spread-out mixture
            last.weight.mul_(0.1)
            q = num_components
            centres = (torch.arange(q, dtype=torch.float64) + 0.5) / q
            width = (high - low) / (4 * q)
            last.bias[:q] = _inverse_softplus(torch.tensor(1.0 / q))
            last.bias[q : 2 * q] = torch.logit(centres).float()
            last.bias[2 * q :] = _inverse_softplus(torch.tensor(max(width - self.sigma_min, self.sigma_min)))

    @property
    def raw_size(self) -> int:
        return 3 * self.num_components

    def raw(self, embeddings: Tensor) -> Tensor:
        """Unconstrained parameters theta (..., 3Q): what ``DensityEvolution`` steps."""
        return self.net(embeddings)

    def constrain(self, raw: Tensor) -> SpectralMixture:
        """theta (..., 3Q) -> the mixture, floors applied (see the class docstring)."""
        a, m, s = raw.split(self.num_components, -1)
        low, high = self.freq_range
        spread = nn.functional.softplus(s)
        if bool((spread < 1e-6 * self.sigma_min).any()):
            warnings.warn(
                f"{int((spread < 1e-6 * self.sigma_min).sum())} spectral components collapsed to the width floor "
                f"sigma_min={self.sigma_min:.3g} 1/fs ({to_wavenumber(self.sigma_min):.3g} cm^-1): their kernels "
                "are nearly pure cosines; the floor keeps them valid, but check the learning rate",
                DensityCollapseWarning,
                stacklevel=2,
            )
        return SpectralMixture(
            alpha=self.alpha_min + nn.functional.softplus(a),
            mu=low + (high - low) * torch.sigmoid(m),
            sigma=self.sigma_min + spread,
        )

    def forward(self, embeddings: Tensor) -> SpectralMixture:
        return self.constrain(self.raw(embeddings))


def _inverse_softplus(y: Tensor) -> Tensor:
    return y + torch.log(-torch.expm1(-y))


class DensityEvolution(nn.Module):
    """Densities that follow the state: ``theta_{t+1} = theta_t + F([theta_t, g])``, a residual MLP.

    ``theta`` are a ``SpectralMixtureNet``'s raw parameters (constrain each step's with its
    ``constrain``, so every step is a valid density); ``g`` is the graph embedding of the node's
    graph. Each window's kernel uses one ``theta`` (stationary within the window: a kernel whose
    parameters change between the rows of one matrix is not a covariance); the evolution moves it
    from one window to the next along a rollout. ``F``'s last layer starts at zero: the identity.
    """

    def __init__(self, raw_size: int, graph_features: int, *, hidden: int = 64):
        super().__init__()
        self.net = _mlp(raw_size + graph_features, hidden, raw_size)
        with torch.no_grad():
            self.net[-1].weight.zero_()
            self.net[-1].bias.zero_()

    def step(self, raw: Tensor, graph_embedding: Tensor, node_graph: Tensor) -> Tensor:
        """One step: ``raw`` (N, 3Q), ``graph_embedding`` (B, G), ``node_graph`` (N,) -> (N, 3Q)."""
        return raw + self.net(torch.cat([raw, graph_embedding[node_graph]], -1))

    def forward(self, raw: Tensor, graph_embedding: Tensor, node_graph: Tensor, steps: int) -> list[Tensor]:
        """``[theta_0, ..., theta_steps]``."""
        out = [raw]
        for _ in range(steps):
            out.append(self.step(out[-1], graph_embedding, node_graph))
        return out


def incidence_context(embeddings: Tensor, incidence: Tensor, num_groups: int) -> Tensor:
    """Per atom, the mean embedding of the rings (or subgraphs) it belongs to: (N, F).

    ``incidence`` (2, P) is ``[atom, group]`` (``GraphTensors.ring_incidence``); a group's
    embedding is the mean of its atoms' and an atom's context the mean over its groups (zeros for
    an atom in none). Means of invariant embeddings: invariant, and permutation equivariant.
    """
    atoms, groups = incidence
    width = embeddings.shape[1]
    ones = embeddings.new_ones(atoms.shape[0])
    group_sum = embeddings.new_zeros(num_groups, width).index_add_(0, groups, embeddings[atoms])
    group_count = embeddings.new_zeros(num_groups).index_add_(0, groups, ones).clamp(min=1)
    group_mean = group_sum / group_count[:, None]
    atom_sum = embeddings.new_zeros(embeddings.shape).index_add_(0, atoms, group_mean[groups])
    atom_count = embeddings.new_zeros(embeddings.shape[0]).index_add_(0, atoms, ones).clamp(min=1)
    return atom_sum / atom_count[:, None]


class QuadricDensity(nn.Module):
    """The quadric-surface density on R^d, ``S(w) = exp(-(w^T A w + b^T w + c))``, A symmetric positive definite.

    The exponent is a quadric, so S is a scaled Gaussian: completing the square with
    ``m = -A^{-1} b / 2`` gives ``S(w) = Z N(w; m, Sigma)`` with ``Sigma = (2A)^{-1}`` and
    ``Z = exp(m^T A m - c) pi^{d/2} det(A)^{-1/2}``. S is not even in w, so the density used is
    its symmetrisation ``(S(w) + S(-w)) / 2`` (the spectrum of a real process is even), whose
    Fourier transform is closed form:

        K(tau) = Z exp(-2 pi^2 tau^T Sigma tau) cos(2 pi m^T tau),   K(0) = Z,

    the d-dimensional spectral-mixture component with a full covariance (unlike GPyTorch's product
    of 1-D mixtures). Parameters: ``A = L L^T + a_min I`` from a free lower-triangular L, free b and c.
    Inputs ``x`` (n, d) are in the units whose reciprocals are the units of w (fs and 1/fs for time).
    """

    def __init__(self, dim: int, *, a_min: float = 1e-6):
        super().__init__()
        if dim < 1 or a_min <= 0:
            raise ConfigError(f"QuadricDensity: need dim >= 1 and a_min > 0, got {dim}, {a_min}")
        self.dim, self.a_min = dim, float(a_min)
        self.raw_l = nn.Parameter(torch.eye(dim))
        self.b = nn.Parameter(torch.zeros(dim))
        self.c = nn.Parameter(torch.zeros(()))

    @property
    def a(self) -> Tensor:
        """(d, d) the symmetric positive definite A."""
        lower = torch.tril(self.raw_l)
        return lower @ lower.T + self.a_min * torch.eye(self.dim, dtype=lower.dtype)

    def gaussian(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(Z, m, Sigma)``: S(w) = Z N(w; m, Sigma) (see the class docstring)."""
        a = self.a
        m = -0.5 * torch.linalg.solve(a, self.b)
        log_z = m @ a @ m - self.c + 0.5 * self.dim * math.log(math.pi) - 0.5 * torch.logdet(a)
        return torch.exp(log_z), m, torch.linalg.inv(2 * a)

    def density(self, w: Tensor) -> Tensor:
        """The symmetrised density at ``w`` (n, d): (n,)."""
        a, b = self.a, self.b
        w = w.to(a.dtype)

        def s(v):
            return torch.exp(-(torch.einsum("ni,ij,nj->n", v, a, v) + v @ b + self.c))

        return 0.5 * (s(w) + s(-w))

    def kernel_matrix(self, x1: Tensor, x2: Tensor) -> Tensor:
        """K(x1_i - x2_j) for points ``x1`` (n1, d), ``x2`` (n2, d): (n1, n2)."""
        z, m, sigma = self.gaussian()
        tau = x1.to(m.dtype)[:, None, :] - x2.to(m.dtype)[None, :, :]
        quad = torch.einsum("abi,ij,abj->ab", tau, sigma, tau)
        return z * torch.exp(-2 * math.pi**2 * quad) * torch.cos(2 * math.pi * tau @ m)
