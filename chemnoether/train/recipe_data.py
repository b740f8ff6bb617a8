"""The ``data:`` section of a recipe run by ``chemnoether train``: a trajectory and its windows.

The trajectory is read (``trajectory:``, a file ``read_trajectory`` reads or a folder written by
``chemnoether md generate``) or generated on the spot (``molecule:``, MMFF94 MD of ``n_steps``);
its windows are split leakage-free (``split: time_block``) or as the MD17 benchmark does
(``split: md17``). Recipes with other data write their own script and call ``fit`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from chemnoether.errors import ConfigError
from chemnoether.core.typecheck import coerce_fields


@dataclass
class DataOptions:
    """Where the frames come from, and how they are cut into train / val / test windows.

    ``delta``, ``graph`` and ``velocity`` left unset take the split's defaults: the benchmark's
    (3000 frames, ``"md17"``, ``"forward_difference"``) for ``md17``, else 1, ``"smiles"``,
    ``"trajectory"``. ``fractions``, ``split_seed``, ``heavy_atoms`` and ``cutoff`` are for
    ``time_block`` only (the benchmark fixes them).
    """

    trajectory: str | None = None
    format: str | None = None
    molecule: str | None = None
    n_steps: int = 2000
    md_dt_fs: float = 0.5
    temperature_K: float = 300.0
    md_seed: int = 0
    potential: Literal["mmff", "gfn2"] = "mmff"
    split: Literal["time_block", "md17"] = "time_block"
    delta: int | None = None
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int | None = None
    graph: Literal["smiles", "md17", "radius"] | None = None
    heavy_atoms: bool = False
    cutoff: float | None = None
    velocity: Literal["trajectory", "forward_difference"] | None = None
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self):
        coerce_fields(self, "data")
        if (self.trajectory is None) == (self.molecule is None):
            raise ConfigError("data needs exactly one of data.trajectory (a file or folder) and data.molecule (to generate)")
        if len(self.fractions) != 3:
            raise ConfigError(f"data.fractions must be three numbers (train, val, test), got {self.fractions}")


def windows_from_options(options: DataOptions, progress: bool = False):
    """``WindowSplits`` (train, val, test, split) of the recipe's trajectory."""
    from chemnoether.data import (  # noqa: PLC0415 - RDKit and friends only when a run starts
        generate_md,
        load_generated,
        md17_protocol_windows,
        read_trajectory,
        time_block_windows,
    )

    if options.molecule is not None:
        traj = generate_md(options.molecule, options.n_steps, dt_fs=options.md_dt_fs, potential=options.potential,
                           temperature_K=options.temperature_K, seed=options.md_seed, progress=progress)
    elif Path(options.trajectory).is_dir():
        traj = load_generated(options.trajectory)
    else:
        traj = read_trajectory(options.trajectory, options.format)
    dtype = torch.float64 if options.dtype == "float64" else torch.float32
    given = {k: v for k, v in (("delta", options.delta), ("graph", options.graph), ("velocity", options.velocity))
             if v is not None}
    if options.split == "md17":
        return md17_protocol_windows(traj, dtype=dtype, **given)
    given = {"delta": 1, "graph": "smiles", "velocity": "trajectory", **given}
    return time_block_windows(
        traj, given.pop("delta"), fractions=tuple(options.fractions), seed=options.split_seed,
        heavy_atoms=options.heavy_atoms, cutoff=options.cutoff, dtype=dtype, **given,
    )
