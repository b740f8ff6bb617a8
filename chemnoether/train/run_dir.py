"""A training run reopened: its model, its resolved recipe and the same windows (for evaluation, learned MD).

``chemnoether train`` leaves ``config.yaml`` (the resolved recipe) and ``best.pt`` / ``last.pt``
in the run directory. The recipe's ``data:`` section rebuilds exactly the windows the model was
trained and validated on (generation and splits are deterministic), so the test split here is the
one the run never saw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from chemnoether.errors import ConfigError
from chemnoether.train.checkpoint import find_checkpoint, load_model
from chemnoether.train.config import CONFIG_NAME, load_recipe
from chemnoether.train.recipe_data import DataOptions, windows_from_options

SPLITS = ("train", "val", "test")
DEVICES = ("cpu", "cuda", "auto")


@dataclass
class OpenedRun:
    """What evaluation needs of a run: model (eval mode), recipe, checkpoint and one split's windows."""

    run_dir: Path
    checkpoint: Path
    recipe: object  # chemnoether.train.Recipe, data section as DataOptions
    model: torch.nn.Module
    windows: object  # PairWindows of ``split``
    split: str
    device: torch.device

    @property
    def trajectory(self):
        return self.windows.trajectory

    @property
    def topology(self):
        return self.windows.topology

    @property
    def step_fs(self) -> float:
        """Time of one model step (one window), fs."""
        return self.windows.delta * self.windows.dt_fs

    @property
    def model_kind(self) -> str:
        kind = getattr(self.model, "kind", None)
        return kind or str(self.recipe.model.get("kind", type(self.model).__name__))


def open_run(run_dir: str | os.PathLike, *, which: str = "best", split: str = "test", device: str = "cpu") -> OpenedRun:
    """Load the model and recipe of ``run_dir`` and rebuild the windows of ``split``.

    Raises ``CheckpointError`` (no ``best.pt`` / ``last.pt``) or ``ConfigError`` (no
    ``config.yaml``, a bad split or device), each naming the path or value at fault.
    """
    from chemnoether.noether.recipe import TailoringSection  # lazy: keeps e3nn out of `import chemnoether.train`

    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(
            f"run directory {run_dir} does not exist (or is not a directory); pass the -o folder of `chemnoether train`"
        )
    checkpoint = find_checkpoint(run_dir, which)  # CheckpointError naming run_dir when there is none
    config = run_dir / CONFIG_NAME
    if not config.is_file():
        raise ConfigError(
            f"{config} not found: evaluation rebuilds the run's data from the resolved recipe that "
            "`chemnoether train` writes there; copy the recipe used for training to that path"
        )
    torch_device = resolve_device(device)
    recipe = load_recipe(config, schemas={"data": DataOptions, "tailoring": TailoringSection})
    model = load_model(checkpoint, torch_device, which=which)
    splits = windows_from_options(recipe.data, progress=False)
    return OpenedRun(run_dir, checkpoint, recipe, model, getattr(splits, split), split, torch_device)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` (refused without one) or ``"auto"`` (CUDA when present)."""
    if isinstance(device, torch.device):
        return device
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but torch sees no CUDA device; use 'cpu' or 'auto'")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters()), torch.float32)


def true_states(windows, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (Å) and velocities (Å/fs) of the graph's atoms at ``frames`` (any shape), float64.

    Velocities as the windows feed them to the model: the trajectory's own, or forward
    differences ``(x[t + 1] - x[t]) / dt_fs`` (so ``t + 1`` must be a frame too).
    """
    traj, atoms = windows.trajectory, windows.topology.atom_index
    frames = np.asarray(frames, dtype=np.int64)
    pos = traj.positions[frames][..., atoms, :]
    if windows.velocity == "trajectory":
        vel = traj.velocities[frames][..., atoms, :]
    else:
        vel = (traj.positions[frames + 1][..., atoms, :] - pos) / windows.dt_fs
    return pos, vel


def steps_of_room(windows, starts: np.ndarray) -> np.ndarray:
    """(len(starts),) model steps after each start for which the trajectory has true frames."""
    extra = 1 if windows.velocity == "forward_difference" else 0
    last_usable = windows.trajectory.n_frames - 1 - extra
    return np.maximum((last_usable - np.asarray(starts, dtype=np.int64)) // windows.delta, 0)
