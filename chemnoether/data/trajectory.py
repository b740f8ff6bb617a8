"""The trajectory type: frames of one system, in chemnoether's units, saved losslessly.

Units (docs/design.md section 4): positions Å, time fs, velocities Å/fs, forces eV/Å, energies eV,
masses amu. Readers convert at the boundary; everything inside uses these.

Frames are *consecutive* when frame ``t + 1`` follows frame ``t`` by ``dt_fs`` of simulated time.
Subsampled data (rMD17) is not: ``consecutive=False``, ``dt_fs`` then says nothing about the gap
between stored frames, and anything that needs time differences (derived velocities, windows of a
time step) refuses it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_masses
from ase.io import write as write_frames

from chemnoether._atomic import atomic_write
from chemnoether.errors import TrajectoryFormatError

_ARRAYS = ("atomic_numbers", "positions", "velocities", "forces", "energies", "cell", "pbc", "frame_indices")
FORMAT_VERSION = 1


@dataclass
class Trajectory:
    """Frames of one system (fixed atoms, fixed order)."""

    atomic_numbers: np.ndarray  # (N,) int64 | atomic numbers Z
    positions: np.ndarray  # (T, N, 3) float64 | Å
    dt_fs: float | None = None  # time between consecutive frames, fs (None: unknown)
    velocities: np.ndarray | None = None  # (T, N, 3) float64 | Å/fs
    forces: np.ndarray | None = None  # (T, N, 3) float64 | eV/Å
    energies: np.ndarray | None = None  # (T,) float64 | potential energy, eV
    cell: np.ndarray | None = None  # (3, 3) float64 | cell vectors as rows, Å (None: no cell)
    pbc: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=bool))  # (3,) bool
    consecutive: bool = True  # frame t+1 follows frame t by dt_fs
    frame_indices: np.ndarray | None = None  # (T,) int64 | frame numbers in the source file
    velocities_derived: bool = False  # velocities come from frame differences, not the source
    metadata: dict = field(default_factory=dict)  # source, method, temperature_K, smiles, ...

    def __post_init__(self):
        self.atomic_numbers = np.asarray(self.atomic_numbers, dtype=np.int64)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(3)
        for name in ("velocities", "forces", "energies", "cell"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.float64))
        if self.frame_indices is not None:
            self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        if self.dt_fs is not None:
            # a numpy scalar (np.float32) would break the JSON header of ``save``
            try:
                self.dt_fs = float(self.dt_fs)
            except (TypeError, ValueError):
                raise TrajectoryFormatError(f"{self._where()}: dt_fs={self.dt_fs!r} is not a number") from None
        self.validate()

    # --- shape and content checks ------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.atomic_numbers.shape[0]

    def _where(self) -> str:
        return str(self.metadata.get("source", "trajectory"))

    def validate(self) -> None:
        """Raise ``TrajectoryFormatError`` naming the source, the key and the frame at fault."""
        where = self._where()
        # shape first: n_atoms of a 0-d array would raise IndexError instead of naming the fault
        if self.atomic_numbers.ndim != 1 or self.atomic_numbers.size == 0:
            raise TrajectoryFormatError(f"{where}: atomic_numbers must be a non-empty (N,) array, got shape {self.atomic_numbers.shape}")
        n = self.n_atoms
        bad_z = np.flatnonzero((self.atomic_numbers < 1) | (self.atomic_numbers > 118))
        if bad_z.size:
            raise TrajectoryFormatError(f"{where}: atomic_numbers has unknown elements {self.atomic_numbers[bad_z].tolist()} at atoms {bad_z.tolist()}")
        if self.positions.ndim != 3 or self.positions.shape[1:] != (n, 3):
            raise TrajectoryFormatError(f"{where}: positions must have shape (T, {n}, 3), got {self.positions.shape}")
        if self.n_frames == 0:
            raise TrajectoryFormatError(f"{where}: the trajectory has no frames")
        for name in ("positions", "velocities", "forces"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.shape != self.positions.shape:
                raise TrajectoryFormatError(f"{where}: {name} has shape {value.shape}, positions {self.positions.shape}")
            _refuse_non_finite(value.reshape(len(value), -1), name, where)
        if self.energies is not None:
            if self.energies.shape != (self.n_frames,):
                raise TrajectoryFormatError(f"{where}: energies must have shape ({self.n_frames},), got {self.energies.shape}")
            _refuse_non_finite(self.energies.reshape(-1, 1), "energies", where)
        if self.cell is not None and self.cell.shape != (3, 3):
            raise TrajectoryFormatError(f"{where}: cell must have shape (3, 3), got {self.cell.shape}")
        if self.cell is not None and not np.isfinite(self.cell).all():
            raise TrajectoryFormatError(f"{where}: cell has NaN or infinite values")
        if self.pbc.any() and (self.cell is None or abs(np.linalg.det(self.cell)) < 1e-9):
            raise TrajectoryFormatError(f"{where}: pbc={self.pbc.tolist()} needs a cell of non-zero volume")
        if self.dt_fs is not None and not (np.isfinite(self.dt_fs) and self.dt_fs > 0):
            raise TrajectoryFormatError(f"{where}: dt_fs={self.dt_fs!r}: the time step must be positive")
        if self.frame_indices is not None and self.frame_indices.shape != (self.n_frames,):
            raise TrajectoryFormatError(f"{where}: frame_indices must have shape ({self.n_frames},), got {self.frame_indices.shape}")
        if "masses" in self.metadata:
            # kinetic_energies and to_atoms use these instead of the standard masses
            masses = np.asarray(self.metadata["masses"], dtype=np.float64)
            if masses.shape != (n,) or not (np.isfinite(masses) & (masses > 0)).all():
                raise TrajectoryFormatError(f"{where}: metadata['masses'] must be {n} positive masses (amu), got {self.metadata['masses']!r}")

    def require_consecutive(self, purpose: str) -> float:
        """The time step, or a clear error when frames are not consecutive or it is unknown."""
        if not self.consecutive:
            raise TrajectoryFormatError(
                f"{self._where()}: its frames are not consecutive (a subsample, e.g. rMD17), so they "
                f"cannot be used for {purpose}; use a trajectory of consecutive frames"
            )
        if self.dt_fs is None:
            raise TrajectoryFormatError(
                f"{self._where()}: the time step is unknown and is needed for {purpose}; give it in fs: "
                "read_trajectory(path, dt_fs=...) or, in a recipe, data.dt_fs (--set data.dt_fs=0.5)"
            )
        return float(self.dt_fs)

    # --- physics --------------------------------------------------------------------------------
    @property
    def masses(self) -> np.ndarray:
        """(N,) standard atomic masses, amu (the ones MD was run with, unless metadata says otherwise)."""
        if "masses" in self.metadata:
            return np.asarray(self.metadata["masses"], dtype=np.float64)
        return atomic_masses[self.atomic_numbers].astype(np.float64)

    def kinetic_energies(self) -> np.ndarray:
        """(T,) kinetic energy of every frame, eV."""
        if self.velocities is None:
            raise TrajectoryFormatError(f"{self._where()}: no velocities, so no kinetic energy")
        # amu * (Å/fs)^2 -> eV: ASE's velocity unit is Å / (ASE time unit), with fs = units.fs
        v_ase = self.velocities / units.fs
        return 0.5 * np.einsum("n,tni->t", self.masses, v_ase**2)

    # --- selection ------------------------------------------------------------------------------
    def frames(self, index) -> Trajectory:
        """A sub-trajectory of the frames ``index`` selects.

        A slice of positive step ``k`` keeps consecutive frames consecutive, ``k * dt_fs`` apart;
        any other index (an integer, a list, a mask, a negative step) gives non-consecutive frames.
        """
        picked = np.atleast_1d(np.arange(self.n_frames)[index])
        step = (index.step or 1) if isinstance(index, slice) else None
        keeps_order = step is not None and step > 0
        source = self.frame_indices if self.frame_indices is not None else np.arange(self.n_frames)
        dt = self.dt_fs
        if self.consecutive and keeps_order and dt is not None:
            # only a consecutive dt is a frame gap; a subsample's dt_fs is its source's step, kept as is
            dt = dt * step
        return replace(
            self,
            positions=self.positions[picked],
            velocities=None if self.velocities is None else self.velocities[picked],
            forces=None if self.forces is None else self.forces[picked],
            energies=None if self.energies is None else self.energies[picked],
            dt_fs=dt,
            consecutive=self.consecutive and keeps_order,
            frame_indices=source[picked],
            metadata=dict(self.metadata),
        )

    def atoms_subset(self, mask: np.ndarray) -> Trajectory:
        """The same frames for the atoms ``mask`` selects (e.g. heavy atoms: ``atomic_numbers > 1``)."""
        mask = np.asarray(mask)
        meta = dict(self.metadata)
        if "masses" in meta:
            meta["masses"] = list(np.asarray(meta["masses"])[mask])
        return replace(
            self,
            atomic_numbers=self.atomic_numbers[mask],
            positions=self.positions[:, mask],
            velocities=None if self.velocities is None else self.velocities[:, mask],
            forces=None if self.forces is None else self.forces[:, mask],
            metadata=meta,
        )

    # --- files ----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write a lossless ``.npz`` atomically (a temporary file, then a rename)."""
        path = Path(path)
        arrays = {name: getattr(self, name) for name in _ARRAYS if getattr(self, name) is not None}
        header = {
            "format_version": FORMAT_VERSION,
            "dt_fs": self.dt_fs,
            "consecutive": self.consecutive,
            "velocities_derived": self.velocities_derived,
            "metadata": self.metadata,
        }
        arrays["header"] = np.array(json.dumps(header))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to a name
                np.savez(handle, **arrays)

        atomic_write(path, write)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read what ``save`` wrote (no pickles are loaded)."""
        path = Path(path)
        try:
            # our own handle: np.load leaves the file open when it fails on a damaged archive
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise
        except Exception as err:  # zipfile / numpy raise several types for a damaged file
            raise TrajectoryFormatError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
        if "header" not in arrays:
            raise TrajectoryFormatError(
                f"{path}: no chemnoether header; for MD17 / rMD17 files use chemnoether.data.readers.read_trajectory"
            )
        try:
            header = json.loads(str(arrays.pop("header")))
            version = header.get("format_version")
        except (ValueError, AttributeError) as err:  # not JSON, or JSON but not an object
            raise TrajectoryFormatError(f"{path}: damaged header ({type(err).__name__}: {err})") from None
        if version != FORMAT_VERSION:
            raise TrajectoryFormatError(f"{path}: trajectory format version {version} is not {FORMAT_VERSION}")
        missing_fields = {"dt_fs", "consecutive", "velocities_derived", "metadata"} - set(header)
        if missing_fields:
            raise TrajectoryFormatError(f"{path}: damaged header, missing {sorted(missing_fields)}")
        fields = {key: header[key] for key in ("dt_fs", "consecutive", "velocities_derived", "metadata")}
        missing = {"atomic_numbers", "positions"} - set(arrays)
        unknown = set(arrays) - set(_ARRAYS)
        if missing or unknown:
            raise TrajectoryFormatError(f"{path}: missing arrays {sorted(missing)}, unknown arrays {sorted(unknown)}")
        try:
            return cls(**arrays, **fields)
        except TrajectoryFormatError as err:
            # the message names metadata['source'] (where the data came from); say which file holds it
            raise TrajectoryFormatError(f"{path}: {err}") from None

    def to_atoms(self, frame: int = 0):
        """Frame ``frame`` as ``ase.Atoms`` (velocities in ASE units, energy and forces attached)."""
        atoms = Atoms(
            numbers=self.atomic_numbers,
            positions=self.positions[frame],
            cell=self.cell if self.cell is not None else np.zeros((3, 3)),
            pbc=self.pbc,
        )
        if "masses" in self.metadata:
            atoms.set_masses(self.masses)
        if self.dt_fs is not None and self.consecutive:
            atoms.info["dt_fs"] = self.dt_fs  # read_trajectory takes the time step back from here
        if self.velocities is not None:
            atoms.set_velocities(self.velocities[frame] / units.fs)
        results = {}
        if self.energies is not None:
            results["energy"] = float(self.energies[frame])
        if self.forces is not None:
            results["forces"] = self.forces[frame]
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms

    def write(self, path: str | os.PathLike, format: str | None = None) -> Path:  # noqa: A002 - ase.io's name
        """Write every frame with ``ase.io`` (extxyz, .traj, ...) for viewers; not lossless (use ``save``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_frames(path, [self.to_atoms(t) for t in range(self.n_frames)], format=format)
        return path


def _refuse_non_finite(rows: np.ndarray, name: str, where: str) -> None:
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad.size:
        shown = bad[:10].tolist()
        raise TrajectoryFormatError(f"{where}: {name} has NaN or infinite values in frames {shown}{' ...' if bad.size > 10 else ''}")
