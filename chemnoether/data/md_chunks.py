"""A folder of MD chunks: ``chunk_00000.npz``, ... (each a ``Trajectory.save``) and ``manifest.json``.

The manifest is rewritten atomically after every chunk, and a chunk is written before the manifest
names it, so the folder is consistent at every moment: an interrupted run resumes from the last
chunk the manifest lists, with the RNG state the manifest stores beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from chemnoether._atomic import atomic_write
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import ConfigError, TrajectoryFormatError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "chemnoether-md-chunks"
MANIFEST_VERSION = 1


def write_json_atomic(path: Path, content: dict) -> None:
    """Write ``content`` as JSON through a temporary file and a rename (never half-written)."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            json.dump(content, handle, indent=1)

    atomic_write(path, write)


class ChunkFolder:
    """The chunks of one run in ``folder``, and the manifest that lists them.

    ``settings`` are the options a continuation must share with the run that wrote the folder (all
    but the number of steps, which may grow: a run of n steps can be extended to 2n).
    """

    def __init__(self, folder: str | os.PathLike, settings: dict):
        self.folder = Path(folder)
        self.settings = settings
        self.manifest: dict = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "settings": settings, "chunks": [], "n_frames": 0}

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

    @property
    def n_frames(self) -> int:
        return int(self.manifest["n_frames"])

    @property
    def resume_state(self) -> dict | None:
        """What the last chunk does not hold: the RNG state after its last frame, the guard's reference."""
        return self.manifest.get("resume")

    def open(self, resume: bool) -> None:
        """Adopt an existing manifest (``resume``) or clear what an earlier run wrote here."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.manifest_path.exists():
            return
        existing = read_manifest(self.folder)
        if not resume:
            for chunk in existing["chunks"]:
                (self.folder / chunk["file"]).unlink(missing_ok=True)
            self.manifest_path.unlink()
            return
        if existing["settings"] != self.settings:
            differ = sorted(k for k in set(existing["settings"]) | set(self.settings) if existing["settings"].get(k) != self.settings.get(k))
            shown = ", ".join(f"{k}: {existing['settings'].get(k)!r} there, {self.settings.get(k)!r} now" for k in differ)
            raise ConfigError(
                f"{self.folder} holds a run with other settings ({shown}); choose another folder, or pass "
                "resume=False (--no-resume) to overwrite it"
            )
        existing.pop("failed", None)  # a continuation tries again; the guard will say if it fails
        self.manifest = existing

    def load_chunks(self) -> list[Trajectory]:
        return [Trajectory.load(self.folder / chunk["file"]) for chunk in self.manifest["chunks"]]

    def append(self, chunk: Trajectory, resume_state: dict) -> Path:
        """Write ``chunk`` (frames ``n_frames`` onwards), then the manifest that names it."""
        index = len(self.manifest["chunks"])
        path = chunk.save(self.folder / f"chunk_{index:05d}.npz")
        self.manifest["chunks"].append({"file": path.name, "first_frame": self.n_frames, "n_frames": chunk.n_frames})
        self.manifest["n_frames"] = self.n_frames + chunk.n_frames
        self.manifest["resume"] = resume_state
        write_json_atomic(self.manifest_path, self.manifest)
        return path


def read_manifest(folder: str | os.PathLike) -> dict:
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise TrajectoryFormatError(f"{path}: not valid JSON ({err})") from None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
        raise TrajectoryFormatError(f"{path}: not a chemnoether MD manifest (version {MANIFEST_VERSION})")
    return manifest


def concatenate(chunks: list[Trajectory]) -> Trajectory:
    """One trajectory from consecutive chunks of the same run (metadata of the first)."""
    first = chunks[0]
    stacked = {
        name: np.concatenate([getattr(c, name) for c in chunks])
        for name in ("positions", "velocities", "forces", "energies", "frame_indices")
    }
    return Trajectory(atomic_numbers=first.atomic_numbers, dt_fs=first.dt_fs, metadata=dict(first.metadata), **stacked)


def load_generated(folder: str | os.PathLike) -> Trajectory:
    """The whole trajectory a ``generate_md(..., out=folder)`` run wrote, assembled from its chunks."""
    folder = Path(folder)
    if not (folder / MANIFEST_NAME).exists():
        raise TrajectoryFormatError(f"{folder}: no {MANIFEST_NAME}; not a folder written by generate_md / chemnoether md generate")
    store = ChunkFolder(folder, read_manifest(folder)["settings"])
    store.open(resume=True)
    chunks = store.load_chunks()
    if not chunks:
        raise TrajectoryFormatError(f"{folder}: the manifest lists no chunks yet")
    return concatenate(chunks)
