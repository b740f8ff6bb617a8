"""How an MD run (learned or not) compares with a reference MD: structure and vibrations.

* ``structure_jsd``: Jensen-Shannon divergence (base 2: 0 = same, 1 = disjoint) between the
  histograms of every bond length, bond angle and dihedral of a run and of the reference, one
  divergence per internal coordinate, then the mean (and the worst bond) per kind.
* ``vibrational_dos``: the vibrational density of states, the mass-weighted power spectrum of the
  velocities (by Wiener-Khinchin the Fourier transform of the velocity autocorrelation), averaged
  over replicas; ``dos_peaks`` its strongest peak in each of three bands, ``peak_shifts`` how far
  a run's peaks sit from the reference's, band by band.

The internal coordinates come from the bond list alone (angles: two bonds sharing an atom;
dihedrals: a bond with one further bond at each end), so any molecule with bonds works. Arrays
are numpy, positions in Å, velocities in Å/fs, frequencies in cm⁻¹.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks
from scipy.spatial.distance import jensenshannon

from chemnoether.errors import ConfigError

SPEED_OF_LIGHT_CM_PER_FS = 2.99792458e-5
BINS = {"bond": np.linspace(0.5, 3.0, 251), "angle": np.linspace(0.0, 180.0, 181), "dihedral": np.linspace(-180.0, 180.0, 73)}


def internal_coordinates(bonds: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"bond": (B, 2), "angle": (A, 3), "dihedral": (D, 4)}`` atom indices from bonded pairs."""
    pairs = sorted({tuple(sorted((int(a), int(b)))) for a, b in zip(*bonds, strict=True) if a != b})
    neighbours: dict[int, set[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    angles = [(i, j, k) for j, around in neighbours.items() for i in around for k in around if i < k]
    dihedrals = [
        (i, j, k, m) for j, k in pairs
        for i in sorted(neighbours[j] - {k}) for m in sorted(neighbours[k] - {j}) if i != m
    ]
    return {
        "bond": np.array(pairs, dtype=np.int64).reshape(-1, 2),
        "angle": np.array(sorted(angles), dtype=np.int64).reshape(-1, 3),
        "dihedral": np.array(dihedrals, dtype=np.int64).reshape(-1, 4),
    }


def coordinate_values(positions: np.ndarray, kind: str, atoms: np.ndarray) -> np.ndarray:
    """(..., C) bond lengths (Å), angles or signed dihedrals (degrees) of positions (..., N, 3)."""
    p = [positions[..., atoms[:, column], :] for column in range(atoms.shape[1])]
    if kind == "bond":
        return np.linalg.norm(p[1] - p[0], axis=-1)
    if kind == "angle":
        u, w = p[0] - p[1], p[2] - p[1]
        cosine = (u * w).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
        return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    if kind == "dihedral":
        b0, b1, b2 = p[0] - p[1], p[2] - p[1], p[3] - p[2]
        b1_unit = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
        v = b0 - (b0 * b1_unit).sum(-1, keepdims=True) * b1_unit
        w = b2 - (b2 * b1_unit).sum(-1, keepdims=True) * b1_unit
        x = (v * w).sum(-1)
        y = (np.cross(b1_unit, v) * w).sum(-1)
        return np.degrees(np.arctan2(y, x))
    raise ConfigError(f"kind={kind!r}: choose bond, angle or dihedral")


def jensen_shannon(reference: np.ndarray, values: np.ndarray, bins: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) of the histograms of two samples on ``bins``."""
    p = np.histogram(np.clip(reference, bins[0], bins[-1]), bins=bins)[0].astype(np.float64)
    q = np.histogram(np.clip(values, bins[0], bins[-1]), bins=bins)[0].astype(np.float64)
    if not p.sum() or not q.sum():
        return float("nan")
    return float(jensenshannon(p, q, base=2) ** 2)


def structure_jsd(reference_positions: np.ndarray, positions: np.ndarray, bonds) -> dict[str, float]:
    """Divergences of every internal coordinate between two sets of frames (F, N, 3) and (G, N, 3).

    Returns ``bond_jsd`` (mean over bonds), ``bond_jsd_max``, ``angle_jsd``, ``dihedral_jsd``
    (means) and how many coordinates of each kind they are taken over.
    """
    out: dict[str, float] = {}
    for kind, atoms in internal_coordinates(bonds).items():
        if not len(atoms):
            out[f"{kind}_jsd"], out[f"n_{kind}s"] = float("nan"), 0
            continue
        ref = coordinate_values(reference_positions, kind, atoms).reshape(-1, len(atoms))
        run = coordinate_values(positions, kind, atoms).reshape(-1, len(atoms))
        divergences = np.array([jensen_shannon(ref[:, c], run[:, c], BINS[kind]) for c in range(len(atoms))])
        out[f"{kind}_jsd"] = float(np.mean(divergences))
        if kind == "bond":
            out["bond_jsd_max"] = float(np.max(divergences))
        out[f"n_{kind}s"] = len(atoms)
    return out


def vibrational_dos(velocities: np.ndarray, masses: np.ndarray, dt_fs: float) -> tuple[np.ndarray, np.ndarray]:
    """``(frequencies cm⁻¹, spectrum)`` of velocities (T, B, N, 3) sampled every ``dt_fs``.

    Each replica's velocity series is Hann-windowed; the spectrum is the mass-weighted power summed
    over atoms and axes, averaged over replicas, normalised to unit area.
    """
    velocities = np.asarray(velocities, dtype=np.float64)
    if velocities.ndim != 4 or len(velocities) < 8:
        raise ConfigError(f"vibrational_dos needs velocities (T >= 8, B, N, 3); got shape {velocities.shape}")
    series = velocities - velocities.mean(axis=0, keepdims=True)
    series = series * np.hanning(len(series))[:, None, None, None]
    power = np.abs(np.fft.rfft(series, axis=0)) ** 2
    spectrum = np.einsum("fbnk,n->f", power, np.asarray(masses, dtype=np.float64)) / velocities.shape[1]
    frequencies = np.fft.rfftfreq(len(series), d=dt_fs) / SPEED_OF_LIGHT_CM_PER_FS
    area = np.trapezoid(spectrum, frequencies)
    return frequencies, spectrum / area if area > 0 else spectrum


# torsions and skeletal bends; C-O / C-C stretches and X-H bends; X-H stretches (O-H aliases into
# this band when velocities are sampled every 5 fs, identically in a run and its reference)
VDOS_BANDS_CM = ((200.0, 700.0), (700.0, 1700.0), (2500.0, 3400.0))


def dos_peaks(frequencies: np.ndarray, spectrum: np.ndarray, bands=VDOS_BANDS_CM) -> np.ndarray:
    """Position (cm⁻¹) of the strongest peak in each band (NaN for a band without one).

    One peak per band, so that a run's peaks are compared with the reference's band by band,
    not matched across bands when two peaks of a band are about as strong.
    """
    indices, _ = find_peaks(spectrum)
    out = np.full(len(bands), np.nan)
    for b, (low, high) in enumerate(bands):
        inside = indices[(frequencies[indices] >= low) & (frequencies[indices] < high)]
        if inside.size:
            out[b] = frequencies[inside[np.argmax(spectrum[inside])]]
    return out


def peak_shifts(reference_peaks: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Relative shift of each band's peak from the reference's (NaN where either has none)."""
    return (np.asarray(peaks) - np.asarray(reference_peaks)) / np.asarray(reference_peaks)
