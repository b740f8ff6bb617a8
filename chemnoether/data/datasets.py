"""Train / val / test window datasets of one trajectory, as the recipes use them.

* ``md17_protocol_windows``: the GMN / EGNO MD17 benchmark (docs/design.md section 9): heavy atoms,
  the 1.6 Å + 2-hop graph, forward-difference velocities, target 3000 frames later, 500 / 2000 /
  2000 windows from ``md17_protocol_split``. Comparable with published numbers; its splits
  overlap in time.
* ``time_block_windows``: windows (or rollouts) from ``time_block_split``: no window of one split
  shares a frame with a window of another.

Both build the graph topology once and share it between the three datasets.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from chemnoether.data.splits import (
    MD17_DELTA,
    MD17_DRAW_FRACTIONS,
    MD17_SEED,
    MD17_SIZES,
    Split,
    md17_protocol_split,
    time_block_split,
)
from chemnoether.data.topology import Topology, topology_for
from chemnoether.data.trajectory import Trajectory
from chemnoether.data.windows import PairWindows, RolloutWindows


class WindowSplits(NamedTuple):
    """Train, val and test window datasets, and the start frames they were cut at."""

    train: PairWindows | RolloutWindows
    val: PairWindows | RolloutWindows
    test: PairWindows | RolloutWindows
    split: Split


def md17_protocol_windows(
    traj: Trajectory,
    *,
    seed: int = MD17_SEED,
    delta: int = MD17_DELTA,
    sizes: tuple[int, int, int] = MD17_SIZES,
    draw_fractions: tuple[float, float, float] | None = MD17_DRAW_FRACTIONS,
    graph: str | Topology = "md17",
    velocity: str = "forward_difference",
    dtype: torch.dtype = torch.float32,
) -> WindowSplits:
    """The MD17 benchmark's windows of ``traj`` (heavy atoms only); see ``md17_protocol_split``.

    ``velocity="forward_difference"`` is the benchmark's ``x[t + 1] - x[t]``, here divided by
    ``dt_fs`` (Å/fs); pass ``"trajectory"`` to use the trajectory's own velocities instead.
    """
    split = md17_protocol_split(traj.n_frames, seed, delta=delta, sizes=sizes, draw_fractions=draw_fractions)
    topology = topology_for(traj, graph, heavy_atoms=True, dtype=dtype)
    windows = [PairWindows(traj, delta, starts, topology, heavy_atoms=True, velocity=velocity, dtype=dtype) for starts in split]
    return WindowSplits(*windows, split)


def time_block_windows(
    traj: Trajectory,
    delta: int,
    *,
    horizon: int = 1,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    gap: int | None = None,
    seed: int | None = None,
    n_blocks: int = 1,
    stride: int = 1,
    graph: str | Topology = "smiles",
    heavy_atoms: bool = False,
    cutoff: float | None = None,
    velocity: str = "trajectory",
    dtype: torch.dtype = torch.float32,
) -> WindowSplits:
    """Leakage-free windows: ``PairWindows`` (``horizon=1``) or ``RolloutWindows`` per split.

    Split arguments as ``time_block_split`` (the span is the windows' own), window arguments as
    ``PairWindows`` / ``RolloutWindows``.
    """
    topology = topology_for(traj, graph, heavy_atoms=heavy_atoms, cutoff=cutoff, dtype=dtype)
    options = {"heavy_atoms": heavy_atoms, "velocity": velocity, "dtype": dtype}

    def windows(starts):
        if horizon == 1:
            return PairWindows(traj, delta, starts, topology, **options)
        return RolloutWindows(traj, delta, horizon, starts, topology, **options)

    span = windows([]).span  # checks delta, horizon, velocity before splitting
    split = time_block_split(traj.n_frames, span, fractions, gap=gap, seed=seed, n_blocks=n_blocks, stride=stride)
    return WindowSplits(*(windows(starts) for starts in split), split)
