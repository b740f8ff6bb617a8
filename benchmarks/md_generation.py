"""MD generation speed against ASE's dynamics, same potential, same process; and NVE energy drift.

Peer: ASE's ``VelocityVerlet`` driving the very same MMFF94 potential through an ASE
``Calculator`` wrapper, so the ratio measures the integrator loops, not the force field. Ours:
``chemnoether.simulation.integrators.VelocityVerlet``. Both start from the same MMFF minimum with the
same Maxwell-Boltzmann velocities (300 K) at 0.5 fs; the two trajectories are checked to agree.
The runs are interleaved and repeated after a warm-up; medians (and the median of per-repeat
ratios) are reported. Also: GFN2-xTB (tblite) steps/s for ethanol (skipped without tblite), and
the NVE total-energy drift of ``generate_md`` over 10,000 steps at 0.5 fs (ethanol, MMFF94).

Run: ``python benchmarks/md_generation.py [--repeats 3] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_masses
from ase.md.verlet import VelocityVerlet as AseVelocityVerlet

import chemnoether  # noqa: F401 - by habit before anything that may import dgl
from chemnoether.simulation.generate import generate_md, make_potential, prepare_molecule
from chemnoether.simulation.integrators import (
    MDState,
    VelocityVerlet,
    maxwell_boltzmann_velocities,
)
from chemnoether.simulation.report import energy_report
from chemnoether.data.molecules import resolve_molecule

DT_FS = 0.5


class PotentialCalculator(Calculator):
    """Any chemnoether ``Potential`` as an ASE calculator (eV and eV/Å are ASE's units too)."""

    implemented_properties = ("energy", "forces")

    def __init__(self, potential):
        super().__init__()
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.potential.energy_forces(self.atoms.positions)
        self.results = {"energy": energy, "forces": forces}


def setup(molecule: str, potential: str = "mmff"):
    """Potential, masses, minimum positions and 300 K velocities (seed 0) of ``molecule``."""
    mol = prepare_molecule(resolve_molecule(molecule)[1], seed=0)
    model = make_potential(potential, mol)
    masses = atomic_masses[model.atomic_numbers]
    velocities = maxwell_boltzmann_velocities(masses, 300.0, np.random.default_rng(0))
    return model, masses, mol.GetConformer().GetPositions(), velocities


def ours(model, masses, positions, velocities, n_steps: int) -> tuple[float, np.ndarray]:
    """Steps/s of our loop and the final positions."""
    energy, forces = model.energy_forces(positions)
    state = MDState(positions.copy(), velocities.copy(), forces.copy(), energy)
    integrator = VelocityVerlet(model, masses, DT_FS)
    start = time.perf_counter()
    integrator.run(state, n_steps)
    return n_steps / (time.perf_counter() - start), state.positions


def ase_peer(model, masses, positions, velocities, n_steps: int) -> tuple[float, np.ndarray]:
    """Steps/s of ASE's VelocityVerlet on the same potential, and the final positions."""
    atoms = Atoms(numbers=model.atomic_numbers, positions=positions.copy(), masses=masses)
    atoms.set_velocities(velocities / units.fs)  # Å/fs -> ASE's velocity unit
    atoms.calc = PotentialCalculator(model)
    dynamics = AseVelocityVerlet(atoms, timestep=DT_FS * units.fs)
    start = time.perf_counter()
    dynamics.run(n_steps)
    return n_steps / (time.perf_counter() - start), atoms.positions


def compare(molecule: str, repeats: int, n_ours: int, n_ase: int) -> dict:
    setup_args = setup(molecule)
    # the same dynamics: after 200 steps both loops must sit at the same positions
    difference = np.abs(ours(*setup_args, 200)[1] - ase_peer(*setup_args, 200)[1]).max()
    assert difference < 1e-8, f"{molecule}: ours and ASE's trajectories differ by {difference} Å"
    rates = {"ours": [], "ase": [], "ratio": []}
    for _ in range(repeats):
        peer = ase_peer(*setup_args, n_ase)[0]
        mine = ours(*setup_args, n_ours)[0]
        rates["ase"].append(peer)
        rates["ours"].append(mine)
        rates["ratio"].append(mine / peer)
    rates["max_position_difference_after_200_steps_A"] = float(difference)
    return rates


def gfn2_rate(molecule: str, n_steps: int) -> float | None:
    try:
        model, masses, positions, velocities = setup(molecule, "gfn2")
    except Exception as err:  # noqa: BLE001 - tblite missing: report and skip
        print(f"GFN2-xTB skipped: {err}")
        return None
    ours(model, masses, positions, velocities, 20)  # warm-up: the first SCCs start from scratch
    return ours(model, masses, positions, velocities, n_steps)[0]


def drift(n_steps: int = 10_000) -> dict:
    trajectory = generate_md("ethanol", n_steps, dt_fs=DT_FS, seed=0, progress=False)
    return energy_report(trajectory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    ours(*setup("ethanol"), 2000)  # warm-up: imports, RDKit and numpy first calls
    results = {
        "ethanol": compare("ethanol", args.repeats, 20_000, 2_000),
        "aspirin": compare("aspirin", args.repeats, 10_000, 2_000),
        "gfn2_ethanol_steps_per_s": gfn2_rate("ethanol", 500),
        "gfn2_aspirin_steps_per_s": gfn2_rate("aspirin", 100),
        "nve_drift_ethanol": drift(),
    }

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    print(f"\nMD generation, one process, {machine}, {date.today()}, {args.repeats} repeats, dt {DT_FS} fs")
    print("| run | steps/s (median) | ratio to ASE VelocityVerlet (median of per-repeat ratios) |")
    print("|---|---|---|")
    for molecule in ("ethanol", "aspirin"):
        r = results[molecule]
        print(f"| ASE `VelocityVerlet` + MMFF94 calculator, {molecule} | {statistics.median(r['ase']):.0f} | 1.00 |")
        print(f"| chemnoether `VelocityVerlet`, MMFF94, {molecule} | {statistics.median(r['ours']):.0f} | **{statistics.median(r['ratio']):.1f}** |")
    for molecule in ("ethanol", "aspirin"):
        rate = results[f"gfn2_{molecule}_steps_per_s"]
        print(f"| chemnoether `VelocityVerlet`, GFN2-xTB (tblite), {molecule} | {'skipped (no tblite)' if rate is None else f'{rate:.0f}'} | |")
    report = results["nve_drift_ethanol"]
    print("\n| NVE, ethanol, MMFF94, 10,000 steps at 0.5 fs (5 ps), Langevin-equilibrated at 300 K, seed 0 | value |")
    print("|---|---|")
    print(f"| total-energy drift (slope of a line fit) | {1000 * report['total_energy_drift_eV_per_ps']:.3f} meV/ps ({1000 * report['total_energy_drift_eV_per_ps_per_atom']:.4f} meV/ps/atom) |")
    print(f"| max abs(E_total - E_0) | {1000 * report['max_abs_total_energy_change_eV']:.2f} meV |")
    print(f"| std of E_total | {1000 * report['total_energy_std_eV']:.2f} meV |")
    print(f"| mean temperature (NVE started at the canonical mean total energy for 300 K) | {report['mean_temperature_K']:.0f} K |")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
