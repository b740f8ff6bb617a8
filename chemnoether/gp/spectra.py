"""Empirical vibrational spectra of trajectories: what the GP head's predicted densities are checked against.

The vibrational density of states of atom i is the Fourier transform of its velocity
autocorrelation ``C_i(tau) = <v_i(t) . v_i(t + tau)> / 3`` (per Cartesian component, the same
convention as the head, whose kernel is the covariance of each component). Densities are two-sided
(even in frequency), per 1/fs, shown at f >= 0, so ``int S df`` over both signs is ``C(0)``, the
same normalisation as ``SpectralMixture.density``: empirical and predicted densities compare
directly. Frequencies are kept in 1/fs; ``wavenumbers`` gives cm^-1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from chemnoether._atomic import atomic_write
from chemnoether.errors import ConfigError, TrajectoryFormatError
from chemnoether.gp.spectral import SpectralMixture, to_frequency, to_wavenumber


@dataclass
class VibrationalSpectrum:
    """Per-atom densities of states on one frequency grid."""

    frequencies: np.ndarray  # (F,) float64 | 1/fs, from 0 to Nyquist
    density: np.ndarray  # (F, N) float64 | two-sided density, (Å/fs)^2 fs (times amu if mass weighted)
    atomic_numbers: np.ndarray | None = None  # (N,) int64 | for per-element averages and labels
    mass_weighted: bool = False

    @property
    def wavenumbers(self) -> np.ndarray:
        """(F,) the frequency axis in cm^-1."""
        return to_wavenumber(self.frequencies)

    def by_element(self) -> dict[int, np.ndarray]:
        """``{Z: (F,) mean density of the atoms of element Z}``."""
        if self.atomic_numbers is None:
            raise ConfigError("by_element: this spectrum has no atomic_numbers")
        return {int(z): self.density[:, self.atomic_numbers == z].mean(1) for z in np.unique(self.atomic_numbers)}


def velocity_autocorrelation(velocities: np.ndarray, max_lag: int | None = None, masses: np.ndarray | None = None) -> np.ndarray:
    """``C_i(tau)`` for lags ``0..max_lag-1`` frames: (L, N), the mean over components and time origins.

    ``velocities`` (T, N, 3); ``max_lag`` defaults to T // 2 (each lag then averages at least T/2
    origins); with ``masses`` (N,) amu, ``m_i C_i`` (mass weighted: twice the kinetic energy
    spectrum). Computed with a zero-padded FFT, unbiased (divided by the number of origins).
    """
    velocities = np.asarray(velocities, dtype=np.float64)
    if velocities.ndim != 3 or velocities.shape[0] < 2 or velocities.shape[2] != 3:
        raise TrajectoryFormatError(f"velocities must have shape (T >= 2, N, 3), got {velocities.shape}")
    bad = np.flatnonzero(~np.isfinite(velocities).reshape(len(velocities), -1).all(1))
    if bad.size:
        raise TrajectoryFormatError(f"velocities have NaN or infinite values in frames {bad[:10].tolist()}")
    frames = velocities.shape[0]
    max_lag = frames // 2 if max_lag is None else int(max_lag)
    if not 2 <= max_lag <= frames:
        raise ConfigError(f"max_lag={max_lag}: need 2 <= max_lag <= {frames} frames")
    size = 1 << int(np.ceil(np.log2(2 * frames)))  # >= 2T: no circular wrap-around
    spectrum = np.fft.rfft(velocities, n=size, axis=0)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, n=size, axis=0)[:max_lag].mean(-1)
    acf /= (frames - np.arange(max_lag))[:, None]
    if masses is not None:
        acf = acf * np.asarray(masses, dtype=np.float64)[None, :]
    return acf


def vibrational_spectrum(
    trajectory=None,
    *,
    velocities: np.ndarray | None = None,
    dt_fs: float | None = None,
    atomic_numbers: np.ndarray | None = None,
    mass_weighted: bool = False,
    masses: np.ndarray | None = None,
    max_lag: int | None = None,
    oversample: int = 4,
) -> VibrationalSpectrum:
    """The per-atom density of states of a ``Trajectory`` (or of raw ``velocities`` (T, N, 3), Å/fs, ``dt_fs`` apart).

    The autocorrelation is tapered by the right half of a Hann window (1 at lag 0, 0 at
    ``max_lag``), which trades resolution (about ``2 / (max_lag dt)`` 1/fs) for clean peaks, then
    cosine-transformed on a grid ``oversample`` times finer than the lags give. ``mass_weighted``
    uses ``masses`` or the trajectory's ``.masses``.
    """
    if trajectory is not None:
        if trajectory.velocities is None:
            raise TrajectoryFormatError(f"{trajectory.metadata.get('source', 'trajectory')}: no velocities, so no spectrum")
        velocities, dt_fs = trajectory.velocities, trajectory.require_consecutive("a vibrational spectrum")
        atomic_numbers = trajectory.atomic_numbers
        masses = trajectory.masses if masses is None else masses
    if velocities is None or dt_fs is None or not dt_fs > 0:
        raise ConfigError("vibrational_spectrum: give a trajectory, or velocities and a positive dt_fs")
    if mass_weighted and masses is None:
        raise ConfigError("vibrational_spectrum: mass_weighted needs masses")
    acf = velocity_autocorrelation(velocities, max_lag, masses if mass_weighted else None)
    lags = acf.shape[0]
    taper = 0.5 * (1 + np.cos(np.pi * np.arange(lags) / lags))
    tapered = acf * taper[:, None]
    size = max(int(oversample), 1) * 2 * lags
    # S(f) = dt [C(0) + 2 sum_{k>0} w_k C_k cos(2 pi f k dt)]
    density = dt_fs * (2 * np.fft.rfft(tapered, n=size, axis=0).real - tapered[:1])
    return VibrationalSpectrum(
        frequencies=np.fft.rfftfreq(size, d=dt_fs),
        density=density,
        atomic_numbers=None if atomic_numbers is None else np.asarray(atomic_numbers, dtype=np.int64),
        mass_weighted=mass_weighted,
    )


def spectrum_peaks(
    wavenumbers: np.ndarray,
    density: np.ndarray,
    band_cm: tuple[float, float] = (0.0, np.inf),
    prominence: float = 0.05,
    max_peaks: int | None = None,
) -> np.ndarray:
    """Positions (cm^-1) of the peaks of ``density`` (F,) within ``band_cm``, highest first.

    A peak must stand out by ``prominence`` times the band's maximum (``scipy.signal.find_peaks``).
    """
    from scipy.signal import find_peaks  # lazy: keeps SciPy out of `import chemnoether.gp`

    wavenumbers, density = np.asarray(wavenumbers, dtype=np.float64), np.asarray(density, dtype=np.float64)
    if wavenumbers.shape != density.shape or density.ndim != 1:
        raise ConfigError(f"spectrum_peaks: wavenumbers {wavenumbers.shape} and density {density.shape} must be the same (F,)")
    inside = (wavenumbers >= band_cm[0]) & (wavenumbers <= band_cm[1])
    if not inside.any():
        return np.zeros(0)
    x, y = wavenumbers[inside], density[inside]
    top = y.max()
    if not top > 0:
        return np.zeros(0)
    found, _ = find_peaks(y, prominence=prominence * top)
    order = found[np.argsort(-y[found])]
    return x[order[:max_peaks]] if max_peaks is not None else x[order]


def plot_spectra(
    path: str | os.PathLike,
    empirical: VibrationalSpectrum,
    predicted: SpectralMixture | None = None,
    *,
    by: str = "element",
    band_cm: tuple[float, float] = (0.0, 4000.0),
    title: str = "",
) -> Path:
    """A PNG of the empirical densities (and the predicted ones, (N, Q) per atom), one panel per element or atom.

    Each curve is scaled to its maximum in the band (the shapes and peak positions are what
    compare; the heights depend on the normalisation of the targets). Written atomically.
    """
    from matplotlib.figure import Figure  # lazy: optional matplotlib (extra "plots")

    if by not in ("element", "atom"):
        raise ConfigError(f"by={by!r}: choose 'element' or 'atom'")
    if by == "element" and empirical.atomic_numbers is None:
        raise ConfigError("plot_spectra: by='element' needs a spectrum with atomic_numbers")
    wavenumbers = empirical.wavenumbers
    inside = (wavenumbers >= band_cm[0]) & (wavenumbers <= band_cm[1])
    model = None
    if predicted is not None:
        if predicted.alpha.shape[0] != empirical.density.shape[1]:
            raise ConfigError(f"plot_spectra: {predicted.alpha.shape[0]} predicted densities for {empirical.density.shape[1]} atoms")
        grid = torch.as_tensor(to_frequency(wavenumbers[inside]), dtype=torch.float64)
        model = predicted.to(torch.float64).density(grid).detach().cpu().numpy().T  # (F', N)
    if by == "atom":
        columns = [(f"atom {i}" + (f" (Z={empirical.atomic_numbers[i]})" if empirical.atomic_numbers is not None else ""), [i]) for i in range(empirical.density.shape[1])]
    else:
        columns = [(f"Z={z}", np.flatnonzero(empirical.atomic_numbers == z).tolist()) for z in np.unique(empirical.atomic_numbers)]
    figure = Figure(figsize=(7, 1.8 * len(columns) + 0.6))
    axes = np.atleast_1d(figure.subplots(len(columns), 1, sharex=True, squeeze=False)[:, 0])
    for axis, (label, atoms) in zip(axes, columns, strict=True):
        axis.plot(wavenumbers[inside], _unit_peak(empirical.density[inside][:, atoms].mean(1)), color="black", lw=1, label="empirical")
        if model is not None:
            axis.plot(wavenumbers[inside], _unit_peak(model[:, atoms].mean(1)), color="tab:red", lw=1, label="predicted")
        axis.set_ylabel(label)
        axis.set_yticks([])
    axes[0].legend(fontsize="small", loc="upper left")
    axes[-1].set_xlabel("wavenumber (cm$^{-1}$)")
    if title:
        axes[0].set_title(title, fontsize="medium")
    figure.tight_layout()
    return atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))


def _unit_peak(values: np.ndarray) -> np.ndarray:
    top = np.max(np.abs(values)) if values.size else 0.0
    return values / top if top > 0 else values
