"""Where learned MD starts: an ``ase.Atoms``, any ``ase.io`` file, a SMILES, or ``test:K``.

``resolve_start`` turns any of them into (B, N, 3) positions (Å) and velocities (Å/fs) of the
run's graph atoms, one row per replica:

* ``Atoms`` or a file (xyz, extxyz, .traj, ...; its last frame): its velocities for every replica
  when it has some (ASE momenta), else Maxwell-Boltzmann velocities at ``temperature_K`` drawn per
  replica (zero net momentum);
* a SMILES: embedded (seeded ETKDG, MMFF94 minimum; ``generate.prepare_molecule``), its atoms put
  in the order of the run's molecule (a substructure match), velocities drawn per replica;
* ``test:K`` or ``test:K:S``: test windows K, K + S, ..., K + (B - 1) S of the run (S = 1 by
  default), with their true velocities.

Velocities are drawn per replica, so replicas of one structure differ; copies of a start with
velocities differ only through a thermostat's noise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.io import read
from rdkit import Chem

from chemnoether.errors import ConfigError, InvalidMoleculeError, InvalidStructureError
from chemnoether.simulation.generate import prepare_molecule
from chemnoether.simulation.integrators import maxwell_boltzmann_velocities
from chemnoether.train.run_dir import true_states

TEST_PREFIX = "test:"


def resolve_start(start, run, *, replicas: int, temperature_K: float | None, rng: np.random.Generator, seed: int = 0):
    """``(positions, velocities, numbers, description)`` of ``replicas`` starts (module docstring).

    ``run`` is an ``OpenedRun`` of the test split (``chemnoether.train.run_dir.open_run``).
    """
    if isinstance(replicas, bool) or not isinstance(replicas, (int, np.integer)) or replicas < 1:
        raise ConfigError(f"replicas={replicas!r} must be a whole number >= 1")
    masses = run.trajectory.masses[run.topology.atom_index]
    if isinstance(start, str) and start.startswith(TEST_PREFIX):
        return _test_windows(start, run, replicas)
    if isinstance(start, Atoms):
        atoms, description = start, "the Atoms given"
    elif isinstance(start, (str, os.PathLike)) and Path(start).is_file():
        atoms, description = _read_last_frame(Path(start)), f"file {start}"
    elif isinstance(start, str):
        atoms, description = _embedded(start, run, seed), f"SMILES {start!r}"
    else:
        raise ConfigError(
            f"start={start!r}: give an ase.Atoms, a structure file (xyz, extxyz, .traj, ...), a SMILES, or 'test:K'"
        )
    numbers = atoms.get_atomic_numbers()
    positions = np.repeat(atoms.get_positions()[None], replicas, axis=0)
    has_velocities = atoms.has("momenta") and np.any(atoms.get_momenta() != 0)
    if has_velocities:
        velocities = np.repeat((atoms.get_velocities() * units.fs)[None], replicas, axis=0)  # ASE units -> Å/fs
    else:
        if temperature_K is None:
            raise ConfigError(
                f"{description} has no velocities: give a temperature (temperature_K / --temperature) to draw "
                "Maxwell-Boltzmann velocities, or a start that carries them (extxyz / .traj with momenta)"
            )
        if len(numbers) != len(masses):  # check_start names the mismatch; draw nothing for it
            velocities = np.zeros_like(positions)
        else:
            velocities = np.stack([maxwell_boltzmann_velocities(masses, temperature_K, rng) for _ in range(replicas)])
    return positions, velocities, numbers, description


def _test_windows(start: str, run, replicas: int):
    text = start[len(TEST_PREFIX):]
    n_windows = len(run.windows)
    try:
        first, stride = (int(part) for part in (text.split(":") if ":" in text else (text, "1")))
    except ValueError:
        raise ConfigError(f"start={start!r}: expected test:K or test:K:S, window K (0 to {n_windows - 1}) every S windows") from None
    last = first + (replicas - 1) * stride
    if stride < 1 or not 0 <= first <= last < n_windows:
        raise ConfigError(
            f"start={start!r} with {replicas} replica(s) needs test windows {first} to {last} (every {stride}), but the "
            f"run's test split has {n_windows} (0 to {n_windows - 1}); choose a smaller K or S, or fewer replicas"
        )
    frames = run.windows.starts[first:last + 1:stride]
    positions, velocities = true_states(run.windows, frames)
    numbers = run.trajectory.atomic_numbers[run.topology.atom_index]
    return positions, velocities, numbers, f"test windows {first}-{last} (frames {frames.tolist()})"


def _read_last_frame(path: Path) -> Atoms:
    try:
        atoms = read(path, index=-1)
    except Exception as err:  # ase.io raises many types for a file it cannot parse
        raise InvalidStructureError(f"{path}: ase.io cannot read a structure from it ({type(err).__name__}: {err})") from None
    if isinstance(atoms, list):
        atoms = atoms[-1]
    if len(atoms) == 0:
        raise InvalidStructureError(f"{path}: the structure has no atoms")
    return atoms


def _embedded(smiles: str, run, seed: int) -> Atoms:
    """The SMILES embedded and minimised, atoms in the run's molecule order when the run has one."""


    if Chem.MolFromSmiles(smiles) is None:
        raise InvalidMoleculeError(f"start {smiles!r} is neither an existing file nor a SMILES RDKit can parse")
    mol = prepare_molecule(smiles, seed)
    positions = mol.GetConformer().GetPositions()
    numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()])
    run_smiles = run.trajectory.metadata.get("smiles")
    heavy_only = run.topology.heavy_atoms
    if run_smiles:
        template = Chem.MolFromSmiles(run_smiles)
        template = template if heavy_only else Chem.AddHs(template)
        size = int((numbers > 1).sum()) if heavy_only else len(numbers)
        match = mol.GetSubstructMatch(template) if template.GetNumAtoms() == size else ()
        if not match:
            raise InvalidStructureError(
                f"SMILES {smiles!r} is not the run's molecule {run_smiles!r}: the model's graph is that molecule; "
                "start from its SMILES, a structure of it, or test:K"
            )
        order = np.asarray(match)  # run atom i is atom order[i] of the embedded molecule
        positions, numbers = positions[order], numbers[order]
    elif heavy_only:
        keep = numbers > 1
        positions, numbers = positions[keep], numbers[keep]
    return Atoms(numbers=numbers, positions=positions)
