"""Spectral-density GP node heads (docs/design.md section 8): densities, kernels, conditioning, spectra.

* ``spectral``: ``SpectralMixture`` (Gaussian-mixture densities and the spectral-mixture kernel),
  ``SpectralMixtureNet``, ``DensityEvolution``, ``QuadricDensity``, unit conversion (1/fs, cm^-1).
* ``conditioning``: batched exact GP conditioning (float64 Cholesky, jitter escalation) and the
  random-Fourier-feature path; ``NumericalError``, ``WindowError``.
* ``head``: ``SpectralGPHead``, the equivariant LMC head, and its losses.
* ``spectra``: empirical vibrational densities of states, peaks and plots.
"""

from chemnoether.gp.conditioning import (
    JITTERS,
    Conditioned,
    NumericalError,
    WindowError,
    check_finite_frames,
    check_window,
    exact_condition,
    rff_condition,
    robust_cholesky,
)
from chemnoether.gp.head import (
    GPForecast,
    SpectralGPHead,
    negative_log_marginal_likelihood,
    predictive_nll,
)
from chemnoether.gp.spectra import (
    VibrationalSpectrum,
    plot_spectra,
    spectrum_peaks,
    velocity_autocorrelation,
    vibrational_spectrum,
)
from chemnoether.gp.spectral import (
    RFF_SAMPLINGS,
    WAVENUMBER_PER_INV_FS,
    DensityCollapseWarning,
    DensityEvolution,
    QuadricDensity,
    SpectralMixture,
    SpectralMixtureNet,
    incidence_context,
    rff_eps,
    to_frequency,
    to_wavenumber,
)

__all__ = [
    "JITTERS",
    "RFF_SAMPLINGS",
    "WAVENUMBER_PER_INV_FS",
    "Conditioned",
    "DensityCollapseWarning",
    "DensityEvolution",
    "GPForecast",
    "NumericalError",
    "QuadricDensity",
    "SpectralGPHead",
    "SpectralMixture",
    "SpectralMixtureNet",
    "VibrationalSpectrum",
    "WindowError",
    "check_finite_frames",
    "check_window",
    "exact_condition",
    "incidence_context",
    "negative_log_marginal_likelihood",
    "plot_spectra",
    "predictive_nll",
    "rff_condition",
    "rff_eps",
    "robust_cholesky",
    "spectrum_peaks",
    "to_frequency",
    "to_wavenumber",
    "velocity_autocorrelation",
    "vibrational_spectrum",
]
