"""Energy-conservation report of an MD trajectory: drift and fluctuation (NVE), temperature (NVT).

Works on any ``Trajectory`` with velocities and potential energies whose frames are consecutive.
NVE: the slope of a least-squares line through the total energy (eV/ps, and per atom), its
standard deviation and its largest excursion from the first frame. NVT: the mean temperature
against the target. Temperatures use 3N - 3 degrees of freedom (net momentum removed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import units

from chemnoether.simulation.integrators import degrees_of_freedom
from chemnoether.data.trajectory import Trajectory


def energy_report(trajectory: Trajectory) -> dict:
    """A JSON-ready summary; the thermostat and target come from ``trajectory.metadata``."""
    dt_fs = trajectory.require_consecutive("an energy-conservation report")
    kinetic = trajectory.kinetic_energies()
    potential = trajectory.energies
    total = potential + kinetic
    n_atoms = trajectory.n_atoms
    temperature = 2.0 * kinetic / (degrees_of_freedom(n_atoms) * units.kB)
    time_ps = np.arange(trajectory.n_frames) * dt_fs / 1000.0
    meta = trajectory.metadata
    report = {
        "name": meta.get("name"),
        "method": meta.get("method"),
        "thermostat": meta.get("thermostat"),
        "n_atoms": n_atoms,
        "n_frames": trajectory.n_frames,
        "frame_dt_fs": dt_fs,
        "duration_ps": float(time_ps[-1]),
        "target_temperature_K": meta.get("temperature_K"),
        "mean_temperature_K": float(temperature.mean()),
        "std_temperature_K": float(temperature.std()),
        "total_energy_std_eV": float(total.std()),
        "max_abs_total_energy_change_eV": float(np.abs(total - total[0]).max()),
    }
    if trajectory.n_frames > 1:
        slope = float(np.polyfit(time_ps, total, 1)[0])
        report["total_energy_drift_eV_per_ps"] = slope
        report["total_energy_drift_eV_per_ps_per_atom"] = slope / n_atoms
    if meta.get("thermostat") == "langevin" and meta.get("temperature_K"):
        target = float(meta["temperature_K"])
        report["temperature_relative_error"] = (report["mean_temperature_K"] - target) / target
    return report


def format_report(report: dict) -> str:
    """A few lines for a terminal."""
    lines = [
        (
            f"{report['name']} ({report['method']}, {report['thermostat']}): {report['n_frames']} frames, "
            f"{report['duration_ps']:.3f} ps, {report['n_atoms']} atoms"
        )
    ]
    if report["thermostat"] == "nve" and "total_energy_drift_eV_per_ps" in report:
        lines.append(
            f"total energy drift {1000 * report['total_energy_drift_eV_per_ps']:.3f} meV/ps "
            f"({1000 * report['total_energy_drift_eV_per_ps_per_atom']:.4f} meV/ps/atom), "
            f"std {1000 * report['total_energy_std_eV']:.3f} meV, max |E - E0| {1000 * report['max_abs_total_energy_change_eV']:.3f} meV"
        )
    lines.append(
        f"temperature {report['mean_temperature_K']:.1f} ± {report['std_temperature_K']:.1f} K "
        f"(target {report['target_temperature_K']} K)"
    )
    return "\n".join(lines)


def plot_energies(trajectory: Trajectory, path: str | os.PathLike) -> Path | None:
    """Total, potential and kinetic energy against time as a PNG; ``None`` without matplotlib."""
    try:
        # a bare Figure draws with Agg and leaves pyplot's global state (and backend) alone
        from matplotlib.figure import Figure  # lazy: optional matplotlib (extra "plots")
    except ImportError:
        return None
    dt_fs = trajectory.require_consecutive("an energy plot")
    time_ps = np.arange(trajectory.n_frames) * dt_fs / 1000.0
    kinetic = trajectory.kinetic_energies()
    reference = trajectory.energies[0] + kinetic[0]  # offsets keep the three curves on one axis
    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    total = trajectory.energies + kinetic - reference
    axis.plot(time_ps, trajectory.energies - trajectory.energies[0], label="potential", lw=0.6, color="tab:orange")
    axis.plot(time_ps, kinetic - kinetic[0], label="kinetic", lw=0.6, color="tab:green")
    # drawn last and thick: on this scale a conserved total is a flat line over the other two
    axis.plot(time_ps, total, label=f"total (std {1000 * total.std():.2f} meV)", lw=1.6, color="black", zorder=3)
    axis.set_xlabel("time (ps)")
    axis.set_ylabel("energy - first frame (eV)")
    meta = trajectory.metadata
    axis.set_title(f"{meta.get('name')}: {meta.get('method')}, {meta.get('thermostat')}")
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
