"""Generate MD trajectories offline: a named molecule or SMILES in, a ``Trajectory`` out.

The recipe: ETKDG conformer (seeded) -> MMFF94 minimum -> Maxwell-Boltzmann velocities at T (zero
net momentum) -> Langevin equilibration at T -> production run (velocity Verlet or Langevin
BAOAB) with a frame every ``save_every`` steps. The same seed gives the same arrays, bit for bit.

With ``out`` the frames go to a folder in chunks (``md_chunks``) so that an interrupted run resumes
where its last chunk ended, and an energy-conservation report (JSON, PNG) is written beside them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from ase.data import atomic_masses
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

import chemnoether
from chemnoether._progress import progress_bar
from chemnoether.simulation.integrators import (
    BOLTZMANN_EV_PER_K,
    FrameBuffer,
    LangevinBAOAB,
    MDState,
    VelocityVerlet,
    degrees_of_freedom,
    kinetic_energy,
    maxwell_boltzmann_velocities,
)
from chemnoether.data.md_chunks import ChunkFolder, concatenate, write_json_atomic
from chemnoether.simulation.report import energy_report, plot_energies
from chemnoether.data.molecules import resolve_molecule
from chemnoether.simulation.potentials import GFN2Potential, MMFFPotential, Potential
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import (
    ConfigError,
    InvalidMoleculeError,
    SimulationError,
)
from chemnoether.featurize.mol_prep import embed_conformer

THERMOSTATS = ("nve", "langevin")
POTENTIALS = ("mmff", "gfn2")
REPORT_NAME = "energy_report.json"
PLOT_NAME = "energy.png"
UNSTABLE_NAME = "unstable_frames.npz"
_PROGRESS_BLOCK_STEPS = 2000  # the integrator runs this many steps between progress-bar updates
_EQUILIBRATION_SAMPLE_STEPS = 10  # steps between potential-energy samples in the equilibration's second half


def prepare_molecule(smiles: str, seed: int = 0) -> Chem.Mol:
    """``smiles`` with explicit hydrogens and one ETKDG conformer (seeded), at its MMFF94 minimum.

    Molecules MMFF94 cannot type are minimised with UFF instead, or left as embedded if UFF cannot
    type them either (GFN2-xTB runs then rely on the equilibration).
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidMoleculeError(f"{smiles!r}: RDKit cannot parse this SMILES")
    mol = embed_conformer(mol, seed)  # the featurizer's seeded ETKDG, with its fallback
    if rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
        rdForceFieldHelpers.MMFFOptimizeMolecule(mol, maxIters=10_000)
    elif rdForceFieldHelpers.UFFHasAllMoleculeParams(mol):
        rdForceFieldHelpers.UFFOptimizeMolecule(mol, maxIters=10_000)
    return mol


def make_potential(kind: str, mol: Chem.Mol) -> Potential:
    """``"mmff"`` (RDKit MMFF94) or ``"gfn2"`` (GFN2-xTB, needs tblite) for ``mol``."""
    if kind == "mmff":
        return MMFFPotential(mol)
    if kind == "gfn2":
        return GFN2Potential.from_mol(mol)
    raise ConfigError(f"potential={kind!r}: choose one of {', '.join(POTENTIALS)}")


def _check_options(n_steps, dt_fs, temperature_K, thermostat, friction_per_fs, potential, seed, save_every, explicit_hydrogens, chunk_frames, equilibration_steps, max_energy_change_eV_per_atom):
    problems = []
    if thermostat not in THERMOSTATS:
        problems.append(f"thermostat={thermostat!r}: choose one of {', '.join(THERMOSTATS)}")
    if potential not in POTENTIALS:
        problems.append(f"potential={potential!r}: choose one of {', '.join(POTENTIALS)}")
    if not explicit_hydrogens:
        problems.append(
            "explicit_hydrogens=False: MD needs every hydrogen; simulate with them and keep the heavy atoms "
            "afterwards with trajectory.atoms_subset(trajectory.atomic_numbers > 1)"
        )
    for label, value, minimum in (("save_every", save_every, 1), ("chunk_frames", chunk_frames, 1), ("seed", seed, 0), ("n_steps", n_steps, 0), ("equilibration_steps", equilibration_steps, 0)):
        if not isinstance(value, (int, np.integer)) or value < minimum:
            problems.append(f"{label}={value!r}: must be an integer >= {minimum}")
    for label, value in (("dt_fs", dt_fs), ("friction_per_fs", friction_per_fs), ("max_energy_change_eV_per_atom", max_energy_change_eV_per_atom)):
        if not (np.isfinite(value) and value > 0):
            problems.append(f"{label}={value!r}: must be positive")
    if not (np.isfinite(temperature_K) and temperature_K >= 0):
        problems.append(f"temperature_K={temperature_K!r}: must be >= 0")
    if not problems and n_steps % save_every:
        problems.append(f"n_steps={n_steps} is not a multiple of save_every={save_every}")
    if problems:
        raise ConfigError("; ".join(problems))


def generate_md(
    molecule: str,
    n_steps: int,
    *,
    dt_fs: float = 0.5,
    temperature_K: float = 300.0,
    thermostat: str = "nve",
    friction_per_fs: float = 0.01,
    potential: str = "mmff",
    seed: int = 0,
    save_every: int = 1,
    explicit_hydrogens: bool = True,
    out: str | os.PathLike | None = None,
    chunk_frames: int = 5000,
    resume: bool = True,
    progress: bool = True,
    equilibration_steps: int = 2000,
    max_energy_change_eV_per_atom: float = 1.0,
    stop_requested: Callable[[], bool] | None = None,
) -> Trajectory:
    """Run MD of ``molecule`` (a name from ``KNOWN_MOLECULES`` or a SMILES) for ``n_steps`` steps.

    Returns ``n_steps // save_every + 1`` frames (the first is the state after equilibration), at
    ``dt_fs * save_every`` fs apart, with positions, velocities, forces and potential energies.
    ``thermostat``: ``"nve"`` (velocity Verlet) or ``"langevin"`` (BAOAB, ``friction_per_fs``).
    Equilibration: ``equilibration_steps`` of Langevin at ``temperature_K`` before frame 0, so
    that an NVE run starts at the temperature asked (a minimum with Maxwell-Boltzmann velocities
    would settle near T/2). The NVE run keeps the total energy of that one canonical state, so for a
    small molecule its mean temperature varies from seed to seed (ethanol at 300 K, seeds 0-11:
    156 to 442 K, 322 K on average); use ``thermostat="langevin"`` where the temperature matters.

    ``out``: a folder for chunks of ``chunk_frames`` frames, their manifest and the energy report.
    With ``resume`` a folder holding the same run continues from its last chunk (and a longer
    ``n_steps`` extends it); without, it is overwritten. MMFF runs resume bit for bit; GFN2 runs
    differ after a resume within the SCC tolerance (see ``GFN2Potential``).

    The run stops with ``SimulationError`` naming the step when the total energy moves more than
    ``max_energy_change_eV_per_atom`` per atom from frame 0 (or is not finite); chunks already
    written stay readable, and the frames of the unfinished chunk go to ``unstable_frames.npz``.
    ``stop_requested``: asked between blocks of steps; when it says yes the run raises
    ``KeyboardInterrupt`` there (the CLI passes "a Ctrl-C or SIGTERM arrived").
    """
    _check_options(n_steps, dt_fs, temperature_K, thermostat, friction_per_fs, potential, seed, save_every, explicit_hydrogens, chunk_frames, equilibration_steps, max_energy_change_eV_per_atom)
    name, smiles = resolve_molecule(molecule)
    settings = {
        "name": name,
        "smiles": smiles,
        "potential": potential,
        "thermostat": thermostat,
        "dt_fs": float(dt_fs),
        "temperature_K": float(temperature_K),
        "friction_per_fs": float(friction_per_fs),
        "seed": int(seed),
        "save_every": int(save_every),
        "equilibration_steps": int(equilibration_steps),
        "max_energy_change_eV_per_atom": float(max_energy_change_eV_per_atom),
    }
    store = None
    if out is not None:
        store = ChunkFolder(out, settings)
        store.open(resume)
        if store.n_frames == 0:  # a fresh start: frames from an earlier failure would mislead
            (store.folder / UNSTABLE_NAME).unlink(missing_ok=True)

    mol = prepare_molecule(smiles, seed)
    model = make_potential(potential, mol)
    _check_start_structure(mol, name)
    masses = atomic_masses[model.atomic_numbers].astype(np.float64)  # what Trajectory.masses assumes
    metadata = _metadata(settings, model.method)
    tolerance = max_energy_change_eV_per_atom * len(masses)
    rng = np.random.default_rng(seed)
    chunks = store.load_chunks() if store else []
    if chunks:
        state, reference = _resumed_state(chunks[-1], store.resume_state, rng)
    else:
        state = _equilibrated_state(mol, model, masses, settings, rng, tolerance, progress)
        reference = state.energy + kinetic_energy(masses, state.velocities)

    if thermostat == "nve":
        integrator = VelocityVerlet(model, masses, dt_fs)
    else:  # the generator continues the equilibration's stream (or the resumed state's)
        integrator = LangevinBAOAB(model, masses, dt_fs, temperature=temperature_K, friction_per_fs=friction_per_fs, rng=rng)
    integrator.guard(reference, tolerance)

    n_frames = n_steps // save_every + 1
    done = sum(c.n_frames for c in chunks)
    bar = progress_bar(total=n_steps, initial=min(max(done - 1, 0) * save_every, n_steps), desc=f"MD {name}", unit="step", disable=not progress)
    try:
        while done < n_frames:
            buffer = FrameBuffer(min(chunk_frames, n_frames - done), len(masses))
            if done == 0:
                buffer.append(state)  # frame 0: the equilibrated start
            try:
                _fill(integrator, state, buffer, save_every, bar, stop_requested)
            except SimulationError as err:
                raise _kept_frames_error(err, store, buffer, done, model, dt_fs * save_every, metadata) from err
            chunk = _chunk_trajectory(buffer, done, model, dt_fs * save_every, metadata)
            chunks.append(chunk)
            if store:
                store.append(chunk, {"step": state.step, "rng_state": rng.bit_generator.state, "reference_total_energy_eV": reference})
            done += chunk.n_frames
    finally:
        bar.close()

    trajectory = concatenate(chunks) if len(chunks) > 1 else chunks[0]
    if trajectory.n_frames > n_frames:  # the folder holds a longer run than asked for
        trajectory = trajectory.frames(slice(0, n_frames))
    if store:
        write_json_atomic(store.folder / REPORT_NAME, energy_report(trajectory))
        plot_energies(trajectory, store.folder / PLOT_NAME)
    return trajectory


_MIN_DISTANCE_A = 0.5  # closer than any bond (H-H is 0.74 Å): atoms placed on top of each other
_MAX_START_EV_PER_ATOM = 10.0  # a minimised molecule sits within a few eV per atom of zero (MMFF94)


def _check_start_structure(mol: Chem.Mol, name: str) -> None:
    """``InvalidMoleculeError`` for overlapping atoms: MD from there is unstable at any time step."""
    positions = mol.GetConformer().GetPositions()
    if len(positions) > 1:
        distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        distances[np.diag_indices(len(positions))] = np.inf
        i, j = np.unravel_index(np.argmin(distances), distances.shape)
        if distances[i, j] < _MIN_DISTANCE_A:
            symbols = [atom.GetSymbol() for atom in mol.GetAtoms()]
            raise InvalidMoleculeError(
                f"{name}: atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) of the start structure are "
                f"{distances[i, j]:.2f} Å apart; separate fragments ('.' in the SMILES, e.g. ions) are embedded on "
                "top of each other, so no time step can help: simulate one connected molecule"
            )


def _check_start_energy(energy: float, n_atoms: int, method: str, name: str) -> None:
    """``InvalidMoleculeError`` for an absurd energy at the minimum: the cause, not the time step."""
    if not np.isfinite(energy) or energy / n_atoms > _MAX_START_EV_PER_ATOM:
        raise InvalidMoleculeError(
            f"{name}: the start energy under {method} is {energy:.4g} eV ({energy / n_atoms:.3g} eV per "
            "atom), absurd for a minimised structure; the force field does not describe this molecule (ions, "
            "charges or terms it lacks), so no time step can help: try --potential gfn2 or another molecule"
        )


def _metadata(settings: dict, method: str) -> dict:
    """What a generated trajectory says about itself (JSON-ready)."""
    return {
        "source": "generated",
        "name": settings["name"],
        "smiles": settings["smiles"],
        "method": method,
        "potential": settings["potential"],
        "thermostat": settings["thermostat"],
        "temperature_K": settings["temperature_K"],
        "friction_per_fs": settings["friction_per_fs"] if settings["thermostat"] == "langevin" else None,
        "dt_integration_fs": settings["dt_fs"],
        "save_every": settings["save_every"],
        "seed": settings["seed"],
        "equilibration_steps": settings["equilibration_steps"],
        "chemnoether_version": chemnoether.__version__,
    }


def _equilibrated_state(mol, model: Potential, masses, settings: dict, rng, tolerance: float, progress: bool) -> MDState:
    positions = mol.GetConformer().GetPositions()
    velocities = maxwell_boltzmann_velocities(masses, settings["temperature_K"], rng)
    energy, forces = model.energy_forces(positions)
    _check_start_energy(energy, len(masses), model.method, settings["name"])
    state = MDState(positions, velocities, forces.copy(), energy)
    steps = settings["equilibration_steps"]
    potential_samples = []
    if steps:
        thermostat = LangevinBAOAB(model, masses, settings["dt_fs"], temperature=settings["temperature_K"], friction_per_fs=settings["friction_per_fs"], rng=rng)
        thermostat.guard(energy + kinetic_energy(masses, velocities), tolerance)
        with progress_bar(total=steps, desc="equilibrate", unit="step", disable=not progress) as bar:
            done = 0
            while done < steps:
                # the second half is sampled every few steps for the canonical mean potential energy
                n = _EQUILIBRATION_SAMPLE_STEPS if done >= steps // 2 else min(_PROGRESS_BLOCK_STEPS, steps // 2 - done)
                n = max(1, min(n, steps - done))
                thermostat.run(state, n)
                if done >= steps // 2:
                    potential_samples.append(state.energy)
                done += n
                bar.update(n)
    if settings["thermostat"] == "nve" and potential_samples:
        _set_canonical_total_energy(state, masses, float(np.mean(potential_samples)), settings["temperature_K"])
    state.step = 0  # production steps count from the equilibrated start
    return state


def _set_canonical_total_energy(state: MDState, masses: np.ndarray, mean_potential: float, temperature: float) -> None:
    """Rescale velocities so the NVE run's total energy is the thermostat's mean total energy.

    An NVE run keeps the total energy of the state it starts from; taken at one instant of a
    Langevin run, that energy is a random draw whose spread is large for a small molecule (ethanol at
    300 K: mean NVE temperatures from 156 to 442 K over 12 seeds). Setting it to the canonical mean
    (mean potential energy of the second half of the equilibration, plus equipartition kinetic
    energy) makes the run's temperature close to the one asked for.
    """
    target_kinetic = mean_potential + 0.5 * degrees_of_freedom(len(masses)) * BOLTZMANN_EV_PER_K * temperature - state.energy
    current = kinetic_energy(masses, state.velocities)
    if target_kinetic > 0 and current > 0:
        state.velocities *= np.sqrt(target_kinetic / current)


def _resumed_state(last_chunk: Trajectory, resume_state: dict, rng) -> tuple[MDState, float]:
    # the last frame holds positions, velocities, forces and energy exactly (lossless float64);
    # the RNG state after it is in the manifest, so the continuation is the uninterrupted run
    state = MDState(
        last_chunk.positions[-1].copy(),
        last_chunk.velocities[-1].copy(),
        last_chunk.forces[-1].copy(),
        float(last_chunk.energies[-1]),
        int(resume_state["step"]),
    )
    rng.bit_generator.state = resume_state["rng_state"]
    return state, float(resume_state["reference_total_energy_eV"])


def _fill(integrator, state: MDState, buffer: FrameBuffer, save_every: int, bar, stop_requested=None) -> None:
    block_frames = max(1, _PROGRESS_BLOCK_STEPS // save_every)
    while buffer.count < buffer.capacity:
        if stop_requested is not None and stop_requested():
            # a Ctrl-C whose KeyboardInterrupt was swallowed (raised inside a finaliser, where
            # Python only prints it) still stops the run here, between blocks
            raise KeyboardInterrupt("stop requested")
        n_frames = min(block_frames, buffer.capacity - buffer.count)
        integrator.run(state, n_frames * save_every, save_every=save_every, frames=buffer)
        bar.update(n_frames * save_every)


def _chunk_trajectory(buffer: FrameBuffer, first_frame: int, model: Potential, frame_dt_fs: float, metadata: dict) -> Trajectory:
    k = buffer.count
    return Trajectory(
        atomic_numbers=model.atomic_numbers,
        positions=buffer.positions[:k],
        velocities=buffer.velocities[:k],
        forces=buffer.forces[:k],
        energies=buffer.energies[:k],
        dt_fs=frame_dt_fs,
        frame_indices=np.arange(first_frame, first_frame + k),
        metadata=metadata,
    )


def _kept_frames_error(err: SimulationError, store: ChunkFolder | None, buffer: FrameBuffer, first_frame: int, model, frame_dt_fs: float, metadata: dict) -> SimulationError:
    """The guard's message plus where the frames before the blow-up are."""
    if store is None:
        return SimulationError(str(err))
    if store.n_frames:
        kept = f"; the {store.n_frames} frames of complete chunks stay in {store.folder} (chemnoether.data.md_chunks.load_generated)"
    else:
        kept = f"; no chunk was complete in {store.folder}"
    if buffer.count:
        unstable_path = store.folder / UNSTABLE_NAME
        _chunk_trajectory(buffer, first_frame, model, frame_dt_fs, metadata).save(unstable_path)
        kept += f"; frames {first_frame}-{first_frame + buffer.count - 1} of the unfinished chunk are in {unstable_path}"
    store.manifest["failed"] = str(err)
    write_json_atomic(store.manifest_path, store.manifest)
    return SimulationError(str(err) + kept)


