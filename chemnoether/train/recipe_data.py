"""The ``data:`` section of a recipe run by ``chemnoether train``: a trajectory and its windows.

The trajectory is read (``trajectory:``, a file ``read_trajectory`` reads or a folder written by
``chemnoether md generate``) or generated on the spot (``molecule:``, MMFF94 MD of ``n_steps``);
its windows are split leakage-free (``split: time_block``) or as the MD17 benchmark does
(``split: md17``). Recipes with other data write their own script and call ``fit`` directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from ase.io.formats import ioformats
from rdkit import Chem

from chemnoether.core.typecheck import coerce_fields, suggestion
from chemnoether.data import load_generated, md17_protocol_windows, read_trajectory, time_block_windows
from chemnoether.data.md_chunks import MANIFEST_NAME
from chemnoether.data.molecules import resolve_molecule
from chemnoether.data.readers import NPZ_FORMATS
from chemnoether.errors import ConfigError
from chemnoether.simulation import generate_md


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
    dt_fs: float | None = None  # fs between frames of data.trajectory, for files that do not say (plain .xyz)
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
        if self.dt_fs is not None and not (math.isfinite(self.dt_fs) and self.dt_fs > 0):
            raise ConfigError(f"data.dt_fs must be a positive number of fs, got {self.dt_fs!r}")
        if self.dt_fs is not None and self.molecule is not None:
            raise ConfigError("data.dt_fs is the time step of a data.trajectory file; generated MD takes data.md_dt_fs")


@dataclass(frozen=True)
class DataPlan:
    """What ``windows_from_options`` will do, found without reading or generating any frame."""

    description: str
    smiles: str | None = None  # the molecule, when the recipe names it
    elements: list[int] | None = None  # its atomic numbers, hydrogens included


def check_data_plan(options: DataOptions) -> DataPlan:
    """``ConfigError`` (or ``InvalidMoleculeError``) for data that cannot be had; else the plan."""
    if options.molecule is not None:
        name, smiles = resolve_molecule(options.molecule)
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        elements = sorted({atom.GetAtomicNum() for atom in mol.GetAtoms()})
        return DataPlan(f"generate {options.n_steps} {options.potential} MD steps of {name}, {options.split} split", smiles, elements)

    path = Path(options.trajectory)
    fix = "pass it with --set data.trajectory=PATH (a trajectory file, or a folder of `chemnoether md generate`)"
    if not path.exists():
        raise ConfigError(f"data.trajectory {path} does not exist; {fix}")
    if path.is_dir():
        if not (path / MANIFEST_NAME).is_file():
            raise ConfigError(f"data.trajectory {path} is a folder without {MANIFEST_NAME}, not one of `chemnoether md generate`; {fix}")
        return DataPlan(f"read the generated trajectory in {path}, {options.split} split")
    if options.format is not None:
        _check_read_format(options.format)
    return DataPlan(f"read {path}, {options.split} split")


def _check_read_format(name: str) -> None:
    readable = [*NPZ_FORMATS, *sorted(key for key, fmt in ioformats.items() if fmt.can_read)]
    if name not in readable:
        raise ConfigError(f"data.format {name!r}{suggestion(name, readable)} is not a trajectory format; leave it out to guess from the file")


def windows_from_options(options: DataOptions, progress: bool = False):
    """``WindowSplits`` (train, val, test, split) of the recipe's trajectory."""
    check_data_plan(options)  # the same checks as `chemnoether train --check`
    if options.molecule is not None:
        traj = generate_md(options.molecule, options.n_steps, dt_fs=options.md_dt_fs, potential=options.potential,
                           temperature_K=options.temperature_K, seed=options.md_seed, progress=progress)
    elif Path(options.trajectory).is_dir():
        traj = load_generated(options.trajectory)
    else:
        traj = read_trajectory(options.trajectory, options.format, dt_fs=options.dt_fs)
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
