"""The spectral-density GP node head: calibrated per-atom forecasts of the next frames (docs/design.md section 8).

Every atom q carries a latent process ``u_q ~ GP(0, K_q)`` whose kernel is the Fourier transform
of a spectral density predicted from the atom's invariant embedding (``SpectralMixtureNet``),
plus a whole-graph interaction term (a density from the graph's mean embedding whose components
join every atom's, so its kernel adds to each). Outputs mix the processes of a neighbourhood by a
linear model of coregionalisation,

    f_i(t) = sum_{q in N(i)} a_iq u_q(t),    cov[f_i(t), f_j(t')] = sum_q a_iq a_jq K_q(t - t'),

that is ``sum_q B_q (x) K_q`` with ``B_q = a_q a_q^T`` (N(i): i itself and the sources of the edges
into i). The weights come from invariants only (embeddings, optional edge features), and the same
covariance serves the x, y and z components, so rotating (or reflecting) the window rotates the
mean and leaves the variance unchanged: the head is E(3)-equivariant, and permutation equivariant.

Targets: any per-atom vector signal of a window of consecutive frames. Velocities (Å/fs) are the
natural choice, since their spectrum is the vibrational density of states that
``chemnoether.gp.spectra`` measures; positions (Å) work too (the per-atom window mean is removed,
so the target is the displacement from it). Each graph's targets are centred per atom and divided
by their RMS (an invariant), conditioned on, and the forecast mapped back to the window's units.

Evolving densities (``evolve=True``): the densities follow the state along the trajectory,
``theta_{h+1} = theta_h + F(theta_h, g)`` (``spectral.DensityEvolution``) on the raw parameters of
every atom's density (and of the graph term), ``g`` the graph's mean embedding (an invariant of
the state). ``theta_0`` is the window's density (the marginal likelihood's); forecast frame
``T + h`` (h = 0..H-1) uses ``theta_{h+1}``, conditioning the whole window on it (a locally
stationary approximation: each frame's mean and variance come from a valid GP, one Cholesky per
frame; the joint covariance across forecast frames is not modelled). ``F`` starts at the identity
(last layer zero), where the forecast equals the non-evolving head's. Off by default.

Guards (section 8): each atom's prior variance ``sum_q a_iq^2 K_q(0)`` is set to a predicted value
above ``prior_var_floor`` (the network cannot shrink it to look confident), the noise variance is
above ``noise_floor`` (both in units of the normalised targets), widths and weights have floors.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from chemnoether.errors import ConfigError
from chemnoether.gp.conditioning import (
    Conditioned,
    check_finite_frames,
    check_window,
    exact_condition,
    rff_condition,
)
from chemnoether.gp.lagged import lagged_condition
from chemnoether.gp.lagged import usable as lagged_usable
from chemnoether.gp.spectral import (
    DensityEvolution,
    SpectralMixture,
    SpectralMixtureNet,
    _mlp,
    incidence_context,
    rff_eps,
    to_frequency,
)

METHODS = ("exact", "rff")


@dataclass
class GPForecast:
    """The head's output for a batch of windows (N atoms in B graphs, H new frames, C components)."""

    mean: Tensor  # (N, H, C) | predicted signal at frames T..T+H-1, the window's units
    var: Tensor  # (N, H) | predictive variance (noise included), the same for every component, units^2
    var_latent: Tensor  # (N, H) | variance of the noise-free signal, units^2
    log_marginal_likelihood: Tensor  # (B,) | log p(window) in normalised units, summed over components
    num_observations: Tensor  # (B,) | atoms x frames of each window (the likelihood's row count)
    scale: Tensor  # (B,) | RMS of the centred window, the unit the conditioning worked in
    mixture: SpectralMixture  # (N, Q') | each atom's density, graph term included (1/fs)
    jitter: Tensor  # (B,) | relative Cholesky jitter each graph needed
    evolved: list[SpectralMixture] | None = None  # evolve=True: the H densities (N, Q') of the forecast frames

    @property
    def var_components(self) -> Tensor:
        """(N, H, C) the variance of each component (isotropic: equal)."""
        return self.var[..., None].expand_as(self.mean)


def negative_log_marginal_likelihood(forecast: GPForecast) -> Tensor:
    """Training loss on the window itself: -log p(window), per observed value, normalised units."""
    columns = forecast.mean.shape[-1]
    return -forecast.log_marginal_likelihood.sum() / (forecast.num_observations.sum() * columns)


def predictive_nll(forecast: GPForecast, future: Tensor) -> Tensor:
    """Mean Gaussian NLL (nats per value) of the held-out frames ``future`` (N, H, C), window units."""
    if future.shape != forecast.mean.shape:
        raise ConfigError(f"predictive_nll: future has shape {tuple(future.shape)}, forecast {tuple(forecast.mean.shape)}")
    var = forecast.var_components
    residual = future.to(var.dtype) - forecast.mean
    return 0.5 * (torch.log(2 * math.pi * var) + residual.pow(2) / var).mean()


class SpectralGPHead(nn.Module):
    """Forecasts the next ``horizon`` frames of every atom with an LMC of spectral-mixture GPs.

    Args:
        node_features: width F of the invariant atom embeddings (e.g. the model's 0e scalars).
        edge_features: width of optional invariant edge features (bond order, distance basis); 0: none.
        context_sets: how many incidences (rings, subgraphs) ``forward`` pools into atom contexts.
        num_components: Q, components of each atom's density.
        graph_components: components of the whole-graph interaction density (0: no such term).
        freq_range_cm: (low, high) band of the component centres, cm^-1; ``high`` sets the Nyquist
            check (frames must be < 1/(2 high) apart), ``low > 0`` a minimum window length.
        sigma_min_cm: floor of component widths, cm^-1.
        noise_floor, prior_var_floor: floors of the noise and prior variances (normalised units).
        method: ``"exact"`` (Cholesky of the (N T)^2 joint covariance) or ``"rff"`` (random Fourier
            features, linear in the window length, cubic in N * 2 Q' * rff_features).
        rff_features: D, frequency samples per component; rff_sampling: ``"quantile"`` or
            ``"random"`` (see ``spectral.rff_eps``); rff_seed: seed of the random eps.
        hidden: width of the MLPs.
        evolve: advance the densities one step per forecast frame with ``DensityEvolution`` (module docstring).
    """

    def __init__(
        self,
        node_features: int,
        *,
        edge_features: int = 0,
        context_sets: int = 0,
        num_components: int = 4,
        graph_components: int = 1,
        freq_range_cm: tuple[float, float] = (0.0, 4000.0),
        sigma_min_cm: float = 10.0,
        noise_floor: float = 1e-4,
        prior_var_floor: float = 0.05,
        method: str = "exact",
        rff_features: int = 64,
        rff_sampling: str = "quantile",
        rff_seed: int = 0,
        hidden: int = 64,
        evolve: bool = False,
    ):
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"method={method!r}: choose one of {METHODS}")
        if min(node_features, rff_features) < 1 or min(edge_features, context_sets, graph_components) < 0:
            raise ConfigError("SpectralGPHead: node_features, rff_features >= 1; edge_features, context_sets, graph_components >= 0")
        if not (noise_floor > 0 and prior_var_floor > 0):
            raise ConfigError(f"noise_floor={noise_floor}, prior_var_floor={prior_var_floor}: both must be positive")
        self.edge_features, self.context_sets, self.method = edge_features, context_sets, method
        self.noise_floor, self.prior_var_floor = float(noise_floor), float(prior_var_floor)
        self.freq_range = tuple(to_frequency(float(f)) for f in freq_range_cm)
        density = {"freq_range": self.freq_range, "sigma_min": to_frequency(float(sigma_min_cm)), "hidden": hidden}
        self.node_density = SpectralMixtureNet(node_features * (1 + context_sets), num_components, **density)
        self.graph_density = SpectralMixtureNet(node_features, graph_components, **density) if graph_components else None
        self.evolve = bool(evolve)
        self.node_evolution = DensityEvolution(self.node_density.raw_size, node_features, hidden=hidden) if evolve else None
        self.graph_evolution = (
            DensityEvolution(self.graph_density.raw_size, node_features, hidden=hidden) if evolve and graph_components else None
        )
        # per atom: self weight a_ii, prior variance, noise variance (raw)
        self.self_net = _mlp(node_features, hidden, 3)
        self.edge_net = _mlp(2 * node_features + edge_features, hidden, 1)
        # shared by every atom and call (the eps of s = mu + sigma eps); not saved: rff_seed remakes it,
        # so one state dict serves both methods
        self.register_buffer("rff_eps", rff_eps(rff_features, rff_sampling, rff_seed), persistent=False)

    def mixtures(self, features: Tensor, atom_graph: Tensor, num_graphs: int, incidences: Sequence[tuple[Tensor, int]] = ()) -> SpectralMixture:
        """(N, Q') every atom's density: its own components, then the graph term's."""
        return self.evolved_mixtures(features, atom_graph, num_graphs, incidences, 0)[0]

    def evolved_mixtures(
        self, features: Tensor, atom_graph: Tensor, num_graphs: int, incidences: Sequence[tuple[Tensor, int]] = (), steps: int = 0
    ) -> list[SpectralMixture]:
        """``[S_0, ..., S_steps]``, each (N, Q'): the densities advanced 0..steps times by the
        ``DensityEvolution`` (``evolve=True``; without it only ``steps=0``), conditioned on the graph's
        mean embedding."""
        if len(incidences) != self.context_sets:
            raise ConfigError(f"got {len(incidences)} incidences, the head was built for context_sets={self.context_sets}")
        if steps and not self.evolve:
            raise ConfigError(f"evolved_mixtures(steps={steps}): the head was built with evolve=False")
        contexts = [incidence_context(features, incidence, count) for incidence, count in incidences]
        node_raw = self.node_density.raw(torch.cat([features, *contexts], -1) if contexts else features)
        pooled = None
        if self.graph_density is not None or steps:
            counts = torch.zeros(num_graphs, dtype=features.dtype, device=features.device).index_add_(0, atom_graph, torch.ones_like(features[:, 0]))
            pooled = torch.zeros(num_graphs, features.shape[1], dtype=features.dtype, device=features.device).index_add_(0, atom_graph, features)
            pooled = pooled / counts.clamp(min=1)[:, None]  # the graph embedding g: invariant, permutation invariant
        node_raws = self.node_evolution(node_raw, pooled, atom_graph, steps) if steps else [node_raw]
        out = [self.node_density.constrain(raw) for raw in node_raws]
        if self.graph_density is None:
            return out
        graph_raw = self.graph_density.raw(pooled)
        graphs = torch.arange(num_graphs, device=features.device)
        graph_raws = self.graph_evolution(graph_raw, pooled, graphs, steps) if steps else [graph_raw]
        return [mixture.cat(self.graph_density.constrain(raw).select(atom_graph)) for mixture, raw in zip(out, graph_raws, strict=True)]

    def forward(
        self,
        features: Tensor,
        window: Tensor,
        dt_fs: float | Tensor,
        horizon: int,
        *,
        edge_index: Tensor | None = None,
        edge_features: Tensor | None = None,
        atom_graph: Tensor | None = None,
        num_graphs: int | None = None,
        incidences: Sequence[tuple[Tensor, int]] = (),
        graph_names: Sequence[str] | None = None,
    ) -> GPForecast:
        """Condition on ``window`` (N, T, C), frames ``dt_fs`` apart (a float, or (B,) per graph), and
        forecast frames T..T+horizon-1. ``features`` (N, F) invariant; ``edge_index`` (2, E) as
        ``[src, dst]`` (src's process feeds dst; no self-loops; ``edge_features`` (E, F_e) invariant);
        ``atom_graph`` (N,) non-decreasing graph ids (default: one graph); ``incidences`` one
        ``(incidence (2, P), count)`` per context set; ``graph_names`` for error messages."""
        n, frames, _ = window.shape
        atom_graph = torch.zeros(n, dtype=torch.long, device=window.device) if atom_graph is None else atom_graph
        num_graphs = int(atom_graph.max()) + 1 if num_graphs is None else num_graphs
        names = list(graph_names) if graph_names is not None else [f"graph {b}" for b in range(num_graphs)]
        if features.shape[0] != n or atom_graph.shape != (n,) or len(names) != num_graphs or horizon < 1:
            raise ConfigError(
                f"SpectralGPHead: features {tuple(features.shape)}, window {tuple(window.shape)}, atom_graph "
                f"{tuple(atom_graph.shape)}, {len(names)} names for {num_graphs} graphs, horizon {horizon}: inconsistent"
            )
        if n > 1 and bool((atom_graph[1:] < atom_graph[:-1]).any()):
            raise ConfigError("atom_graph must be non-decreasing (the atoms of each graph contiguous, as after dgl.batch)")
        dt = torch.as_tensor(dt_fs, dtype=torch.float64, device=window.device).expand(num_graphs)
        for b, step in enumerate(dt.tolist()):
            check_window(frames, step, self.freq_range[1], self.freq_range[0], names[b])
        if not bool(torch.isfinite(window.sum())):  # one cheap test; the per-graph search only on failure
            for b in range(num_graphs):
                check_finite_frames(window[atom_graph == b], names[b])

        counts = torch.bincount(atom_graph, minlength=num_graphs)
        size = int(counts.max())
        local = torch.arange(n, device=window.device) - (torch.cumsum(counts, 0) - counts)[atom_graph]
        mixtures = self.evolved_mixtures(features, atom_graph, num_graphs, incidences, horizon if self.evolve else 0)
        mixture = mixtures[0]

        # normalise: centre each atom over the window, divide each graph by its RMS (invariants)
        offset = window.mean(1, keepdim=True)
        centred = (window - offset).to(torch.float64)
        power = torch.zeros(num_graphs, dtype=torch.float64, device=window.device).index_add_(0, atom_graph, centred.pow(2).mean((1, 2)))
        scale = torch.sqrt(power / counts.clamp(min=1))
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a frozen window: nothing to rescale
        targets = _pad(centred / scale[atom_graph, None, None], atom_graph, local, num_graphs, size)  # (B, S, T, C)

        # which rows are atoms (None: every graph has ``size`` atoms, no padding)
        real = None if n == num_graphs * size else _pad(torch.ones(n, dtype=torch.bool, device=window.device), atom_graph, local, num_graphs, size, fill=False)
        num_obs = counts * frames
        y = targets.flatten(1, 2)

        def condition(mixture: SpectralMixture, new: slice) -> tuple[Conditioned, Tensor]:
            mixing, prior_var, noise = self._mixing(features, edge_index, edge_features, mixture, atom_graph, local, num_graphs, size)
            padded = SpectralMixture(*(_pad(f.to(torch.float64), atom_graph, local, num_graphs, size, fill=1.0) for f in mixture._fields()))
            if self.method == "exact":
                new_frames = torch.arange(frames + horizon, device=window.device)[frames:][new]
                return self._exact(padded, mixing, dt, frames, new_frames, prior_var, noise, real, y, num_obs, names), noise
            noise_rows = noise[:, :, None].expand(-1, -1, frames).flatten(1)  # padded atoms: 1, so identity rows
            times = torch.arange(frames + horizon, dtype=torch.float64, device=window.device)[None, :] * dt[:, None]  # (B, T + H) fs
            t_obs, t_new = times[:, None, :frames], times[:, None, frames:]
            return self._rff(padded, mixing, t_obs, t_new[..., new], noise_rows, y, num_obs, names), noise

        result, noise = condition(mixture, slice(None))  # theta_0: the window's likelihood (and, not evolving, the forecast)
        mean = _unpad(result.mean.unflatten(1, (size, horizon)), atom_graph, local)  # (N, H, C)
        var_latent = _unpad(result.var.unflatten(1, (size, horizon)), atom_graph, local)
        if self.evolve:  # frame T + h from theta_{h+1}
            means, latents, noises = [], [], []
            for h in range(horizon):
                step, step_noise = condition(mixtures[h + 1], slice(h, h + 1))
                means.append(_unpad(step.mean.unflatten(1, (size, 1)), atom_graph, local))
                latents.append(_unpad(step.var.unflatten(1, (size, 1)), atom_graph, local))
                noises.append(_unpad(step_noise, atom_graph, local))
            mean, var_latent = torch.cat(means, 1), torch.cat(latents, 1)
            noise_out = torch.stack(noises, 1)  # (N, H); the noise net sees features only: the same every frame
        else:
            noise_out = _unpad(noise, atom_graph, local)[:, None]
        unit = scale[atom_graph, None]
        var_latent = var_latent * unit**2
        dtype = window.dtype
        return GPForecast(
            mean=(mean * unit[..., None] + offset).to(dtype),
            var=(var_latent + noise_out * unit**2).to(dtype),
            var_latent=var_latent.to(dtype),
            log_marginal_likelihood=result.log_marginal_likelihood,
            num_observations=num_obs,
            scale=scale,
            mixture=mixture,
            jitter=result.jitter,
            evolved=mixtures[1:] if self.evolve else None,
        )

    def _mixing(self, features, edge_index, edge_features, mixture, atom_graph, local, num_graphs, size):
        """Padded LMC weights (B, S, S) [output atom, latent process], prior and noise variances (B, S)."""
        raw = self.self_net(features).to(torch.float64)
        diagonal = 0.1 + nn.functional.softplus(raw[:, 0])  # a_ii > 0: every atom keeps its own process
        prior = self.prior_var_floor + nn.functional.softplus(raw[:, 1])
        noise = self.noise_floor + nn.functional.softplus(raw[:, 2] - 4.0)  # starts small: ~0.02
        mixing = features.new_zeros(num_graphs, size, size, dtype=torch.float64)
        mixing = mixing.index_put((atom_graph, local, local), diagonal, accumulate=True)
        if edge_index is not None and edge_index.shape[1] > 0:
            src, dst = edge_index
            parts = [features[dst], features[src]]
            if self.edge_features:
                if edge_features is None or edge_features.shape != (edge_index.shape[1], self.edge_features):
                    raise ConfigError(f"edge_features must have shape ({edge_index.shape[1]}, {self.edge_features})")
                parts.append(edge_features.to(features.dtype))
            weight = torch.tanh(self.edge_net(torch.cat(parts, -1))[:, 0]).to(torch.float64)
            if num_graphs > 1 and bool((atom_graph[src] != atom_graph[dst]).any()):
                raise ConfigError("edge_index joins atoms of different graphs")
            mixing = mixing.index_put((atom_graph[dst], local[dst], local[src]), weight, accumulate=True)
        # the prior-variance guard: rescale each row so that sum_q a_iq^2 K_q(0) equals the predicted prior
        k0 = _pad(mixture.variance().to(torch.float64), atom_graph, local, num_graphs, size)
        raw_var = (mixing.pow(2) * k0[:, None, :]).sum(-1)
        target = _pad(prior, atom_graph, local, num_graphs, size)
        mixing = mixing * torch.sqrt(target / raw_var.clamp(min=1e-300))[..., None]
        return mixing, target, _pad(noise, atom_graph, local, num_graphs, size, fill=1.0)

    def _exact(self, mixture, mixing, dt, frames, new_frames, prior_var, noise, real, y, num_obs, names) -> Conditioned:
        """Exact conditioning on frames 0..T-1, forecast at the consecutive integer frames ``new_frames`` (H',).

        The frames of a window are evenly spaced and every kernel is stationary, so block (i, j) of
        the covariance, ``sum_q a_iq a_jq K_q(t - t')``, depends on the lag only: the LMC sum is done
        once per lag (``_lag_covariances``), and the blocks are gathered from it (block Toeplitz),
        instead of evaluating every kernel at every pair of times and summing the (S T)^2 matrix
        over the S processes. Without autograd on the CPU (forecasting), ``lagged.lagged_condition``
        writes each matrix once into the buffer LAPACK factors in place.
        """
        batch, size, horizon = mixing.shape[0], mixing.shape[1], new_frames.shape[0]
        first = int(new_frames[0])
        lagged = _lag_covariances(mixture, mixing, dt, first + horizon)  # (B, S, S, L)
        prior = prior_var if real is None else torch.where(real, prior_var, torch.zeros_like(prior_var))
        prior_new = prior[:, :, None].expand(-1, -1, horizon).flatten(1).clamp(min=1e-300)
        if lagged_usable(lagged):
            result = lagged_condition(lagged, noise, y, prior_new, num_obs, frames, first, horizon)
            if result is not None:
                return result
        obs = torch.arange(frames, device=new_frames.device)
        cov_obs = _toeplitz_blocks(lagged, frames)
        cov_obs.diagonal(dim1=-2, dim2=-1).add_(noise[:, :, None].expand(-1, -1, frames).flatten(1))  # padded atoms: 1, identity rows
        cov_cross = _gather_blocks(lagged, _block_toeplitz_index(size, lagged.shape[-1], new_frames, obs)).reshape(batch, size * horizon, size * frames)
        return exact_condition(cov_obs, y, cov_cross, prior_new, num_obs, names)

    def _rff(self, mixture, mixing, t_obs, t_new, noise_rows, y, num_obs, names) -> Conditioned:
        phi_obs = mixture.rff_features(t_obs, self.rff_eps)  # (B, S, T, F) per latent process
        phi_new = mixture.rff_features(t_new, self.rff_eps)
        # feature of observation (i, t) on weight (q, f): a_iq phi_qf(t)
        obs = torch.einsum("biq,bqtf->bitqf", mixing, phi_obs).flatten(3).flatten(1, 2)
        new = torch.einsum("biq,bqtf->bitqf", mixing, phi_new).flatten(3).flatten(1, 2)
        return rff_condition(obs, y, noise_rows, new, num_obs, names)


def _lag_covariances(mixture: SpectralMixture, mixing: Tensor, dt: Tensor, lags: int) -> Tensor:
    """(B, S, S, L): ``sum_q a_iq a_jq K_q(k dt_b)`` for lags k = 0..L-1; ``mixture`` (B, S, Q'),
    ``mixing`` (B, S, S) [output atom, process], ``dt`` (B,) fs."""
    tau = torch.arange(lags, dtype=torch.float64, device=dt.device)[None, None, :] * dt[:, None, None]  # (B, 1, L)
    kernels = mixture.kernel(tau)  # (B, S, L): one per latent process
    # sum_q (a_iq a_jq) K_q: a plain batched matmul (a three-operand einsum spends longer choosing its path)
    pair_weights = mixing[:, :, None, :] * mixing[:, None, :, :]  # (B, S, S, Q)
    return torch.matmul(pair_weights, kernels[:, None])  # (B, S, S, Q) @ (B, 1, Q, L)


def _toeplitz_blocks(lagged: Tensor, frames: int) -> Tensor:
    """(B, S, S, L >= T) lag covariances -> the (B, S T, S T) covariance of frames 0..T-1, entry
    ``[(i, s), (j, t)] = lagged[i, j, |s - t|]``, from views (a Hankel matrix by ``unfold``, its rows
    reversed) and the final copy. (A gather with a cached index, as for the forecast block, costs
    the same; its backward sums the gradients in another order, which changes training at round-off.)"""
    batch, size = lagged.shape[:2]
    symmetric = torch.cat([lagged[..., 1:frames].flip(-1), lagged[..., :frames]], -1)  # [m] = lagged[|m - (T - 1)|]
    hankel = symmetric.unfold(-1, frames, 1)  # (B, S, S, T, T): [k, t] = symmetric[k + t]
    return hankel.flip(-2).permute(0, 1, 3, 2, 4).reshape(batch, size * frames, size * frames)  # row s: k = T - 1 - s


@functools.lru_cache(maxsize=32)
@torch.inference_mode(False)  # kept across calls: must stay usable by autograd even if first made under inference_mode
def _toeplitz_index_cached(size: int, lags: int, rows: tuple[int, ...], cols: tuple[int, ...], device: str) -> Tensor:
    r = torch.tensor(rows, device=device)
    c = torch.tensor(cols, device=device)
    lag = (r[:, None] - c[None, :]).abs()  # (R, T)
    i = torch.arange(size, device=device)[:, None, None, None]
    j = torch.arange(size, device=device)[None, None, :, None]
    return ((i * size + j) * lags + lag[None, :, None, :]).reshape(-1)  # (S R S T,) into the flat (S, S, L)


def _block_toeplitz_index(size: int, lags: int, rows: Tensor, cols: Tensor) -> Tensor:
    """Flat index into (S, S, L) lag covariances giving the (S, R, S, T) blocks ``[i, r, j, t] -> [i, j, |rows_r - cols_t|]``.
    Cached (it depends on the sizes only: the same for every window of a molecule)."""
    return _toeplitz_index_cached(size, lags, tuple(rows.tolist()), tuple(cols.tolist()), str(rows.device))


def _gather_blocks(lagged: Tensor, index: Tensor) -> Tensor:
    """(B, S, S, L) lag covariances, a ``_block_toeplitz_index`` -> (B, S R S T) flat covariance entries."""
    return lagged.reshape(lagged.shape[0], -1).index_select(1, index)


def _unpad(values: Tensor, atom_graph: Tensor, local: Tensor) -> Tensor:
    """(B, S, ...) per graph -> (N, ...) per atom, the inverse of ``_pad`` (a view when nothing was padded)."""
    if values.shape[0] * values.shape[1] == atom_graph.shape[0]:
        return values.flatten(0, 1)
    return values[atom_graph, local]


def _pad(values: Tensor, atom_graph: Tensor, local: Tensor, num_graphs: int, size: int, fill: float = 0.0) -> Tensor:
    """(N, ...) per atom -> (B, S, ...) per graph, padded with ``fill``."""
    if values.shape[0] == num_graphs * size:  # graphs of equal size (one window, say): nothing to pad, a view
        return values.reshape(num_graphs, size, *values.shape[1:])
    out = values.new_full((num_graphs, size, *values.shape[1:]), fill)
    return out.index_put((atom_graph, local), values)
