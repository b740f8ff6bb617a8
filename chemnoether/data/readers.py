"""Read trajectories from MD17, rMD17, chemnoether ``.npz`` and anything ``ase.io`` reads.

Every reader converts to chemnoether's units (docs/design.md section 4) and returns a ``Trajectory``;
every fault in the input is a ``TrajectoryFormatError`` that names the file and the key or frame.

Layouts:

- ``"md17"``: the sGDML ``.npz`` files of MD17 (Chmiela et al., Sci. Adv. 3, e1603015, 2017):
  keys ``z``, ``R`` (T, N, 3) Å, ``E`` (T, 1) kcal/mol, ``F`` (T, N, 3) kcal/mol/Å, and sometimes
  ``name``, ``theory``, ``md5``, ``type``. The DFT trajectories were recorded at 0.5 fs a frame
  (500 K), so frames are consecutive at 0.5 fs unless ``dt_fs`` says otherwise. (The CCSD(T)
  train/test files share the layout but are subsamples: mark them with
  ``dataclasses.replace(trajectory, consecutive=False)``.)
- ``"rmd17"``: revised MD17 (Christensen and von Lilienfeld, 2020): ``nuclear_charges``, ``coords``,
  ``energies``, ``forces`` in kcal/mol, and ``old_indices`` (the MD17 frame each one was taken from).
  A random subsample of 100k frames: never consecutive, so no velocities are derived.
- ``"chemnoether"``: what ``Trajectory.save`` writes (an ``.npz`` with a ``header``).
- any ``ase.io`` format name (``"extxyz"``, ``"traj"``, ``"aims-output"``, ...).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import units

from chemnoether.data._ase_frames import read_ase_frames
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import TrajectoryFormatError

__all__ = ["KCAL_PER_MOL_IN_EV", "MD17_DT_FS", "NPZ_FORMATS", "read_trajectory", "velocities_from_positions"]

KCAL_PER_MOL_IN_EV = units.kcal / units.mol  # 0.0433641 eV
MD17_DT_FS = 0.5  # Chmiela et al. 2017: MD17 frames are 0.5 fs apart
NPZ_FORMATS = ("md17", "rmd17", "chemnoether")
_KCAL_NOTE = "energies and forces converted from kcal/mol and kcal/mol/Å (1 kcal/mol = 0.0433641 eV)"
_DERIVED_NOTE = "derived from positions: central differences inside, one-sided at the first and last frame"


def read_trajectory(
    path: str | os.PathLike,
    format: str | None = None,  # noqa: A002 - the name ase.io uses
    *,
    dt_fs: float | None = None,
    derive_velocities: bool = True,
) -> Trajectory:
    """Read ``path`` as a ``Trajectory`` in Å, fs, Å/fs, eV and eV/Å.

    ``format``: ``"md17"``, ``"rmd17"``, ``"chemnoether"`` or an ``ase.io`` format; ``None`` infers it
    (an ``.npz`` from its keys, anything else with ``ase.io``'s guess). ``dt_fs``: the time between
    frames in fs, overriding what the file says. ``derive_velocities``: when the file has no velocities
    but the frames are consecutive with a known time step, compute them from the positions
    (``velocities_derived=True``); otherwise ``velocities`` stays ``None``.
    """
    path = Path(path)
    if format is not None and not isinstance(format, str):
        raise TrajectoryFormatError(f"{path}: format must be a string or None, got {format!r}")
    if dt_fs is not None:
        dt_fs = _positive_time_step(path, dt_fs)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such trajectory file")
    if format in NPZ_FORMATS or (format is None and _is_npz(path)):
        trajectory = _read_npz(path, format, dt_fs)
    else:
        trajectory = read_ase_frames(path, format, dt_fs)
    if derive_velocities:
        trajectory = _with_derived_velocities(trajectory)
    return trajectory


def velocities_from_positions(positions: np.ndarray, dt_fs: float) -> np.ndarray:
    """(T, N, 3) velocities, Å/fs, of consecutive frames ``dt_fs`` apart (T >= 2).

    Central differences inside (a constant velocity comes back up to rounding, second order otherwise; for a
    velocity-Verlet run they reproduce its velocities at the inner frames), one-sided differences
    at the two ends.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape[0] < 2:
        raise ValueError(f"need at least two frames to derive velocities, got {positions.shape[0]}")
    velocities = np.empty_like(positions)
    velocities[1:-1] = (positions[2:] - positions[:-2]) / (2.0 * dt_fs)
    velocities[0] = (positions[1] - positions[0]) / dt_fs
    velocities[-1] = (positions[-1] - positions[-2]) / dt_fs
    return velocities


def _positive_time_step(path: Path, dt_fs) -> float:
    try:
        value = float(dt_fs)
    except (TypeError, ValueError):
        raise TrajectoryFormatError(f"{path}: dt_fs={dt_fs!r} is not a number") from None
    if not (np.isfinite(value) and value > 0):
        raise TrajectoryFormatError(f"{path}: dt_fs={dt_fs!r}: the time step must be positive")
    return value


def _with_derived_velocities(trajectory: Trajectory) -> Trajectory:
    if trajectory.velocities is not None or not trajectory.consecutive or trajectory.dt_fs is None:
        return trajectory
    if trajectory.n_frames < 2:
        return trajectory
    velocities = velocities_from_positions(trajectory.positions, trajectory.dt_fs)
    metadata = {**trajectory.metadata, "velocities_source": _DERIVED_NOTE}
    return replace(trajectory, velocities=velocities, velocities_derived=True, metadata=metadata)


# --- .npz layouts ---------------------------------------------------------------------------------
def _is_npz(path: Path) -> bool:
    if path.suffix.lower() == ".npz":
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"  # a zip archive: what np.savez writes


def _npz_layout(path: Path, keys: list[str]) -> str:
    if "header" in keys:
        return "chemnoether"
    if "nuclear_charges" in keys:
        return "rmd17"
    if "z" in keys and "R" in keys:
        return "md17"
    raise TrajectoryFormatError(
        f"{path}: unknown .npz layout with keys {sorted(keys)}; known layouts: md17 (z, R, E, F), "
        "rmd17 (nuclear_charges, coords, energies, forces, old_indices), chemnoether (header, "
        "atomic_numbers, positions, ...)"
    )


def _read_npz(path: Path, format: str | None, dt_fs: float | None) -> Trajectory:  # noqa: A002
    # our own handle: np.load leaves the file open when it fails on a damaged archive
    with open(path, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except Exception as err:  # zipfile / numpy raise several types for a damaged file
            raise TrajectoryFormatError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise TrajectoryFormatError(f"{path}: a single .npy array, not an .npz archive of named arrays")
        layout = format or _npz_layout(path, archive.files)
        if layout == "md17":
            return _md17(path, _Arrays(path, archive, layout), dt_fs)
        if layout == "rmd17":
            return _rmd17(path, _Arrays(path, archive, layout), dt_fs)
    trajectory = Trajectory.load(path)
    if dt_fs is None:
        return trajectory
    return replace(trajectory, dt_fs=dt_fs, metadata={**trajectory.metadata, "dt_source": "dt_fs argument"})


class _Arrays:
    """Reads the keys of an open ``.npz`` one at a time, naming the key that is missing or damaged."""

    def __init__(self, path: Path, archive, layout: str):
        self.path, self.archive, self.layout = path, archive, layout

    def __contains__(self, key: str) -> bool:
        return key in self.archive.files

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self:
            raise TrajectoryFormatError(
                f"{self.path}: the {self.layout} layout needs key {key!r}; the file has {sorted(self.archive.files)}"
            )
        try:
            return self.archive[key]
        except Exception as err:  # a truncated member, a pickled object array, a bad header
            raise TrajectoryFormatError(
                f"{self.path}: key {key!r} cannot be read ({type(err).__name__}: {err}); the file may be truncated"
            ) from None

    def text(self, key: str) -> str | None:
        if key not in self:
            return None
        value = self[key]
        value = value.item() if value.size == 1 else value.ravel()[0]
        return value.decode() if isinstance(value, bytes) else str(value)

    def per_frame(self, key: str, n_frames: int, frame_shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """``key`` as ``dtype`` of shape (n_frames, *frame_shape), or an error naming both shapes."""
        value = self[key]
        if value.shape == (n_frames, 1) and frame_shape == ():
            value = value[:, 0]  # MD17 stores E as (T, 1)
        if value.shape != (n_frames, *frame_shape):
            raise TrajectoryFormatError(
                f"{self.path}: key {key!r} has shape {value.shape}, expected {(n_frames, *frame_shape)} "
                "to match the positions' frames and atoms"
            )
        return value.astype(dtype)


def _frames_and_atoms(arrays: _Arrays, numbers_key: str, positions_key: str):
    numbers = arrays[numbers_key]
    positions = arrays[positions_key]
    if numbers.ndim != 1 or positions.ndim != 3 or positions.shape[1:] != (numbers.shape[0], 3):
        raise TrajectoryFormatError(
            f"{arrays.path}: key {positions_key!r} has shape {positions.shape}, expected "
            f"(T, {numbers.shape[0] if numbers.ndim == 1 else 'N'}, 3) for {numbers_key!r} of shape {numbers.shape}"
        )
    return numbers, positions.astype(np.float64)


def _md17(path: Path, arrays: _Arrays, dt_fs: float | None) -> Trajectory:
    numbers, positions = _frames_and_atoms(arrays, "z", "R")
    n_frames, n_atoms = positions.shape[:2]
    energies = arrays.per_frame("E", n_frames, ()) * KCAL_PER_MOL_IN_EV if "E" in arrays else None
    forces = arrays.per_frame("F", n_frames, (n_atoms, 3)) * KCAL_PER_MOL_IN_EV if "F" in arrays else None
    metadata = {
        "source": str(path),
        "format": "md17",
        "units": _KCAL_NOTE,
        "dt_source": "dt_fs argument" if dt_fs is not None else "MD17 frames are 0.5 fs apart (Chmiela et al. 2017)",
    }
    for key, name in (("theory", "method"), ("name", "molecule"), ("md5", "md5")):
        if (value := arrays.text(key)) is not None:
            metadata[name] = value
    return Trajectory(
        atomic_numbers=numbers,
        positions=positions,
        energies=energies,
        forces=forces,
        dt_fs=MD17_DT_FS if dt_fs is None else dt_fs,
        metadata=metadata,
    )


def _rmd17(path: Path, arrays: _Arrays, dt_fs: float | None) -> Trajectory:
    numbers, positions = _frames_and_atoms(arrays, "nuclear_charges", "coords")
    n_frames, n_atoms = positions.shape[:2]
    energies = arrays.per_frame("energies", n_frames, ()) * KCAL_PER_MOL_IN_EV if "energies" in arrays else None
    forces = arrays.per_frame("forces", n_frames, (n_atoms, 3)) * KCAL_PER_MOL_IN_EV if "forces" in arrays else None
    frame_indices = arrays.per_frame("old_indices", n_frames, (), np.int64) if "old_indices" in arrays else None
    metadata = {
        "source": str(path),
        "format": "rmd17",
        "units": _KCAL_NOTE,
        "note": (
            "rMD17 frames are a random subsample of the MD17 trajectory, recomputed (Christensen and "
            "von Lilienfeld 2020): not consecutive; frame_indices are the MD17 frame numbers (old_indices)"
        ),
    }
    if dt_fs is not None:
        metadata["dt_source"] = "dt_fs argument: the time step of the source trajectory, not a gap between these frames"
    return Trajectory(
        atomic_numbers=numbers,
        positions=positions,
        energies=energies,
        forces=forces,
        dt_fs=dt_fs,
        consecutive=False,
        frame_indices=frame_indices,
        metadata=metadata,
    )
