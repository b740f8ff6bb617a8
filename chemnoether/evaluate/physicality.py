"""Is a rolled-out frame still a molecule? One check, shared by ``rollout`` and ``evaluate``.

A predicted frame is unphysical when (checked in this order; the first that holds is the reason):

1. a position or velocity is not finite (``rollout`` also writes NaN once an atom is
   ``MAX_EXCURSION_A`` from the start, so such a frame lands here too);
2. a bond is longer or shorter than its start length by more than ``STRAIN_THRESHOLD`` (50%);
3. two atoms are closer than ``MIN_DISTANCE_A`` (0.5 Å: the shortest real bond, H-H, is 0.74 Å).

A rollout counts as failed from its first unphysical frame on: metrics average only over the
frames before it and say over how many rollouts they are taken, so that a blow-up is never hidden
by averaging over the rollouts that survived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np
from ase.data import chemical_symbols
from scipy.spatial import cKDTree

from chemnoether import keys
from chemnoether.data.topology import MD17_THRESHOLD, md17_edges
from chemnoether.errors import ConfigError
from chemnoether.evaluate.physics import bond_strain
from chemnoether.evaluate.rollout import MAX_EXCURSION_A

if TYPE_CHECKING:
    from chemnoether.train.run_dir import OpenedRun

STRAIN_THRESHOLD = 0.5  # relative bond-length change beyond which a frame is unphysical
MIN_DISTANCE_A = 0.5  # Å; closer atoms overlap

logger = logging.getLogger("chemnoether")


@dataclass(frozen=True)
class Blowup:
    """The first unphysical frame of one rollout: its model step and why."""

    rollout: int
    step: int
    reason: str

    def line(self, label: str | None = None) -> str:
        """One line for a log: ``<label>: unphysical from step <k>: <reason>`` (label: ``rollout <i>``)."""
        return f"{label or f'rollout {self.rollout}'}: unphysical from step {self.step}: {self.reason}"


@dataclass(frozen=True)
class Physicality:
    """The verdict on ``B`` rollouts of ``n_steps`` steps each."""

    steps_physical: np.ndarray  # (B,) model steps done before the first unphysical frame; n_steps: none
    blowups: tuple[Blowup, ...]  # one per failed rollout, in rollout order
    n_steps: int

    @property
    def alive(self) -> np.ndarray:
        """(B, n_steps + 1) bool: frame k and every frame before it are physical (frame 0 is the start)."""
        return np.arange(self.n_steps + 1)[None, :] <= self.steps_physical[:, None]

    @property
    def physical(self) -> np.ndarray:
        """(B,) bool: the rollout stayed physical to its last step."""
        return self.steps_physical == self.n_steps

    @property
    def n_physical(self) -> int:
        return int(self.physical.sum())

    def log(self, labels: list[str] | None = None) -> list[str]:
        """Log one warning line per failed rollout (``Blowup.line``, ``labels[i]`` naming rollout i)."""
        lines = [blowup.line(None if labels is None else labels[blowup.rollout]) for blowup in self.blowups]
        for line in lines:
            logger.warning(line)
        return lines


def check_rollouts(
    pos: np.ndarray,
    vel: np.ndarray,
    bonds: tuple[np.ndarray, np.ndarray],
    atomic_numbers: np.ndarray,
    *,
    reference: np.ndarray | None = None,
    strain_threshold: float = STRAIN_THRESHOLD,
    min_distance: float = MIN_DISTANCE_A,
) -> Physicality:
    """Find the first unphysical frame (module docstring) of each rollout.

    Args:
        pos, vel: (B, n_steps + 1, N, 3) rollouts in Å and Å/fs; frame 0 is the given start,
            which is not judged (it is data, not a prediction).
        bonds: ``(src, dst)`` atom pairs whose length must stay within ``strain_threshold``.
        atomic_numbers: (N,) elements, to name atoms in the reasons (``C1``: carbon, atom 1).
        reference: (B, N, 3) or (N, 3) positions the bond lengths are measured against;
            default: each rollout's own start frame.
    """
    pos, vel = np.asarray(pos, dtype=np.float64), np.asarray(vel, dtype=np.float64)
    if pos.ndim != 4 or pos.shape[-1] != 3 or vel.shape != pos.shape:
        raise ConfigError(f"rollouts must be (B, steps + 1, N, 3) positions and velocities; got {pos.shape} and {vel.shape}")
    if not 0 < strain_threshold < np.inf or not 0 <= min_distance < np.inf:
        raise ConfigError(f"strain_threshold={strain_threshold!r} must be > 0 and min_distance={min_distance!r} >= 0")
    n_rollouts, n_frames = pos.shape[:2]
    reference = pos[:, 0] if reference is None else np.asarray(reference, dtype=np.float64)
    finite = np.isfinite(pos).all(axis=(-1, -2)) & np.isfinite(vel).all(axis=(-1, -2))  # (B, T + 1)
    strain = bond_strain(pos, bonds, reference)  # (B, T + 1, E)
    steps_physical = np.full(n_rollouts, n_frames - 1)
    blowups = []
    for b in range(n_rollouts):
        for step in range(1, n_frames):
            reason = _why_unphysical(pos[b, step], finite[b, step], strain[b, step], bonds, reference_of(reference, b),
                                     atomic_numbers, strain_threshold, min_distance)
            if reason is not None:
                steps_physical[b] = step - 1
                blowups.append(Blowup(b, step, reason))
                break
    return Physicality(steps_physical, tuple(blowups), n_frames - 1)


def reference_of(reference: np.ndarray, rollout: int) -> np.ndarray:
    """The (N, 3) reference frame of one rollout (a shared (N, 3) one, or row ``rollout``)."""
    return reference if reference.ndim == 2 else reference[rollout]


def _why_unphysical(frame, finite, strain, bonds, reference, numbers, strain_threshold, min_distance) -> str | None:
    if not finite:
        return f"positions or velocities are not finite (or an atom is {MAX_EXCURSION_A:g} Å or more from the start)"
    if strain.size and not strain.max() <= strain_threshold:
        edge = int(np.nanargmax(strain)) if np.isfinite(strain).any() else 0
        i, j = int(bonds[0][edge]), int(bonds[1][edge])
        now, start = np.linalg.norm(frame[j] - frame[i]), np.linalg.norm(reference[j] - reference[i])
        return (f"bond {_atom(numbers, i)}-{_atom(numbers, j)} is {now:.3g} Å, {start:.3g} Å at the start "
                f"(strain {strain[edge]:.3g} > {strain_threshold:g})")
    if len(frame) > 1 and min_distance > 0:
        distance, neighbour = cKDTree(frame).query(frame, k=2)  # column 0 is the atom itself
        closest = int(np.argmin(distance[:, 1]))
        if distance[closest, 1] < min_distance:
            i, j = sorted((closest, int(neighbour[closest, 1])))
            return f"atoms {_atom(numbers, i)} and {_atom(numbers, j)} are {distance[closest, 1]:.3g} Å apart (< {min_distance:g} Å)"
    return None


def _atom(numbers: np.ndarray, index: int) -> str:
    z = int(numbers[index])
    return f"{chemical_symbols[z] if 0 < z < len(chemical_symbols) else '?'}{index}"


def strain_edges(run: OpenedRun) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """The atom pairs whose stretching marks a frame unphysical, and what they are."""
    template = run.topology.template
    if template.bonds is not None and len(template.bonds[0]):
        return (np.asarray(template.bonds[0]), np.asarray(template.bonds[1])), "bonds of the topology"
    hops = template.near_data.get(keys.EDGE_HOPS)
    if template.near is not None and hops is not None:
        first = np.asarray(hops) == 1
        return (np.asarray(template.near[0])[first], np.asarray(template.near[1])[first]), "hop-1 near edges"
    # a radius graph has no fixed pairs: take the close pairs of the first frame instead
    src, dst, hops = md17_edges(run.trajectory.positions[0, run.topology.atom_index])
    return (src[hops == 1], dst[hops == 1]), f"atom pairs closer than {MD17_THRESHOLD} Å in frame 0"
