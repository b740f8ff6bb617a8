"""Frames that ``ase.io`` reads (``.traj``, extxyz, FHI-aims output, ...) as a ``Trajectory``.

ASE gives positions in Å, energies in eV and forces in eV/Å already; its velocities are in
Å per ASE time unit, so they are multiplied by ``ase.units.fs`` to give Å/fs. Frames are taken as
consecutive; the time step comes from the ``dt_fs`` argument, else from the file (``atoms.info``
keys ``dt_fs``, per-frame ``time_fs`` in fs or ``time`` in ASE units as ASE's CASTEP reader writes,
or an FHI-aims output's "Molecular dynamics time step"), else it is unknown (``None``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from ase import units
from ase.data import atomic_masses
from ase.io import read
from ase.io.formats import filetype, ioformats

from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import TrajectoryFormatError

_ASE_UNITS_NOTE = "positions Å, energies eV, forces eV/Å as ase.io gives them; velocities from ASE units × ase.units.fs"
_AIMS_UNITS_NOTE = "positions Å, energies eV, forces eV/Å; velocities: FHI-aims prints Å/ps, divided by 1000"
# FHI-aims prints velocities in Å/ps, one "velocity vx vy vz" line under each atom of an MD step
_AIMS_VELOCITY_LINE = re.compile(r"^\s*velocity\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.MULTILINE)
_AIMS_TIME_STEP = re.compile(r"Molecular dynamics time step\s*=\s*(\S+)\s*ps")


def read_ase_frames(path: Path, format: str | None, dt_fs: float | None) -> Trajectory:  # noqa: A002
    """Every frame of ``path`` that ``ase.io.read(path, ":", format=...)`` returns, in chemnoether units."""
    format_name = _ase_format(path, format)
    frames = _read_all(path, format_name, guessed=format is None)
    numbers = _fixed_atoms(path, frames)
    cell, pbc = _fixed_cell(path, frames)
    aims = format_name == "aims-output"
    metadata = {"source": str(path), "format": format_name, "units": _AIMS_UNITS_NOTE if aims else _ASE_UNITS_NOTE}
    masses = frames[0].get_masses()
    if not np.allclose(masses, _standard_masses(numbers), rtol=1e-12, atol=0):
        metadata["masses"] = masses.tolist()  # the run's own masses: kinetic energies must use them
    dt, consecutive, dt_source = _time_step(path, format_name, frames, dt_fs)
    if dt_source is not None:
        metadata["dt_source"] = dt_source
    return Trajectory(
        atomic_numbers=numbers,
        positions=np.stack([atoms.positions for atoms in frames]).astype(np.float64),
        velocities=_velocities(path, format_name, frames),
        forces=_calculated(path, frames, "forces"),
        energies=_calculated(path, frames, "energy"),
        cell=cell,
        pbc=pbc,
        dt_fs=dt,
        consecutive=consecutive,
        metadata=metadata,
    )


def _ase_format(path: Path, format: str | None) -> str:  # noqa: A002
    if format is None:
        try:
            guess = filetype(str(path))
        except Exception as err:  # UnknownFileTypeError, or an unreadable file
            guess = f"none ({type(err).__name__}: {err})"
        if guess not in ioformats or not ioformats[guess].can_read:  # filetype may return a bare extension
            raise TrajectoryFormatError(
                f"{path}: ase.io cannot tell its format (its guess: {guess}); pass format= "
                "('md17', 'rmd17', 'chemnoether' or an ase.io format such as 'extxyz', 'traj', 'aims-output')"
            )
        return guess
    if format not in ioformats or not ioformats[format].can_read:
        raise TrajectoryFormatError(
            f"{path}: format {format!r} is not supported; use 'md17', 'rmd17', 'chemnoether' or a format "
            "ase.io can read (e.g. 'extxyz', 'traj', 'aims-output'; see ase.io.formats.ioformats)"
        )
    return format


def _read_all(path: Path, format_name: str, guessed: bool) -> list:
    how = f"as {format_name!r}" + (" (ase.io's guess; pass format= if it is wrong)" if guessed else "")
    try:
        frames = read(str(path), ":", format=format_name)
    except Exception as err:  # every ase.io reader fails in its own way
        raise TrajectoryFormatError(f"{path}: ase.io could not read it {how} ({type(err).__name__}: {err})") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise TrajectoryFormatError(f"{path}: ase.io read no frames from it {how}")
    return frames


def _fixed_atoms(path: Path, frames: list) -> np.ndarray:
    numbers = frames[0].numbers
    for index, atoms in enumerate(frames):
        if not np.array_equal(atoms.numbers, numbers):
            raise TrajectoryFormatError(
                f"{path}: frame {index} has atoms {atoms.symbols} where frame 0 has {frames[0].symbols}; "
                "a trajectory keeps the same atoms in the same order"
            )
    return numbers


def _fixed_cell(path: Path, frames: list) -> tuple[np.ndarray | None, np.ndarray]:
    cell, pbc = frames[0].cell.array, frames[0].pbc
    for index, atoms in enumerate(frames):
        if not np.allclose(atoms.cell.array, cell, rtol=0, atol=1e-10) or not np.array_equal(atoms.pbc, pbc):
            raise TrajectoryFormatError(
                f"{path}: the cell or pbc changes at frame {index}; variable cells (NPT) are not supported"
            )
    return (cell.astype(np.float64) if cell.any() else None), pbc


def _standard_masses(numbers: np.ndarray) -> np.ndarray:
    return atomic_masses[np.clip(numbers, 0, len(atomic_masses) - 1)]  # unknown Z: Trajectory refuses it


def _per_frame(path: Path, frames: list, values: list, what: str) -> list | None:
    """``values`` when every frame has one, ``None`` when none has, an error naming a frame otherwise."""
    present = [value is not None for value in values]
    if not any(present):
        return None
    if not all(present):
        raise TrajectoryFormatError(f"{path}: frame {present.index(False)} has no {what} but frame {present.index(True)} has")
    return values


def _calculated(path: Path, frames: list, key: str) -> np.ndarray | None:
    # the stored results only: get_potential_energy() on a live calculator would start a calculation
    values = [None if atoms.calc is None else atoms.calc.results.get(key) for atoms in frames]
    values = _per_frame(path, frames, values, key)
    return None if values is None else np.asarray(values, dtype=np.float64)


def _velocities(path: Path, format_name: str, frames: list) -> np.ndarray | None:
    values = [atoms.get_velocities() if atoms.has("momenta") else None for atoms in frames]
    values = _per_frame(path, frames, values, "velocities")
    if values is None:
        return None
    velocities = np.asarray(values, dtype=np.float64)
    if format_name == "aims-output":
        return velocities * _aims_velocity_unit(path, velocities)
    return velocities * units.fs


def _aims_velocity_unit(path: Path, velocities: np.ndarray) -> float:
    """Å/fs per unit of the velocities ASE parsed from an FHI-aims output.

    ASE 3.29's ``aims-output`` reader keeps the Å/ps numbers FHI-aims prints as if they were ASE
    units (its ``geometry.in`` reader converts them); a fixed ASE would convert. Finding a parsed
    velocity among the printed numbers, as is or converted, tells which, so neither misreads by 1000.
    """
    printed = np.array(_AIMS_VELOCITY_LINE.findall(path.read_text(errors="replace")), dtype=np.float64)
    rows = velocities.reshape(-1, 3)
    moving = rows[np.abs(rows).max(axis=1) > 0]
    if moving.size == 0:
        return units.fs  # all at rest: any unit gives zero
    probe = moving[0]
    one_angstrom_per_ps = units.Ang / (1000.0 * units.fs)  # in ASE velocity units
    if printed.size and np.isclose(printed, probe, rtol=1e-9, atol=0).all(axis=1).any():
        return 1e-3  # Å/ps -> Å/fs
    if printed.size and np.isclose(printed * one_angstrom_per_ps, probe, rtol=1e-9, atol=0).all(axis=1).any():
        return units.fs
    raise TrajectoryFormatError(f"{path}: cannot tell the units of the velocities ase.io parsed from this FHI-aims output")


def _time_step(path: Path, format_name: str, frames: list, dt_fs: float | None):
    """(dt_fs, consecutive, where dt_fs came from) from the argument, ``atoms.info`` or the file."""
    if dt_fs is not None:
        return dt_fs, True, "dt_fs argument"
    info = frames[0].info
    if "dt_fs" in info:
        return _number(path, info["dt_fs"], "atoms.info['dt_fs']"), True, "atoms.info['dt_fs']"
    times = _frame_times_fs(path, frames)
    if times is not None and len(times) >= 2:
        gaps = np.diff(times)
        if np.allclose(gaps, gaps[0], rtol=1e-6, atol=0):
            return float(gaps[0]), True, "differences of the frame times in atoms.info"
        return None, False, "the frame times in atoms.info are unevenly spaced: frames are not consecutive"
    if format_name == "aims-output":
        match = _AIMS_TIME_STEP.search(path.read_text(errors="replace"))
        if match:
            return 1000.0 * _number(path, match.group(1), "the MD time step"), True, "FHI-aims 'Molecular dynamics time step'"
    return None, True, None


def _frame_times_fs(path: Path, frames: list) -> np.ndarray | None:
    for key, fs_per_unit in (("time_fs", 1.0), ("time", 1.0 / units.fs)):
        if all(key in atoms.info for atoms in frames):
            return np.array([_number(path, atoms.info[key], f"atoms.info[{key!r}]") for atoms in frames]) * fs_per_unit
    return None


def _number(path: Path, value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TrajectoryFormatError(f"{path}: {what} is {value!r}, not a number") from None
