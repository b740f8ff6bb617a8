"""Energy-shell projection: put positions *and* velocities back on ``H = E_ref`` after a learned step.

Velocity rescaling (``rescale.rescale_to_energy``) can only give back energy the step took from
the kinetic part: when the step raises the potential energy above the reference total, no real
alpha exists and the replica has to stop. The standard projection method of geometric
integration (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, section IV.4) moves the
whole state instead, along the gradient of H, to the nearest point of the energy shell::

    z(lam) = (x - lam * tau² M⁻¹ dV/dx,  v - lam * v_int),        solve H(z(lam)) = E_ref

The learned MD engine (``rescale="project"``) first rescales the velocities as FlashMD does and
projects only the replicas for which no real alpha exists: the learned positions are kept
whenever the kinetic energy can pay for the step's error. (Projecting every step instead relaxes
the stiff bonds along the gradient each time and freezes their vibrations: on the quick benchmark
the bond-length divergence was 0.38 against 0.28 with rescaling first, ``benchmarks/README.md``.)

The metric is the mass-weighted one with the time scale ``tau`` (the learned step), so a
position moves by what its force would move it over one step, and the velocity part is the
internal (centre-of-mass-free) velocity: the linear momentum of the learned step survives, as
in rescaling. Each iteration is a Newton step on ``lam`` along the gradient at the current point (so a shell
that a straight line from the learned state misses is still reached), with ``lam`` bounded so
that no iteration reverses or more than doubles a velocity. The factor
the velocities were scaled by, ``1 - lam``, is logged in the ``alpha`` column like a rescaling
factor. A replica whose iteration does not reach the shell stops with that reason.

A companion potential gives its gradient by ``energy_and_gradient(positions)`` when it has one
(``LearnedCompanion``: the energy head's forces), else through torch autograd (``MMFFCompanion``).
"""

from __future__ import annotations

import numpy as np
import torch

from chemnoether.core.units import ACCELERATION_UNIT, kinetic_energy
from chemnoether.learned_md._physics import split_com
from chemnoether.learned_md.rescale import CompanionPotential

MAX_ITERATIONS = 12
# per iteration the internal velocities are scaled by 1 - lam, lam in [-MAX_VELOCITY_GROWTH, MAX_VELOCITY_CUT]:
# never reversed, at most doubled, so a far shell is reached in several steps, not one wild one
MAX_VELOCITY_CUT = 0.5
MAX_VELOCITY_GROWTH = 1.0
TOLERANCE_EV = 1e-5  # plus 1e-6 of |E_ref|: a float32 learned energy resolves about that much


def energy_and_gradient(potential: CompanionPotential, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(V (B,), dV/dx (B, N, 3))`` of the companion at positions (B, N, 3) Å, float64 numpy."""
    own = getattr(potential, "energy_and_gradient", None)
    if own is not None:
        energy, gradient = own(positions)
    else:
        with torch.enable_grad():
            pos = torch.as_tensor(positions, dtype=torch.float64).clone().requires_grad_(True)
            energy = potential(pos)
            (gradient,) = torch.autograd.grad(energy.sum(), pos)
    energy = torch.as_tensor(energy).detach().to("cpu", torch.float64).reshape(-1).numpy()
    gradient = torch.as_tensor(gradient).detach().to("cpu", torch.float64).reshape(positions.shape).numpy()
    return energy, gradient


def project_to_energy(
    masses: np.ndarray,
    positions: np.ndarray,
    velocities: np.ndarray,
    energy_reference: np.ndarray,
    potential: CompanionPotential,
    tau_fs: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
    """``(positions, velocities, V, velocity_factor, reasons)`` with ``V + K = energy_reference``.

    Arrays are (B, N, 3) Å and Å/fs; ``reasons[b]`` says why replica b could not be projected
    (its state is then returned unchanged and its factor is NaN).
    """
    masses = np.asarray(masses, dtype=np.float64)
    x, v = np.array(positions, dtype=np.float64), np.array(velocities, dtype=np.float64)
    factor = np.ones(len(x))
    energy = np.full(len(x), np.nan)
    error = np.full(len(x), np.inf)
    tolerance = TOLERANCE_EV + 1e-6 * np.abs(energy_reference)
    rows = np.arange(len(x))
    for _ in range(MAX_ITERATIONS):
        energy[rows], gradient = energy_and_gradient(potential, x[rows])
        error[rows] = energy[rows] + kinetic_energy(masses, v[rows]) - energy_reference[rows]
        open_rows = np.isfinite(error[rows]) & (np.abs(error[rows]) > tolerance[rows])
        rows, gradient = rows[open_rows], gradient[open_rows]
        if not rows.size:
            break
        _, internal = split_com(masses, v[rows])
        step_x = -(tau_fs**2) * ACCELERATION_UNIT * gradient / masses[None, :, None]
        # dH/dlam along (step_x, -internal): never positive, zero only at rest on a flat potential
        slope = (gradient * step_x).sum(axis=(1, 2)) - 2.0 * kinetic_energy(masses, internal)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.clip(-error[rows] / slope, -MAX_VELOCITY_GROWTH, MAX_VELOCITY_CUT)
        lam = np.where(np.isfinite(lam), lam, 0.0)
        x[rows] += lam[:, None, None] * step_x
        v[rows] -= lam[:, None, None] * internal
        factor[rows] *= 1.0 - lam
    converged = np.abs(error) <= tolerance
    keep = converged[:, None, None]
    reasons = [
        None if ok else (
            f"energy projection: the energy shell E_ref = {e:.6g} eV was not reached along the gradient "
            f"(H - E_ref = {h:.3g} eV after {MAX_ITERATIONS} iterations); the learned step left the energy surface"
        )
        for ok, e, h in zip(converged, energy_reference, error, strict=True)
    ]
    return (np.where(keep, x, positions), np.where(keep, v, velocities), energy,
            np.where(converged, factor, np.nan), reasons)
