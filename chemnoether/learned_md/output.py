"""A learned-MD output folder, written in chunks so that an interrupted run resumes exactly.

Layout of ``out/``:

* ``chunk_00000.npz``, ...: every saved frame of every replica, lossless float64 (``steps``,
  ``positions``, ``velocities`` (F, B, N, 3), ``alive``, ``potential_energy``, ``alpha``,
  ``energy_reference`` (F, B)); a stopped replica keeps its last good state, ``alive`` False;
* ``replica_000.extxyz`` (or ``.traj``), ...: each replica's frames while it runs, for viewers and
  ASE (velocities, ``info["step"]``, ``info["time_fs"]``, ``info["alpha"]``, the companion
  energy as the calculator's energy);
* ``log.csv``: one row per saved frame and running replica (``LOG_COLUMNS``);
* ``status.csv``: one row per replica: ``running`` / ``finished`` / ``stopped`` at ``step``, ``reason``;
* ``manifest.json``: settings, the chunks, the byte size of every derived file, and what the last
  chunk does not hold (the thermostat's RNG state, the stopped replicas).

Order of writes per chunk: the chunk (atomically), then appends to the derived files, then the
manifest (atomically). A run killed at any point leaves a manifest naming only complete chunks;
on resume a derived file whose size differs from the manifest's record is rebuilt from the chunks,
so nothing written is lost and nothing half-written survives.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.io.trajectory import Trajectory

from chemnoether._atomic import atomic_write
from chemnoether.core.units import kinetic_energy
from chemnoether.data.md_chunks import write_json_atomic
from chemnoether.errors import ConfigError, TrajectoryFormatError
from chemnoether.learned_md._physics import temperatures

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "chemnoether-learned-md"
LOG_NAME = "log.csv"
STATUS_NAME = "status.csv"
FORMATS = ("extxyz", "traj")
LOG_COLUMNS = (
    "step", "time_ps", "replica", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV", "temperature_K",
    "alpha", "energy_reference_eV",
)
CHUNK_ARRAYS = ("steps", "positions", "velocities", "alive", "potential_energy", "alpha", "energy_reference")


@dataclass
class FrameBlock:
    """Frames collected in memory until a chunk is written."""

    steps: list
    positions: list
    velocities: list
    alive: list
    potential_energy: list
    alpha: list
    energy_reference: list

    @classmethod
    def empty(cls) -> FrameBlock:
        return cls([], [], [], [], [], [], [])

    def record(self, state) -> None:
        self.steps.append(state.step)
        self.positions.append(state.positions.copy())
        self.velocities.append(state.velocities.copy())
        self.alive.append(state.alive.copy())
        self.potential_energy.append(state.potential_energy.copy())
        self.alpha.append(state.alpha.copy())
        self.energy_reference.append(state.energy_reference.copy())

    def __len__(self) -> int:
        return len(self.steps)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name)) for name in CHUNK_ARRAYS}


class ChunkedOutput:
    """The folder of one learned-MD run (module docstring)."""

    def __init__(self, folder, settings: dict, *, numbers: np.ndarray, masses: np.ndarray, dt_fs: float, n_replicas: int, format: str = "extxyz"):  # noqa: A002
        if format not in FORMATS:
            raise ConfigError(f"format={format!r}: choose one of {', '.join(FORMATS)}")
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings))  # as the manifest will hold it
        self.numbers, self.masses, self.dt_fs = np.asarray(numbers), np.asarray(masses, dtype=np.float64), float(dt_fs)
        self.n_replicas, self.format = int(n_replicas), format
        self.manifest = {"format": MANIFEST_FORMAT, "version": 1, "settings": self.settings, "chunks": [], "sizes": {}}

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def replica_path(self, replica: int) -> Path:
        return self.folder / f"replica_{replica:03d}.{self.format}"

    @property
    def derived_paths(self) -> list[Path]:
        return [self.replica_path(b) for b in range(self.n_replicas)] + [self.folder / LOG_NAME]

    @property
    def n_chunks(self) -> int:
        return len(self.manifest["chunks"])

    @property
    def resume_state(self) -> dict | None:
        return self.manifest.get("resume")

    def open(self, resume: bool) -> None:
        """Adopt the run already in the folder (``resume``, same settings) or start afresh."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.manifest_path.exists() and resume:
            try:
                existing = json.loads(self.manifest_path.read_text())
            except json.JSONDecodeError as err:
                raise TrajectoryFormatError(f"{self.manifest_path}: not valid JSON ({err})") from None
            if existing.get("format") != MANIFEST_FORMAT:
                raise TrajectoryFormatError(f"{self.manifest_path}: not a learned-MD manifest; choose another folder")
            if existing["settings"] != self.settings:
                differ = sorted(k for k in set(existing["settings"]) | set(self.settings)
                                if existing["settings"].get(k) != self.settings.get(k))
                shown = ", ".join(f"{k}: {existing['settings'].get(k)!r} there, {self.settings.get(k)!r} now" for k in differ)
                raise ConfigError(
                    f"{self.folder} holds a learned-MD run with other settings ({shown}); choose another folder, "
                    "or pass resume=False (--no-resume) to overwrite it"
                )
            self.manifest = existing
            self._repair_derived_files()
            return
        for path in [*self.folder.glob("chunk_*.npz"), *self.derived_paths, self.folder / STATUS_NAME, self.manifest_path]:
            path.unlink(missing_ok=True)

    def load_chunk(self, index: int) -> dict[str, np.ndarray]:
        path = self.folder / self.manifest["chunks"][index]["file"]
        try:
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                return {name: data[name] for name in CHUNK_ARRAYS}
        except (OSError, KeyError, ValueError) as err:
            raise TrajectoryFormatError(f"{path}: unreadable chunk ({type(err).__name__}: {err}); start afresh with --no-resume") from None

    def append(self, block: FrameBlock, resume_state: dict) -> None:
        """Write ``block`` as the next chunk, append it to the derived files, then the manifest."""
        arrays = block.arrays()
        name = f"chunk_{self.n_chunks:05d}.npz"

        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to the name
                np.savez(handle, **arrays)

        atomic_write(self.folder / name, write)
        self._append_derived(arrays)
        self.manifest["chunks"].append({"file": name, "first_step": int(arrays["steps"][0]), "n_frames": len(block)})
        self.manifest["sizes"] = {p.name: p.stat().st_size for p in self.derived_paths if p.exists()}
        self.manifest["resume"] = resume_state
        write_json_atomic(self.manifest_path, self.manifest)

    def write_status(self, rows: list[dict]) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=("replica", "status", "step", "reason"))
                writer.writeheader()
                writer.writerows(rows)

        atomic_write(self.folder / STATUS_NAME, write)

    # --- derived files --------------------------------------------------------------------------
    def _append_derived(self, arrays: dict[str, np.ndarray]) -> None:
        for replica in range(self.n_replicas):
            frames = [self._atoms(arrays, f, replica) for f in np.flatnonzero(arrays["alive"][:, replica])]
            if frames:
                self._write_frames(self.replica_path(replica), frames)
        log = self.folder / LOG_NAME
        new = not log.exists()
        with open(log, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(LOG_COLUMNS)
            writer.writerows(self._log_rows(arrays))

    def _repair_derived_files(self) -> None:
        sizes = self.manifest.get("sizes", {})
        stale = [p for p in self.derived_paths if (p.stat().st_size if p.exists() else None) != sizes.get(p.name)]
        if not stale:
            return
        for path in stale:
            path.unlink(missing_ok=True)
        chunks = [self.load_chunk(i) for i in range(self.n_chunks)]
        for arrays in chunks:  # rebuilt in order: the same bytes as the uninterrupted appends
            for replica in range(self.n_replicas):
                path = self.replica_path(replica)
                if path in stale:
                    frames = [self._atoms(arrays, f, replica) for f in np.flatnonzero(arrays["alive"][:, replica])]
                    if frames:
                        self._write_frames(path, frames)
            log = self.folder / LOG_NAME
            if log in stale:
                new = not log.exists()
                with open(log, "a", newline="") as handle:
                    writer = csv.writer(handle)
                    if new:
                        writer.writerow(LOG_COLUMNS)
                    writer.writerows(self._log_rows(arrays))

    def _write_frames(self, path: Path, frames: list) -> None:
        if self.format == "extxyz":
            write(path, frames, format="extxyz", append=True)
        else:

            with Trajectory(path, "a") as trajectory:
                for atoms in frames:
                    trajectory.write(atoms)

    def _atoms(self, arrays: dict, frame: int, replica: int):
        atoms = Atoms(numbers=self.numbers, positions=arrays["positions"][frame, replica], masses=self.masses)
        atoms.set_velocities(arrays["velocities"][frame, replica] / units.fs)  # Å/fs -> ASE units
        step = int(arrays["steps"][frame])
        atoms.info.update({"step": step, "time_fs": step * self.dt_fs, "replica": replica})
        alpha = float(arrays["alpha"][frame, replica])
        if np.isfinite(alpha):
            atoms.info["alpha"] = alpha
        energy = float(arrays["potential_energy"][frame, replica])
        if np.isfinite(energy):
            atoms.calc = SinglePointCalculator(atoms, energy=energy)
        return atoms

    def _log_rows(self, arrays: dict) -> list[list]:
        rows = []
        for f, step in enumerate(arrays["steps"]):
            alive = np.flatnonzero(arrays["alive"][f])
            if not alive.size:
                continue
            velocities = arrays["velocities"][f, alive]
            kinetic, temperature = kinetic_energy(self.masses, velocities), temperatures(self.masses, velocities)
            for k, replica in enumerate(alive):
                potential = arrays["potential_energy"][f, replica]
                rows.append([
                    int(step), f"{step * self.dt_fs / 1000:.6f}", int(replica), _number(potential), _number(kinetic[k]),
                    _number(potential + kinetic[k]), _number(temperature[k]), _number(arrays["alpha"][f, replica]),
                    _number(arrays["energy_reference"][f, replica]),
                ])
        return rows


def _number(value) -> str:
    value = float(value)
    return repr(value) if np.isfinite(value) else ""


def read_frames(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every chunk of a learned-MD folder concatenated (``CHUNK_ARRAYS``, frames first)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise TrajectoryFormatError(f"{folder}: no {MANIFEST_NAME}; not a folder written by learned MD")
    manifest = json.loads(path.read_text())
    out = ChunkedOutput(folder, manifest["settings"], numbers=np.zeros(0), masses=np.zeros(0), dt_fs=1.0, n_replicas=0)
    out.manifest = manifest
    chunks = [out.load_chunk(i) for i in range(out.n_chunks)]
    if not chunks:
        raise TrajectoryFormatError(f"{folder}: the manifest lists no chunks yet")
    return {name: np.concatenate([c[name] for c in chunks]) for name in CHUNK_ARRAYS}
