"""What a learned MD run refuses at the start, and what stops a replica on the way.

At the start (``check_start``): an element the model never saw, NaN or infinite coordinates or
velocities, atoms closer than ``MIN_PAIR_DISTANCE_A``, and atoms that are not the run's molecule
in its order (elements atom by atom, then every bond of the run's graph within
``START_BOND_STRAIN`` of its length in the run's data, which catches hydrogens listed in another
order). Each is a ``ChemNoetherError`` subclass naming the replica, the atoms and the fix.
A start far from every training frame is allowed with a ``RuntimeWarning`` naming the distance
(``training_distance``).

On the way (``replica_failures``): a replica whose new frame the rollouts' physicality check
(``chemnoether.evaluate.check_rollouts``: non-finite, a bond strained past 50% of its start
length, atoms closer than 0.5 Å) calls unphysical has blown up; it stops alone, the others go on.
"""

from __future__ import annotations

import warnings

import numpy as np
from ase.data import chemical_symbols
from scipy.spatial.distance import cdist

from chemnoether.errors import InvalidStructureError, UnsupportedElementError
from chemnoether.evaluate.physicality import check_rollouts

MIN_PAIR_DISTANCE_A = 0.5  # Å: closer than any bond (as evaluate.physicality.MIN_DISTANCE_A)
START_BOND_STRAIN = 0.3  # a start bond this far from the run's own length: atoms in another order
TRAINING_DISTANCE_WARNING = 2.0  # warn beyond this many times the spread of the training frames
_TRAINING_SAMPLE = 400  # training frames compared with a start (evenly spread)


def _symbols(numbers) -> str:
    return " ".join(chemical_symbols[int(z)] for z in numbers)


def pair_distances(positions: np.ndarray) -> np.ndarray:
    """(..., P) distances of the atom pairs i < j of positions (..., N, 3), Å."""
    i, j = np.triu_indices(positions.shape[-2], k=1)
    return np.linalg.norm(positions[..., i, :] - positions[..., j, :], axis=-1)


def check_start(
    numbers: np.ndarray,
    positions: np.ndarray,
    velocities: np.ndarray,
    *,
    elements: list[int] | None,
    expected_numbers: np.ndarray,
    bonds: tuple[np.ndarray, np.ndarray] | None = None,
    bond_lengths: np.ndarray | None = None,
    where: str = "the start",
) -> None:
    """Refuse a start (positions and velocities (B, N, 3)) the run's model cannot advance."""
    numbers = np.asarray(numbers)
    if elements is not None:
        unseen = sorted(set(numbers.tolist()) - set(int(z) for z in elements))
        if unseen:
            raise UnsupportedElementError(
                f"{where} has {_symbols(unseen)}, which the model never saw (it knows {_symbols(sorted(elements))}); "
                "train a model on data with these elements"
            )
    if len(numbers) != len(expected_numbers) or not np.array_equal(numbers, expected_numbers):
        differ = np.flatnonzero(numbers != expected_numbers) if len(numbers) == len(expected_numbers) else []
        first = f"; atom {int(differ[0])} is {chemical_symbols[int(numbers[differ[0]])]} here but " \
                f"{chemical_symbols[int(expected_numbers[differ[0]])]} in the run" if len(differ) else ""
        raise InvalidStructureError(
            f"{where} has atoms {_symbols(numbers)} but the run's molecule is {_symbols(expected_numbers)}{first}; "
            "the model's graph is the run's molecule: give its atoms in the same order (the order of the "
            "run's trajectory, e.g. a frame written by `chemnoether rollout`, or its SMILES)"
        )
    for name, values in (("coordinates", positions), ("velocities", velocities)):
        bad = ~np.isfinite(values).all(axis=-1)
        if bad.any():
            replica, atom = (int(k) for k in np.argwhere(bad)[0])
            raise InvalidStructureError(
                f"{where}: replica {replica} has NaN or infinite {name} at atom {atom} "
                f"({int(bad.sum())} atom(s) in all); give finite {name}"
            )
    close = pair_distances(positions) < MIN_PAIR_DISTANCE_A
    if close.any():
        replica, pair = (int(k) for k in np.argwhere(close)[0])
        i, j = (int(k[pair]) for k in np.triu_indices(positions.shape[-2], k=1))
        distance = float(np.linalg.norm(positions[replica, i] - positions[replica, j]))
        raise InvalidStructureError(
            f"{where}: replica {replica} has atoms {i} and {j} only {distance:.3f} Å apart (closer than "
            f"{MIN_PAIR_DISTANCE_A} Å): overlapping atoms; fix the structure (wrong units? duplicated atoms?)"
        )
    if bonds is not None and bond_lengths is not None and len(bonds[0]):
        strain = np.abs(bond_lengths_of(positions, bonds) / bond_lengths - 1.0)  # (B, E)
        if (strain > START_BOND_STRAIN).any():
            replica, edge = (int(k) for k in np.argwhere(strain > START_BOND_STRAIN)[0])
            i, j = int(bonds[0][edge]), int(bonds[1][edge])
            raise InvalidStructureError(
                f"{where}: replica {replica}'s bond {i}-{j} ({chemical_symbols[int(numbers[i])]}-"
                f"{chemical_symbols[int(numbers[j])]}) is {bond_lengths_of(positions[replica:replica + 1], bonds)[0, edge]:.2f} Å, "
                f"{bond_lengths[edge]:.2f} Å in the run's data: the atoms are in another order than the run's "
                "molecule (often the hydrogens), or the structure is broken; reorder the atoms"
            )


def bond_lengths_of(positions: np.ndarray, bonds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(..., E) lengths of the bonds ``(src, dst)``, Å."""
    src, dst = bonds
    return np.linalg.norm(positions[..., dst, :] - positions[..., src, :], axis=-1)


def replica_failures(
    start_positions: np.ndarray, positions: np.ndarray, velocities: np.ndarray,
    bonds: tuple[np.ndarray, np.ndarray], atomic_numbers: np.ndarray,
) -> list[str | None]:
    """Per replica, why it has blown up (``None`` when it has not): the rollouts' own check.

    ``chemnoether.evaluate.check_rollouts`` judges the new frame against each replica's start, so
    learned MD and evaluation call the same frames unphysical for the same reasons.
    """

    frames = np.stack([start_positions, positions], axis=1)  # frame 0 (the start) is not judged
    with np.errstate(invalid="ignore", over="ignore"):
        check = check_rollouts(frames, np.stack([velocities, velocities], axis=1), bonds, atomic_numbers)
    reasons: list[str | None] = [None] * len(positions)
    for blowup in check.blowups:
        reasons[blowup.rollout] = blowup.reason
    return reasons


def training_distance(positions: np.ndarray, training_positions: np.ndarray) -> tuple[np.ndarray, float]:
    """``(distance (B,), scale)``: how far each start is from the training frames, and their spread.

    The distance of a structure to a frame is the RMS difference of their interatomic distances
    (Å; invariant to rotation and translation); a start's distance is to its nearest training
    frame. ``scale`` is the RMS over atom pairs of each pair distance's standard deviation over
    the frames: how much the data itself moves (thermal motion), so a start many times farther
    than that from every frame is one the model has not seen.
    """
    take = np.unique(np.linspace(0, len(training_positions) - 1, min(_TRAINING_SAMPLE, len(training_positions))).round().astype(int))
    reference = pair_distances(training_positions[take])  # (F, P)
    start = pair_distances(positions)  # (B, P)
    distance = cdist(start, reference).min(axis=1) / np.sqrt(reference.shape[1])  # Euclidean / sqrt(P): RMS
    scale = float(np.sqrt((reference.std(axis=0) ** 2).mean())) if len(reference) > 1 else float("nan")
    return distance, scale


def warn_if_far(distance: np.ndarray, scale: float, where: str) -> None:
    """A ``RuntimeWarning`` naming the replicas whose start is far outside the training frames."""
    if not np.isfinite(scale) or scale <= 0:
        return
    far = np.flatnonzero(distance > TRAINING_DISTANCE_WARNING * scale)
    if far.size:
        worst = int(far[np.argmax(distance[far])])
        warnings.warn(
            f"{where}: {far.size} replica(s) start far outside the training data: replica {worst} is "
            f"{distance[worst]:.3f} Å (RMS of interatomic distances) from its nearest training frame, "
            f"{distance[worst] / scale:.1f}x the spread of the training frames ({scale:.3f} Å); the learned "
            "dynamics may not hold there",
            RuntimeWarning,
            stacklevel=3,
        )
