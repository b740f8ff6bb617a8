"""Training the spectral GP node head on windows of MD trajectories.

A *series* is a trajectory's velocities (Å/fs) kept every ``stride``-th frame (``dt_fs = stride *
trajectory dt``); a *window* is ``config.window`` consecutive frames of it, conditioned on, and the
``config.horizon`` frames after it are what the head forecasts, per atom and Cartesian component.
Velocities, not positions: their spectrum is the vibrational density of states that
``chemnoether.gp.spectra`` measures, so the head's densities can be checked against the trajectory.

Node features (invariant, per atom), ``config.features``:

* ``"graph"``: the RDKit atom features (``keys.NODE_ATTRS``: element, degree, hybridisation, ...)
  next to the mean of those of the bonded neighbours, so that an H on a C differs from an H on an
  O. Fixed per molecule: the head then predicts one density per atom, the natural reading of a
  spectrum. Alone it generalises worst to held-out molecules: an RDKit label of an atom kind the
  head never saw (an amide N) maps to a confident but wrong variance.
* ``"equivariant"``: ``EquivariantDynamics.node_scalars`` of the state at the window's last
  observed frame (invariants of positions and velocities), the encoder trained jointly or frozen
  (``freeze_encoder``; pass a trained model to ``GPNodeModel(encoder=...)``).
* ``"both"`` (the default): the two concatenated, the interaction network's embeddings next to
  the atom's chemical labels (chosen on the validation molecules; the comparison is in
  ``benchmarks/README.md``, "Spectral-density GP node heads").
* ``"window"``: none of the above, only the window statistics below (cheapest, no encoder).
* plus, with ``window_lags > 0``, ``window_autocorrelation`` of the observed window itself
  (invariant dot products of each atom's velocities at lags 0..lags-1): the head then knows how
  strongly each atom moves in this window, which graph features cannot tell, and its forecast
  variances follow (an amortised version of what the per-window GPyTorch fit does by optimising).

The encoder's input is built per window from a copy of the molecule's topology made once by
``prepare_molecule`` (``MoleculeSeries.encoder_input``), not a DGL graph per call; the encoder is
called through its public ``node_scalars``. Without autograd (forecasting) a batch's windows of
one molecule share one encoder call, and the head conditions straight from its lag covariances
(``lagged``); both equal the autograd path to round-off.

LMC edges (``lmc_edges``): the bonds, with the bond order as edge feature, so bonded atoms share
processes (a C-H stretch moves both atoms). Loss (``config.loss``): ``"marginal"`` (the window's
negative log marginal likelihood), ``"predictive"`` (the Gaussian NLL of the forecast frames) or
``"both"`` (their sum, the default), both per value in the head's normalised units: the marginal
likelihood alone leaves the forecasts overconfident at the later horizon frames. Training draws
``windows_per_step`` windows per step, molecules uniformly, starts uniformly; seeded.

Why a loop of its own rather than ``chemnoether.train.fit``: ``fit`` trains on a fixed dataset of
DGL graphs, collated into ``GraphTensors`` batches and sharded across processes; a head's step
instead draws random windows of several molecules' velocity series, each a whole block of frames
whose marginal likelihood is one term, so there is no dataset of graphs to batch or shard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from chemnoether import keys
from chemnoether.data import GraphTensors, PairWindows
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import ConfigError
from chemnoether.gp.head import (
    GPForecast,
    SpectralGPHead,
    negative_log_marginal_likelihood,
)
from chemnoether.gp.spectral import SpectralMixture
from chemnoether.models import EquivariantDynamics

FEATURE_SOURCES = ("graph", "equivariant", "both", "window")
LOSSES = ("marginal", "predictive", "both")
ENCODER_ELEMENTS = (1, 6, 7, 8, 9, 15, 16, 17)  # H C N O F P S Cl: test molecules may bring new ones


@dataclass
class HeadConfig:
    """Everything that defines a training run (the recipe's ``head`` section)."""

    stride: int = 4  # trajectory frames per series frame (0.5 fs MD -> 2 fs: Nyquist 8339 cm^-1)
    window: int = 32  # frames conditioned on
    horizon: int = 4  # frames forecast
    features: str = "both"
    window_lags: int = 16  # > 0: add the observed window's autocorrelation at this many lags (see below)
    freeze_encoder: bool = False
    encoder: dict = field(default_factory=lambda: {"channels": 16, "layers": 1})  # EquivariantDynamics options
    loss: str = "both"
    num_components: int = 8  # per-atom density components
    graph_components: int = 1  # whole-graph interaction components
    lmc_edges: bool = True
    evolve: bool = False  # densities advanced one DensityEvolution step per forecast frame (SpectralGPHead(evolve=True))
    hidden: int = 64
    steps: int = 1200
    windows_per_step: int = 4
    lr: float = 1e-2
    seed: int = 0
    log_every: int = 25

    def __post_init__(self):
        if self.features not in FEATURE_SOURCES or self.loss not in LOSSES:
            raise ConfigError(f"features={self.features!r}, loss={self.loss!r}: choose from {FEATURE_SOURCES} and {LOSSES}")
        if min(self.stride, self.window, self.horizon, self.steps, self.windows_per_step, self.log_every) < 1:
            raise ConfigError("stride, window, horizon, steps, windows_per_step, log_every must all be >= 1")
        if not 0 <= self.window_lags < self.window or (self.features == "window" and not self.window_lags):
            raise ConfigError(f"window_lags={self.window_lags}: need 0 <= window_lags < window={self.window} (> 0 with features='window')")


@dataclass
class MoleculeSeries:
    """One trajectory, ready for windows."""

    name: str
    velocities: Tensor  # (F, N, 3) float64 | every stride-th frame, Å/fs
    dt_fs: float  # fs between consecutive series frames
    stride: int
    attrs: Tensor  # (N, 2 F_atom) float64 | atom features and the mean over bonded neighbours
    bond_index: Tensor  # (2, E) int64 | bonds, both directions, [src, dst]
    bond_order: Tensor  # (E, 1) float64
    atomic_numbers: np.ndarray  # (N,) int64
    states: PairWindows  # one graph per trajectory frame (pos, vel, radius edges) for the encoder
    _encoder_templates: dict = field(default_factory=dict, repr=False, compare=False)  # batch size -> (GraphTensors, pairs)

    def encoder_input(self, frames: Sequence[int]) -> GraphTensors:
        """The encoder's input at trajectory ``frames``: equal to ``GraphTensors.from_graph(states.batch(frames))``
        in every field the encoder reads (positions, velocities, the near edges within the cutoff in
        the same order), built from a cached copy of the topology instead of a DGL graph per call."""
        frames = [int(f) for f in frames]
        if len(frames) not in self._encoder_templates:
            self._encoder_templates[len(frames)] = self._encoder_template(frames)
        template, pairs = self._encoder_templates[len(frames)]
        trajectory = self.states.trajectory
        dtype = template.atom[keys.POS].dtype
        pos = torch.as_tensor(trajectory.positions[frames], dtype=dtype).flatten(0, 1)
        vel = torch.as_tensor(trajectory.velocities[frames], dtype=dtype).flatten(0, 1)
        near = pairs[:, (pos[pairs[1]] - pos[pairs[0]]).norm(dim=1) < self.states.topology.cutoff]
        return dataclasses.replace(
            template,
            # the template's next-frame fields belong to its own frames: dropped, the encoder reads the state only
            atom={**{k: v for k, v in template.atom.items() if k not in (keys.NEXT_POS, keys.NEXT_VEL)}, keys.POS: pos, keys.VEL: vel},
            near_index=near,
            near={keys.EDGE_SHIFT: pos.new_zeros(near.shape[1], 3)},
        )

    @torch.inference_mode(False)  # cached: must stay usable by autograd even if first made under inference_mode
    def _encoder_template(self, frames: list[int]) -> tuple[GraphTensors, Tensor]:
        """A batch of ``len(frames)`` copies of the topology, and every ordered atom pair of each copy."""
        template = GraphTensors.from_graph(self.states.batch(frames))
        n = len(self.atomic_numbers)
        src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        keep = src != dst
        one = torch.stack([src[keep], dst[keep]])  # sorted by src then dst, as radius_edges: the same edge order
        return template, torch.cat([one + b * n for b in range(len(frames))], 1)

    def num_starts(self, config: HeadConfig) -> int:
        """How many windows (with their forecast frames) fit in the series."""
        return self.velocities.shape[0] - config.window - config.horizon + 1

    def window(self, start: int, config: HeadConfig) -> tuple[Tensor, Tensor]:
        """``(window (N, T, 3), future (N, H, 3))`` starting at series frame ``start``."""
        if not 0 <= start < self.num_starts(config):
            raise ConfigError(f"{self.name}: window start {start} outside 0..{self.num_starts(config) - 1}")
        frames = self.velocities[start : start + config.window + config.horizon].transpose(0, 1)
        return frames[:, : config.window], frames[:, config.window :]


def prepare_molecule(trajectory: Trajectory, stride: int, name: str | None = None) -> MoleculeSeries:
    """A ``MoleculeSeries`` of a trajectory with velocities and a SMILES in its metadata (``generate_md``'s)."""
    if trajectory.velocities is None:
        raise ConfigError(f"{trajectory._where()}: no velocities; the GP head forecasts velocities")
    dt = trajectory.require_consecutive("GP head windows")
    states = PairWindows(trajectory, 1, np.arange(trajectory.n_frames - 1), graph="smiles", cutoff=5.0, dtype=torch.float64)
    first = GraphTensors.from_graph(states[0])
    if not torch.equal(first.atom[keys.POS], torch.as_tensor(trajectory.positions[0], dtype=torch.float64)):
        raise ConfigError(f"{trajectory._where()}: the SMILES graph orders the atoms differently from the trajectory")
    attrs = first.atom[keys.NODE_ATTRS].to(torch.float64)
    src, dst = first.bond_index
    neighbour_sum = torch.zeros_like(attrs).index_add_(0, dst, attrs[src])
    degree = torch.zeros(attrs.shape[0], dtype=torch.float64).index_add_(0, dst, torch.ones_like(dst, dtype=torch.float64))
    series = MoleculeSeries(
        name=name or trajectory.metadata.get("name", "molecule"),
        velocities=torch.as_tensor(trajectory.velocities[::stride], dtype=torch.float64),
        dt_fs=dt * stride,
        stride=stride,
        attrs=torch.cat([attrs, neighbour_sum / degree.clamp(min=1)[:, None]], 1),
        bond_index=first.bond_index,
        bond_order=first.bond[keys.BOND_ORDER].to(torch.float64)[:, None],
        atomic_numbers=np.asarray(trajectory.atomic_numbers),
        states=states,
    )
    series.encoder_input([0])  # the one-window topology template: a constant of the molecule, made once here
    return series


class GPNodeModel(nn.Module):
    """Node features (``config.features``) -> ``SpectralGPHead``; ``forward`` forecasts a batch of windows."""

    def __init__(self, config: HeadConfig, attr_width: int, encoder: EquivariantDynamics | None = None):
        super().__init__()
        self.config = config
        width = (attr_width if config.features in ("graph", "both") else 0) + config.window_lags
        self.encoder = None
        if config.features in ("equivariant", "both"):
            with _default_dtype(torch.float64):  # e3nn builds its constants in the default dtype
                self.encoder = encoder or EquivariantDynamics(ENCODER_ELEMENTS, **config.encoder)
            self.encoder.requires_grad_(not config.freeze_encoder)
            width += self.encoder.irreps_hidden.count("0e")
        self.head = SpectralGPHead(
            width,
            edge_features=1 if config.lmc_edges else 0,
            num_components=config.num_components,
            graph_components=config.graph_components,
            hidden=config.hidden,
            evolve=config.evolve,
        )
        self.double()

    def features(self, molecule: MoleculeSeries, starts: Sequence[int]) -> list[Tensor]:
        """Per window, the (N, F) node features."""
        parts = [[molecule.attrs] * len(starts)] if self.config.features in ("graph", "both") else []
        if self.encoder is not None:
            last = [(s + self.config.window - 1) * molecule.stride for s in starts]  # the last observed frame
            scalars = self.encoder.node_scalars(molecule.encoder_input(last))
            parts.append(list(scalars.split([len(molecule.atomic_numbers)] * len(starts))))
        if self.config.window_lags:
            parts.append([window_autocorrelation(molecule.window(s, self.config)[0], self.config.window_lags) for s in starts])
        return [torch.cat(columns, 1) for columns in zip(*parts, strict=True)]

    def forward(self, items: Sequence[tuple[MoleculeSeries, int]]) -> tuple[GPForecast, Tensor]:
        """Forecast the windows ``(molecule, start)`` as one batch: ``(forecast, future (N, H, 3))``."""
        cfg = self.config
        windows, futures, edges, edge_attrs, graph_of, names = [], [], [], [], [], []
        offset = 0
        features = self._batch_features(items)
        for b, (molecule, start) in enumerate(items):
            window, future = molecule.window(start, cfg)
            windows.append(window)
            futures.append(future)
            edges.append(molecule.bond_index + offset if offset else molecule.bond_index)
            edge_attrs.append(molecule.bond_order)
            graph_of.append(torch.full((window.shape[0],), b, dtype=torch.long))
            names.append(f"{molecule.name} window at frame {start}")
            offset += window.shape[0]
        forecast = self.head(
            _join(features),
            _join(windows),
            torch.tensor([m.dt_fs for m, _ in items], dtype=torch.float64),
            cfg.horizon,
            edge_index=_join(edges, 1) if cfg.lmc_edges else None,
            edge_features=_join(edge_attrs) if cfg.lmc_edges else None,
            atom_graph=_join(graph_of),
            num_graphs=len(items),
            graph_names=names,
        )
        return forecast, _join(futures)

    def _batch_features(self, items: Sequence[tuple[MoleculeSeries, int]]) -> list[Tensor]:
        """``features`` of every item, in order. With autograd one encoder call per window: grouping
        a molecule's windows into one call is faster, but changes the training's round-off, which
        1200 steps amplify into a different model (the recipe's results moved by more than the
        goals' margins). Without it (forecasting) one call per molecule: equal to round-off."""
        if torch.is_grad_enabled() or len(items) == 1:
            return [f for molecule, start in items for f in self.features(molecule, [start])]
        groups: dict[int, list[int]] = {}
        for k, (molecule, _) in enumerate(items):
            groups.setdefault(id(molecule), []).append(k)
        out: list[Tensor | None] = [None] * len(items)
        for positions in groups.values():
            molecule = items[positions[0]][0]
            for k, f in zip(positions, self.features(molecule, [items[k][1] for k in positions]), strict=True):
                out[k] = f
        return out

    def loss(self, forecast: GPForecast, future: Tensor, atom_graph: Tensor) -> Tensor:
        """``config.loss`` per value, normalised units."""
        marginal = negative_log_marginal_likelihood(forecast)
        if self.config.loss == "marginal":
            return marginal
        predictive = normalised_predictive_nll(forecast, future, atom_graph)
        return predictive if self.config.loss == "predictive" else marginal + predictive


def _join(parts: list[Tensor], dim: int = 0) -> Tensor:
    """``torch.cat(parts, dim)``, without a copy when there is one contiguous part (a single window;
    contiguous like cat's output, so that reductions over it sum in the same order)."""
    return parts[0].contiguous() if len(parts) == 1 else torch.cat(parts, dim)


def window_autocorrelation(window: Tensor, lags: int) -> Tensor:
    """(N, lags) invariant statistics of each atom's observed window (N, T, 3): ``log(c_i(0) / mean_j c_j(0))``
    and ``c_i(k) / c_i(0)`` for k = 1..lags-1, where ``c_i(k)`` is the mean over t of ``v_i(t) . v_i(t + k)``
    of the atom's centred signal. Dot products: unchanged by rotations and reflections (and by
    translations, which velocities do not see); per atom, so permutation equivariant. They tell the
    head how strongly and at which frequencies each atom moves in this window (the amplitude the
    graph features alone cannot know), the role the per-window fit plays in the GPyTorch baseline.
    """
    centred = window.to(torch.float64) - window.mean(1, keepdim=True)
    frames = centred.shape[1]
    gram = centred @ centred.transpose(1, 2)  # (N, T, T): v(t) . v(u)
    acf = gram.flatten(1) @ _lag_means(frames, lags).to(gram.device)  # (N, lags): every lag in one product
    power = acf[:, :1].clamp(min=1e-30)
    return torch.cat([torch.log(power / power.mean()), acf[:, 1:] / power], 1)


@functools.lru_cache(maxsize=8)
@torch.inference_mode(False)  # cached: must stay usable by autograd even if first made under inference_mode
def _lag_means(frames: int, lags: int) -> Tensor:
    """(T T, lags) weights whose product with a flattened Gram matrix averages its k-th upper diagonal."""
    weights = torch.zeros(lags, frames, frames, dtype=torch.float64)
    for k in range(lags):
        t = torch.arange(frames - k)
        weights[k, t, t + k] = 1.0 / (frames - k)
    return weights.flatten(1).T


def normalised_predictive_nll(forecast: GPForecast, future: Tensor, atom_graph: Tensor) -> Tensor:
    """Mean Gaussian NLL of ``future`` (N, H, C) in each graph's normalised units (divided by its
    ``forecast.scale``), so that molecules of different temperatures weigh alike."""
    unit = forecast.scale[atom_graph][:, None, None]
    residual = (future - forecast.mean) / unit
    var = forecast.var_components / unit**2
    return 0.5 * (torch.log(2 * math.pi * var) + residual.pow(2) / var).mean()


def train_head(
    molecules: Sequence[MoleculeSeries],
    config: HeadConfig,
    *,
    log: Callable[[str], None] | None = print,
    encoder: EquivariantDynamics | None = None,
) -> tuple[GPNodeModel, list[dict]]:
    """Train a ``GPNodeModel`` on windows of ``molecules``; returns it and one history row per log line."""
    if not molecules:
        raise ConfigError("train_head: no training molecules")
    short = [m.name for m in molecules if m.num_starts(config) < 1]
    if short:
        raise ConfigError(f"{short}: series shorter than window + horizon = {config.window + config.horizon} frames")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = GPNodeModel(config, molecules[0].attrs.shape[1], encoder)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    history, running, start_time = [], [], time.perf_counter()
    for step in range(1, config.steps + 1):
        picks = rng.integers(len(molecules), size=config.windows_per_step)
        items = [(molecules[i], int(rng.integers(molecules[i].num_starts(config)))) for i in picks]
        forecast, future = model(items)
        graph_of = torch.repeat_interleave(torch.arange(len(items)), torch.tensor([m.velocities.shape[1] for m, _ in items]))
        loss = model.loss(forecast, future, graph_of)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)  # one ill-conditioned window must not throw the densities
        optimizer.step()
        running.append(float(loss.detach()))
        if step % config.log_every == 0 or step == config.steps:
            row = {"step": step, "loss": float(np.mean(running)), "seconds": time.perf_counter() - start_time}
            history.append(row)
            running = []
            if log is not None:
                log(f"gp head step {step}/{config.steps}: loss {row['loss']:.4f} ({config.loss}, per value), {row['seconds']:.1f} s")
    return model, history


@torch.no_grad()
def predicted_mixture(model: GPNodeModel, molecule: MoleculeSeries, starts: Sequence[int]) -> SpectralMixture:
    """(N, W N Q') each atom's predicted output density, averaged over the windows at ``starts``.

    With LMC edges atom i's signal is ``sum_q a_iq u_q``, so its density is ``sum_q a_iq^2 S_q``
    (the graph term is inside each S_q): a Gaussian mixture again, whose components are those of
    the processes feeding i, weighted by ``a_iq^2``. Weights in normalised units (the shapes and
    peak positions are what compare with a trajectory's spectrum). With graph features every
    window gives the same density; with the encoder's they follow the state.
    """
    head, n = model.head, len(molecule.atomic_numbers)
    atom_graph, local = torch.zeros(n, dtype=torch.long), torch.arange(n)
    edges = (molecule.bond_index, molecule.bond_order) if model.config.lmc_edges else (None, None)
    parts = []
    for features in model.features(molecule, starts):
        mixture = head.mixtures(features, atom_graph, 1).to(torch.float64)
        # the head's LMC weights (B, S, S) [output atom, process] (same package, private API)
        mixing, _, _ = head._mixing(features, *edges, mixture, atom_graph, local, 1, n)
        weight = mixing[0].pow(2)[:, :, None] / len(starts)  # (N, N, 1)
        parts.append(SpectralMixture(
            alpha=(weight * mixture.alpha[None]).flatten(1),
            mu=mixture.mu[None].expand(n, -1, -1).flatten(1),
            sigma=mixture.sigma[None].expand(n, -1, -1).flatten(1),
        ))
    return functools.reduce(SpectralMixture.cat, parts)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
