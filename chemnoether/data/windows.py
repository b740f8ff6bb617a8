"""Learning samples cut from a trajectory: a state and the states ``delta`` frames later.

``PairWindows`` yields one graph per start frame ``t``: the system at ``t`` (``pos``, ``vel``)
and its state at ``t + delta`` as targets (``next_pos``, ``next_vel``), with ``dt = delta * dt_fs``
on the system node. ``RolloutWindows`` adds the states at ``t + k * delta`` for ``k = 1..H``
(``rollout_pos``, ``rollout_vel``). Both are ``torch.utils.data.Dataset``s of DGL graphs:

* one at a time: ``DataLoader(windows, batch_size=32, collate_fn=chemnoether.data.collate_graphs)``;
* built batch-wise (faster: one graph construction per batch): ``window_loader(windows, 32)``,
  or ``windows.batch(indices)`` for a batched ``DGLGraph``.

The graph (bonds, rings, fixed edges, features) is a ``Topology`` built once per trajectory;
pass the same one to the train, val and test windows of a trajectory to build it only once.

Velocities are the trajectory's own (``velocity="trajectory"``, Å/fs) or, as in the GMN / EGNO
MD17 benchmark, forward differences ``(x[t + 1] - x[t]) / dt_fs`` (``"forward_difference"``), which
need one frame more at the end of every window.

Where the trajectory has them, each window also carries the potential energy (system ``energy``,
eV) and forces (atom ``forces``, eV/Å) of its input state, the labels of a learned energy.

``augmented(windows, ...)`` gives training-only variants of the same windows (docs/design.md section 11):
time-reversed copies (a time-reversed window of NVE data is a valid window: the end state with
negated velocities evolves into the start state with negated velocities), Gaussian noise on the
input state (targets untouched, so the model learns to step back onto the trajectory), and
rollout targets of ``horizon`` steps for a multi-step loss, on the same start frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import copy

import dgl
import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.data.topology import _NUMPY_FLOAT, Topology, topology_for
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import ConfigError, TrajectoryFormatError
from chemnoether.featurize.assemble import build_batched_graph, build_graph

VELOCITY_SOURCES = ("trajectory", "forward_difference")
_SHOWN_STARTS = 5


class _Windows(Dataset):
    """Windows of ``horizon`` steps of ``delta`` frames; see ``PairWindows`` / ``RolloutWindows``."""

    def __init__(self, traj, delta, horizon, starts, graph, heavy_atoms, cutoff, velocity, dtype, rollout):
        self.dt_fs = traj.require_consecutive("windows of a time step")
        self.delta = _positive_int(delta, "delta")
        self.horizon = _positive_int(horizon, "horizon")
        if velocity not in VELOCITY_SOURCES:
            raise ConfigError(f"velocity must be one of {VELOCITY_SOURCES}, got {velocity!r}")
        if velocity == "trajectory" and traj.velocities is None:
            raise TrajectoryFormatError(
                f"{traj._where()} has no velocities; pass velocity='forward_difference' to use "
                "(x[t + 1] - x[t]) / dt_fs, as the MD17 benchmark does"
            )
        self.velocity = velocity
        self.trajectory = traj
        self.topology = topology_for(traj, graph, heavy_atoms=heavy_atoms, cutoff=cutoff, dtype=dtype)
        self.starts = _checked_starts(starts, traj.n_frames, self.span, self._span_text())
        self._rollout = rollout
        self._float = _NUMPY_FLOAT[self.topology.dtype]
        # all atoms: a slice, so no copy is made when gathering frames
        index = self.topology.atom_index
        self._atoms = slice(None) if np.array_equal(index, np.arange(traj.n_atoms)) else index
        # augmentation (``augmented``): per window, whether it runs backwards in time; input noise
        self._reversed = np.zeros(len(self.starts), dtype=bool)
        self._noise: tuple[float, float] | None = None
        self._rng: np.random.Generator | None = None

    @property
    def span(self) -> int:
        """Frames from a window's start to the last frame it reads (the window covers span + 1)."""
        return self.delta * self.horizon + (1 if self.velocity == "forward_difference" else 0)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index) -> dgl.DGLGraph:
        i = self._checked_index(index)
        pos, atom_data, system_data = self._sample_arrays(self.starts[i : i + 1], self._reversed[i : i + 1])
        return build_graph(
            self.topology.graph_parts(
                pos[0], {k: v[0] for k, v in atom_data.items()}, {k: v[:1] for k, v in system_data.items()}
            )
        )

    def batch(self, indices: Sequence[int]) -> dgl.DGLGraph:
        """Windows ``indices`` as one batched graph, built in one piece (equal to ``dgl.batch``)."""
        picked = np.array([self._checked_index(i) for i in indices], dtype=np.int64)
        if not len(picked):
            raise ConfigError("batch() needs at least one window index")
        pos, atom_data, system_data = self._sample_arrays(self.starts[picked], self._reversed[picked])
        return build_batched_graph(self.topology.batch_parts(pos, atom_data, system_data))

    def frame_indices(self) -> np.ndarray:
        """(len, H + 1) frames of every window: ``start + k * delta`` for ``k = 0..H`` (reversed: backwards)."""
        frames = self.starts[:, None] + self.delta * np.arange(self.horizon + 1)
        return np.where(self._reversed[:, None], frames[:, ::-1], frames)

    def _sample_arrays(self, starts: np.ndarray, reversed_: np.ndarray):
        """Per-window arrays for ``starts`` (B,): pos (B, N, 3), atom data (B, N, ...), system (B, ...)."""
        frames = starts[:, None] + self.delta * np.arange(self.horizon + 1)  # (B, H + 1)
        # a reversed window visits the same frames backwards (``augmented`` allows it for
        # trajectory velocities only, which then change sign)
        frames = np.where(reversed_[:, None], frames[:, ::-1], frames)
        positions = self.trajectory.positions
        pos = positions[frames][:, :, self._atoms]  # (B, H + 1, N, 3)
        if self.velocity == "trajectory":
            vel = self.trajectory.velocities[frames][:, :, self._atoms]
            vel = np.where(reversed_[:, None, None, None], -vel, vel)
        else:
            vel = (positions[frames + 1][:, :, self._atoms] - pos) / self.dt_fs
        labels = self._labels(frames[:, 0])
        if self._noise is not None:
            pos, vel, labels = self._noisy_inputs(pos, vel, labels)
        # the radius graph is searched in float64 whatever the dtype, so it does not depend on it
        search_pos = pos[:, 0]
        pos, vel = pos.astype(self._float), vel.astype(self._float)
        atom_data = {keys.POS: pos[:, 0], keys.VEL: vel[:, 0], keys.NEXT_POS: pos[:, 1], keys.NEXT_VEL: vel[:, 1]}
        if self._rollout:
            atom_data[keys.ROLLOUT_POS] = np.ascontiguousarray(pos[:, 1:].transpose(0, 2, 1, 3))
            atom_data[keys.ROLLOUT_VEL] = np.ascontiguousarray(vel[:, 1:].transpose(0, 2, 1, 3))
        system_data = {keys.DT: np.full(len(starts), self.delta * self.dt_fs, dtype=self._float)}
        if keys.FORCES in labels:
            atom_data[keys.FORCES] = labels[keys.FORCES].astype(self._float)
        if keys.ENERGY in labels:
            system_data[keys.ENERGY] = labels[keys.ENERGY].astype(self._float)
        atom_data = {k: np.ascontiguousarray(v) for k, v in atom_data.items()}
        return search_pos, atom_data, system_data

    def _labels(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Energy (B,) and forces (B, N, 3) of the input frames, those the trajectory has."""
        labels = {}
        if self.trajectory.energies is not None:
            labels[keys.ENERGY] = self.trajectory.energies[frames]
        # forces of a subset of atoms (heavy atoms only) are not the gradient of any energy of them
        if self.trajectory.forces is not None and isinstance(self._atoms, slice):
            labels[keys.FORCES] = self.trajectory.forces[frames]
        return labels

    def _noisy_inputs(self, pos: np.ndarray, vel: np.ndarray, labels: dict):
        """The input state (index 0) with Gaussian noise; targets, and forces, unchanged.

        The velocity noise has no net momentum (its mass-weighted mean is removed), so that a model
        that conserves momentum can still reach the clean targets. The energy label moves to first
        order with the positions (``E - F . noise``); forces keep their clean values (the error is
        second order in the noise).
        """
        position_noise, velocity_noise = self._noise
        shape = pos[:, 0].shape
        d_pos = self._rng.normal(scale=position_noise, size=shape) if position_noise else np.zeros(shape)
        d_vel = self._rng.normal(scale=velocity_noise, size=shape) if velocity_noise else np.zeros(shape)
        masses = np.asarray(self.topology.template.atom_data[keys.MASSES], dtype=np.float64)[None, :, None]
        d_vel = d_vel - (masses * d_vel).sum(axis=1, keepdims=True) / masses.sum(axis=1, keepdims=True)
        pos, vel = pos.copy(), vel.copy()
        pos[:, 0] += d_pos
        vel[:, 0] += d_vel
        labels = dict(labels)
        if keys.ENERGY in labels and keys.FORCES in labels:
            labels[keys.ENERGY] = labels[keys.ENERGY] - (labels[keys.FORCES] * d_pos).sum(axis=(1, 2))
        elif keys.ENERGY in labels and position_noise:
            del labels[keys.ENERGY]  # without forces the label cannot follow the displaced atoms
        return pos, vel, labels

    def _checked_index(self, index) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"window index must be an integer, got {type(index).__name__}: {index!r}")
        n = len(self.starts)
        if not -n <= index < n:
            raise IndexError(f"window {index} is out of range for {n} windows")
        return int(index) % n

    def _span_text(self) -> str:
        text = f"delta={self.delta}" + (f" x horizon={self.horizon}" if self.horizon > 1 else "")
        return text + (" + 1 for forward-difference velocities" if self.velocity == "forward_difference" else "")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} windows, delta={self.delta} frames = {self.delta * self.dt_fs:g} fs, "
            f"horizon={self.horizon}, graph={self.topology.kind!r}, atoms={self.topology.num_atoms})"
        )


class PairWindows(_Windows):
    """State ``t`` -> state ``t + delta`` for every start frame ``t`` in ``starts``.

    Each item is a graph with atom data ``pos``, ``vel`` (at t), ``next_pos``, ``next_vel`` (at
    t + delta), the topology's features and masses, and system ``dt = delta * dt_fs`` (fs).

    Args:
        traj: a trajectory of consecutive frames (``traj.consecutive``; rMD17-like subsamples are
            refused) with a known ``dt_fs``.
        delta: frames between input and target, >= 1.
        starts: start frames; every window must end inside the trajectory.
        graph: ``"smiles"``, ``"md17"``, ``"radius"`` (see ``chemnoether.data.topology``), or a
            ``Topology`` built for this trajectory (shared between splits).
        heavy_atoms: drop hydrogens from the graph, positions, velocities and targets.
        cutoff: radius of a per-frame ``near`` graph, Å (``"radius"``: default 5; ``"smiles"``:
            none unless given; ``"md17"``: not allowed, its near edges are the benchmark's).
        velocity: ``"trajectory"`` or ``"forward_difference"`` (module docstring).
        dtype: torch.float32 or torch.float64 for positions, velocities, masses, dt.
    """

    def __init__(
        self,
        traj: Trajectory,
        delta: int,
        starts: Sequence[int] | np.ndarray,
        graph: str | Topology = "smiles",
        *,
        heavy_atoms: bool = False,
        cutoff: float | None = None,
        velocity: str = "trajectory",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(traj, delta, 1, starts, graph, heavy_atoms, cutoff, velocity, dtype, rollout=False)


class RolloutWindows(_Windows):
    """State ``t`` -> states ``t + delta, ..., t + horizon * delta``: targets for rollouts.

    As ``PairWindows``, plus ``rollout_pos`` and ``rollout_vel`` of shape (N, horizon, 3);
    ``next_pos`` / ``next_vel`` are their first step, and ``dt`` is one step (``delta * dt_fs``).
    """

    def __init__(
        self,
        traj: Trajectory,
        delta: int,
        horizon: int,
        starts: Sequence[int] | np.ndarray,
        graph: str | Topology = "smiles",
        *,
        heavy_atoms: bool = False,
        cutoff: float | None = None,
        velocity: str = "trajectory",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(traj, delta, horizon, starts, graph, heavy_atoms, cutoff, velocity, dtype, rollout=True)


def augmented(
    windows: _Windows,
    *,
    time_reversal: bool = False,
    position_noise: float = 0.0,
    velocity_noise: float = 0.0,
    horizon: int | None = None,
    seed: int = 0,
) -> _Windows:
    """Training variants of ``windows`` (module docstring); ``windows`` itself is unchanged.

    Args:
        time_reversal: add the time reversal of every window (twice as many windows; the reversed
            copy of window ``i`` is window ``len(windows) + i``). Needs trajectory velocities.
        position_noise: Å, standard deviation of Gaussian noise on the input positions.
        velocity_noise: Å/fs, the same for the input velocities (without net momentum).
        horizon: steps of rollout targets (``RolloutWindows``); the start frames whose ``horizon``
            steps stay inside the frames ``windows`` already covers are kept, so no frame of
            another split is reached. ``None``: as ``windows``.
        seed: of the noise (drawn afresh at every access, reproducibly in order of access).
    """
    for name, value in (("position_noise", position_noise), ("velocity_noise", velocity_noise)):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")):
            raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
    if time_reversal and windows.velocity != "trajectory":
        raise ConfigError(
            "time_reversal needs the trajectory's own velocities: forward differences of a reversed "
            "window would be backward differences, another quantity (use velocity='trajectory')"
        )
    if np.any(windows._reversed):
        raise ConfigError("these windows are already augmented; augment the plain windows once")
    starts = windows.starts
    if horizon is None or _positive_int(horizon, "horizon") == windows.horizon:
        result = copy.copy(windows)
    else:
        covered = set((starts[:, None] + np.arange(windows.span + 1)).reshape(-1).tolist())
        need = windows.delta * horizon + (1 if windows.velocity == "forward_difference" else 0)
        starts = np.array([s for s in starts.tolist() if all(s + j in covered for j in range(need + 1))], dtype=np.int64)
        if not len(starts):
            raise ConfigError(f"no start frame of these windows has {horizon} steps of {windows.delta} frames inside them")
        topology = windows.topology  # shared: the graph is not built again
        options = {"heavy_atoms": topology.heavy_atoms, "velocity": windows.velocity, "dtype": topology.dtype}
        result = (RolloutWindows(windows.trajectory, windows.delta, horizon, starts, topology, **options) if horizon > 1
                  else PairWindows(windows.trajectory, windows.delta, starts, topology, **options))
    result._reversed = np.zeros(len(starts), dtype=bool)
    if time_reversal:
        starts = np.concatenate([starts, starts])
        result._reversed = np.repeat([False, True], len(starts) // 2)
    result.starts = starts
    result._noise = (float(position_noise), float(velocity_noise)) if position_noise or velocity_noise else None
    result._rng = np.random.default_rng(seed)
    return result


def window_loader(
    windows: _Windows,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    drop_last: bool = False,
    **loader_options,
) -> DataLoader:
    """A ``DataLoader`` of ``GraphTensors`` batches, each built in one piece by ``windows.batch``.

    ``seed`` fixes the shuffling order; ``loader_options`` go to ``DataLoader`` (``num_workers``,
    ``pin_memory``, ...). Equal to ``DataLoader(windows, batch_size, collate_fn=collate_graphs)``
    with the same order, and several times faster for small molecules.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    if shuffle:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        order = RandomSampler(range(len(windows)), generator=generator)
    else:
        order = SequentialSampler(range(len(windows)))
    # batch_size=None: the sampler hands whole index lists to the dataset, which batches them
    sampler = BatchSampler(order, batch_size=batch_size, drop_last=drop_last)
    return DataLoader(_Batches(windows), batch_size=None, sampler=sampler, **loader_options)


class _Batches(Dataset):
    """Index lists of a windows dataset -> ``GraphTensors`` (what ``window_loader`` iterates)."""

    def __init__(self, windows: _Windows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, indices: list[int]) -> GraphTensors:
        return GraphTensors.from_graph(self.windows.batch(indices))


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def _checked_starts(starts, n_frames: int, span: int, span_text: str) -> np.ndarray:
    array = np.asarray(starts)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ConfigError(f"starts must be a 1-D sequence of whole frame numbers, got {array.dtype} of shape {array.shape}")
    array = array.astype(np.int64)
    negative = array[array < 0]
    if negative.size:
        raise ConfigError(f"start frames must be >= 0, got {negative[:_SHOWN_STARTS].tolist()}")
    late = array[array + span > n_frames - 1]
    if late.size:
        first = int(late[0])
        raise ConfigError(
            f"{late.size} window(s) run past the end of the trajectory: the one starting at frame {first} "
            f"needs frames up to {first + span} ({span_text}), but the trajectory has {n_frames} frames "
            f"(0-{n_frames - 1}); starts must be <= {n_frames - 1 - span} (late starts: "
            f"{late[:_SHOWN_STARTS].tolist()}{' ...' if late.size > _SHOWN_STARTS else ''})"
        )
    return array
