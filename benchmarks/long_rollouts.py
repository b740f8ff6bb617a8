"""Long learned-MD rollouts of a trained run (issue 13, point 3): stable? conserving? how fast?

    chemnoether train recipes/learned_md/quick.yaml -o runs/learned_md
    OMP_NUM_THREADS=1 python benchmarks/long_rollouts.py runs/learned_md --preset quick

Per variant (``VARIANTS``: plain NVE, NVE with MMFF94 energy rescaling, NVT by CSVR half steps
with rescaling), replicas start from test windows spread over the run's test split and run
through ``chemnoether.learned_md.run_learned_md``; the reference is MMFF94 velocity-Verlet MD at the
data's 0.5 fs step from the same start frames. Reported per row:

* ``physical_share``: replicas that ran to the end (every bond within 50% strain, no pair < 0.5 Å,
  finite, and a real rescaling alpha), ``n_replicas`` beside it;
* ``nve_drift_meV_per_atom_ps``: mean over the replicas that finished of the slope of their total
  energy under MMFF94 (least squares), and its ratio to the reference MD's kinetic-energy std;
* ``mean_T_K`` / ``std_T_K``: over replicas and frames after the first 20% of the run;
  ``T_standard_error_K``: the spread of the per-replica means over sqrt(replicas) (frames of one
  replica are correlated, replicas are not), what an NVT mean can be told from its target by;
* ``pos_mse_100fs_A2``: position MSE against the reference MD 100 fs after the start (Å², over
  the replicas still running then; NVE rows); ``energy_change_100fs_meV_per_atom``: the mean
  |E(100 fs) - E(0)| under MMFF94 over the same replicas (every variant still has all of them
  then, so it compares rows whose replicas do not all finish);
* ``ps_per_hour``: simulated ps per wall-clock hour summed over replicas, and its ratio to the
  MMFF94 MD (one numpy Verlet loop per replica, same cores) measured in the same run. A variant
  row's speed falls as replicas stop (smaller batches), so the "speed only" rows time a full
  batch of learned steps (graph building included).

* ``bond_jsd`` / ``bond_jsd_max`` / ``angle_jsd`` / ``dihedral_jsd``: Jensen-Shannon divergence of
  each internal coordinate's distribution against the reference MD (``evaluate.md_statistics``),
  over every frame of every replica while it was physical;
* ``vdos_peaks_cm`` / ``vdos_peak_shifts``: the strongest peak of the vibrational density of states
  in each band of ``md_statistics.VDOS_BANDS_CM`` (200-700, 700-1700, 2500-3400 cm⁻¹; replicas that
  ran to the end, both sampled every 5 fs, so both alias the O-H stretch the same way) and their
  relative shifts from the reference's, band by band;
* ``mean_T_K`` / ``std_T_K`` for every row (an NVE row that cools shows here).

Plots (PNG beside the JSON): total energy and temperature against time per variant, bond-length
distributions against the reference, VDOS.

* a GFN2-xTB MD row (tblite) from the same frames: a second physical reference, whose divergence
  from MMFF94 says how large a JSD two sound potentials give, and the speed peer.

The anchored-g rows use ``RUN_DIR/anchored_g.pt`` (``chemnoether md fit-g RUN_DIR`` first; without
it they fall back to a quick fit, and the "anchored g" row says so), and that row gives its R^2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import mark_skipped, write_results  # noqa: E402

import chemnoether  # noqa: E402, F401  (before dgl)

PRESETS = {"quick": {"replicas": 8, "steps": 200}, "full": {"replicas": 64, "steps": 10_000}}
VARIANTS = {
    "learned NVE": {"ensemble": "nve", "rescale": False},
    "learned NVE + energy-oracle tailoring": {"ensemble": "nve", "rescale": False, "tailor": "energy"},
    # learned conserved quantities: the anchored g needs no energy labels; learned_energy needs a head
    "learned NVE + anchored-g tailoring": {"ensemble": "nve", "rescale": False, "tailor": "anchored"},
    "learned NVE + learned-energy tailoring": {"ensemble": "nve", "rescale": False, "tailor": "learned_energy"},
    "learned NVE + MMFF rescaling": {"ensemble": "nve", "rescale": True},
    "learned NVT (CSVR) + MMFF rescaling": {"ensemble": "nvt", "thermostat": "csvr", "rescale": True},
    # the run's own energy head as the companion (skipped, with the reason, for a run without one);
    # its drift is not reported: the logged energies are the learned ones, not MMFF94's
    "learned NVE + learned-energy rescaling": {"ensemble": "nve", "rescale": True, "potential": "learned"},
    # the energy-shell projection (positions and velocities): survives steps that rescaling cannot
    "learned NVE + MMFF projection": {"ensemble": "nve", "rescale": "project"},
    "learned NVE + learned-energy projection": {"ensemble": "nve", "rescale": "project", "potential": "learned"},
    "learned NVT (CSVR) + MMFF projection": {"ensemble": "nvt", "thermostat": "csvr", "rescale": "project"},
    # the same stabilisers with the anchored g's potential (fitted without energy labels, `md fit-g`):
    # no reference potential at run time; the drift is still judged under MMFF94
    "learned NVE + anchored-g rescaling": {"ensemble": "nve", "rescale": True, "potential": "anchored"},
    "learned NVE + anchored-g projection": {"ensemble": "nve", "rescale": "project", "potential": "anchored"},
    "learned NVT (CSVR) + anchored-g projection": {"ensemble": "nvt", "thermostat": "csvr", "rescale": "project",
                                                   "potential": "anchored"},
}
TEMPERATURE_K = 300.0
ERROR_TIME_FS = 100.0  # the position error is read this long after the start
SPEED_CALLS = 20  # learned steps timed at full batch for the speed row


def drift_meV_per_atom_ps(time_ps: np.ndarray, total_eV: np.ndarray, n_atoms: int) -> float:
    """Least-squares slope of the total energy against time, meV per atom per ps."""
    return float(np.polyfit(time_ps, total_eV, 1)[0]) * 1000.0 / n_atoms


def reference_md(run, frames: np.ndarray, steps_fs: float, kind: str = "mmff") -> dict:
    """NVE velocity Verlet (``kind``: MMFF94, or GFN2-xTB through tblite) at the data's step from
    each start frame: drift, KE std, speed, and the frames every learned step for the statistics."""
    from chemnoether.simulation.generate import make_potential, prepare_molecule
    from chemnoether.simulation.integrators import FrameBuffer, MDState, VelocityVerlet, kinetic_energy

    traj = run.trajectory
    dt = traj.require_consecutive("reference MD")
    potential = make_potential(kind, prepare_molecule(traj.metadata["smiles"]))
    masses, n_steps = traj.masses, int(round(steps_fs / dt))
    save_every = max(1, int(round(run.step_fs / dt)))  # the learned step: spectra sampled alike
    drifts, kinetic_std, wall, at_error_time, kept = [], [], 0.0, [], {"positions": [], "velocities": []}
    for frame in frames:
        energy, forces = potential.energy_forces(traj.positions[frame])
        state = MDState(traj.positions[frame].copy(), traj.velocities[frame].copy(), forces.copy(), energy)
        buffer = FrameBuffer(n_steps // save_every, traj.n_atoms)
        began = time.perf_counter()
        VelocityVerlet(potential, masses, dt).run(state, buffer.capacity * save_every, save_every=save_every, frames=buffer)
        wall += time.perf_counter() - began
        kinetic = np.array([kinetic_energy(masses, v) for v in buffer.velocities])
        time_ps = buffer.steps * dt / 1000.0
        drifts.append(drift_meV_per_atom_ps(time_ps, buffer.energies + kinetic, traj.n_atoms))
        kinetic_std.append(kinetic.std())
        hit = np.flatnonzero(np.isclose(buffer.steps * dt, ERROR_TIME_FS))
        at_error_time.append(buffer.positions[hit[0]] if hit.size else np.full((traj.n_atoms, 3), np.nan))
        kept["positions"].append(buffer.positions)
        kept["velocities"].append(buffer.velocities)
    saved = {key: np.stack(value, axis=1) for key, value in kept.items()}  # (T, B, N, 3)
    simulated_ps = len(frames) * n_steps * dt / 1000.0
    label = {"mmff": "MMFF94 MD (reference, 0.5 fs)", "gfn2": "GFN2-xTB MD (0.5 fs, from the same MMFF94 frames)"}[kind]
    return {"variant": label, "n_replicas": len(frames), "physical_share": 1.0,
            "nve_drift_meV_per_atom_ps": float(np.mean(drifts)), "kinetic_std_eV": float(np.mean(kinetic_std)),
            "ps_per_hour": simulated_ps / wall * 3600.0}, np.stack(at_error_time), saved


def learned_speed(run_dir: str, start: str, replicas: int) -> dict:
    """Cost of one learned step for the whole batch (graph building included), whatever the physics."""
    from chemnoether.learned_md import open_learned_md, prepare_starts

    session = open_learned_md(run_dir, potential="none")
    positions, velocities, _ = prepare_starts(session, start, replicas=replicas)
    session.engine.model_step(positions, velocities)  # warm-up
    began = time.perf_counter()
    for _ in range(SPEED_CALLS):
        session.engine.model_step(positions, velocities)
    seconds = (time.perf_counter() - began) / SPEED_CALLS
    return {"variant": f"learned step, {replicas} replicas batched (speed only)", "n_replicas": replicas,
            "seconds_per_step": seconds, "ps_per_hour": replicas * session.engine.dt_fs / 1000.0 / seconds * 3600.0}


def one_step_row(run, count: int = 48) -> dict:
    """One learned step from ``count`` true test states against the true next state: does the model
    keep the temperature (speed per element) before any rollout error piles up?"""
    from chemnoether.evaluate.rollout import model_step
    from chemnoether.learned_md._physics import temperatures
    from chemnoether.train.run_dir import true_states

    windows = run.windows
    starts = windows.starts[:: max(1, len(windows.starts) // count)][:count]
    stride = int(round(run.step_fs / run.trajectory.require_consecutive("one-step check")))
    pos, vel = true_states(windows, starts)
    true_pos, true_vel = true_states(windows, starts + stride)
    dtype = next(run.model.parameters()).dtype
    pred_pos, pred_vel = model_step(run.model, run.topology, pos, vel, run.step_fs, device="cpu", dtype=dtype)
    masses = run.trajectory.masses[run.topology.atom_index]
    numbers = run.trajectory.atomic_numbers[run.topology.atom_index]
    row = {"variant": "one learned step from true test states", "n_states": len(starts),
           "T_true_next_K": float(temperatures(masses, true_vel).mean()), "T_pred_next_K": float(temperatures(masses, pred_vel).mean()),
           "velocity_rmse_over_rms": float(np.sqrt(((pred_vel - true_vel) ** 2).mean() / (true_vel**2).mean())),
           "position_rmse_A": float(np.sqrt(((pred_pos - true_pos) ** 2).mean()))}
    for z in np.unique(numbers):
        mask = numbers == z
        row[f"speed_ratio_Z{int(z)}"] = float(np.sqrt((pred_vel[:, mask] ** 2).sum() / (true_vel[:, mask] ** 2).sum()))
    return row


def anchored_g_row(run) -> dict:
    """How the run's anchored g was fitted and its R^2 against the MMFF94 potential (test split)."""
    from chemnoether.noether.anchored import ANCHORED_G_FILE, load_anchored_g

    path = run.run_dir / ANCHORED_G_FILE
    if not path.exists():
        return {"variant": "anchored g (no energy labels)",
                "skipped": f"no {ANCHORED_G_FILE}: its rows use a quick 1000-step fit; run `chemnoether md fit-g {run.run_dir}`"}
    _, fit = load_anchored_g(path)
    return {"variant": "anchored g (no energy labels)", **fit}


def learned_row(name: str, options: dict, run_dir: str, start: str, replicas: int, steps: int, folder: Path) -> dict:
    from chemnoether.learned_md import read_frames, run_learned_md

    temperature = TEMPERATURE_K if options["ensemble"] == "nvt" else None
    # every step up to 10 ps (the VDOS needs consecutive frames); longer runs keep one frame per 100 fs
    save_every = 20 if steps % 20 == 0 and steps > 2000 else 1
    options = {"potential": "mmff", **options}
    result = run_learned_md(run_dir, start, steps, folder, replicas=replicas, temperature_K=temperature,
                            save_every=save_every, chunk_frames=100, resume=False, progress=False, **options)
    frames = read_frames(folder)
    n_atoms = frames["positions"].shape[2]
    row = {"variant": name, "n_replicas": replicas, "steps": steps, "dt_fs": result.dt_fs,
           "physical_share": result.n_physical / replicas, "stopped": [f"{s['replica']}@{s['step']}: {s['reason'][:60]}" for s in result.stopped],
           "ps_per_hour": result.simulated_ps / result.wall_s * 3600.0}
    finished = np.flatnonzero(frames["alive"][-1])
    time_ps = frames["steps"] * result.dt_fs / 1000.0
    return row, frames, finished, time_ps, n_atoms


def mmff_energies(mmff, positions: np.ndarray) -> np.ndarray:
    """(T, B) MMFF94 potential energies (eV) of frames (T, B, N, 3); NaN where a frame is not finite."""
    from chemnoether.learned_md.rescale import potential_energies

    flat = positions.reshape(-1, *positions.shape[2:])
    energies = np.full(len(flat), np.nan)
    finite = np.isfinite(flat).all(axis=(1, 2))
    if finite.any():
        energies[finite] = potential_energies(mmff, flat[finite])
    return energies.reshape(positions.shape[:2])


def structure_row(reference_positions: np.ndarray, positions: np.ndarray, bonds) -> dict:
    """Internal-coordinate divergences against the reference (``evaluate.md_statistics``), rounded."""
    from chemnoether.evaluate.md_statistics import structure_jsd

    frames = positions.reshape(-1, *positions.shape[-2:])  # (frames x replicas, N, 3)
    if not len(frames):
        return {"bond_jsd": float("nan"), "jsd_frames": 0}
    values = structure_jsd(reference_positions.reshape(-1, *reference_positions.shape[-2:]), frames, bonds)
    return {**{k: round(v, 5) if isinstance(v, float) else v for k, v in values.items()}, "jsd_frames": len(frames)}


def plot_variants(curves: dict, stem: Path) -> None:
    """``<stem>_energy_temperature.png``, ``<stem>_bonds.png``, ``<stem>_vdos.png``."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    # one colour per variant in every panel, 20 distinct ones (the default cycle repeats after 10)
    palette = colormaps["tab20"].colors[0::2] + colormaps["tab20"].colors[1::2]
    colour = {name: "black" if name == "reference" else palette[i % len(palette)] for i, name in enumerate(curves)}
    figure = Figure(figsize=(11, 4))
    axes = figure.subplots(1, 2)
    for name, curve in curves.items():
        axes[1].plot(curve["time_ps"], curve["T"], label=name, lw=1, color=colour[name])
        if "E" in curve:
            axes[0].plot(curve["time_ps"], curve["E"] - curve["E"][0], label=name, lw=1, color=colour[name])
    axes[0].set(xlabel="time (ps)", ylabel="MMFF94 total energy - start (eV)")
    axes[1].set(xlabel="time (ps)", ylabel="temperature (K)", yscale="log")  # blow-ups reach 1e4-1e5 K
    axes[0].set_yscale("symlog", linthresh=0.1)
    axes[0].set_title("means over the replicas still running", fontsize=8)
    axes[1].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(f"{stem}_energy_temperature.png", dpi=120)
    for key, xlabel, filename in (("bonds", "bond length (Å), all bonds", "bonds"), ("dos", "wavenumber (cm⁻¹)", "vdos")):
        figure = Figure(figsize=(7, 4))
        axis = figure.subplots()
        for name, curve in curves.items():
            if key == "bonds" and "bonds" in curve:
                axis.hist(curve["bonds"], bins=np.linspace(0.8, 1.8, 201), density=True, histtype="step", label=name,
                          color=colour[name])
            elif key == "dos" and "dos" in curve:
                axis.plot(*curve["dos"], label=name, lw=1, color=colour[name])
        axis.set(xlabel=xlabel, ylabel="density")
        axis.legend(fontsize=6)
        figure.tight_layout()
        figure.savefig(f"{stem}_{filename}.png", dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="quick")
    parser.add_argument("--replicas", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/results/long_rollouts.json")
    parser.add_argument("--only", default=None, metavar="TEXT", help="run only the variants whose name contains TEXT")
    args = parser.parse_args(argv)
    preset = {**PRESETS[args.preset], **{k: v for k, v in (("replicas", args.replicas), ("steps", args.steps)) if v}}
    replicas, steps = preset["replicas"], preset["steps"]

    from chemnoether.train.run_dir import open_run
    from chemnoether.core.units import kinetic_energy
    from chemnoether.learned_md._physics import temperatures
    from chemnoether.evaluate.physicality import strain_edges
    from chemnoether.learned_md.rescale import MMFFCompanion
    from chemnoether.evaluate.md_statistics import coordinate_values, dos_peaks, internal_coordinates, peak_shifts, vibrational_dos

    run = open_run(args.run_dir)
    stride = max(1, (len(run.windows) - 1) // max(replicas - 1, 1)) if replicas > 1 else 1
    start = f"test:0:{stride}"
    frames_used = run.windows.starts[0:(replicas - 1) * stride + 1:stride]
    masses = run.trajectory.masses[run.topology.atom_index]
    rows = []
    reference, reference_at_error_time, reference_frames = reference_md(run, frames_used, steps * run.step_fs)
    bonds = strain_edges(run)[0]
    mmff = MMFFCompanion(run.trajectory.metadata["smiles"], run.trajectory.atomic_numbers)
    atom_index = run.topology.atom_index
    reference_positions = reference_frames["positions"][..., atom_index, :]
    reference_velocities = reference_frames["velocities"][..., atom_index, :]
    reference.update(structure_row(reference_positions, reference_positions, bonds))
    ref_freq, ref_dos = vibrational_dos(reference_velocities, masses, run.step_fs)
    reference_peaks = dos_peaks(ref_freq, ref_dos)
    ref_temps = np.stack([temperatures(masses, v) for v in reference_velocities])
    reference.update(vdos_peaks_cm=reference_peaks.round(1).tolist(), mean_T_K=float(ref_temps.mean()), std_T_K=float(ref_temps.std()))
    plots = {"reference": {"time_ps": np.arange(len(ref_temps)) * run.step_fs / 1000.0, "T": ref_temps.mean(axis=1),
                           "bonds": coordinate_values(reference_positions, "bond", internal_coordinates(bonds)["bond"]).ravel(),
                           "dos": (ref_freq, ref_dos)}}
    rows.append(reference)
    print(f"reference: {reference}", flush=True)
    rows.append(one_step_row(run))
    print(f"one step: {rows[-1]}", flush=True)
    rows.append(anchored_g_row(run))
    print(f"anchored g: {rows[-1]}", flush=True)
    try:  # GFN2-xTB from the same frames: a second physical reference (and the speed peer)
        gfn2, _, gfn2_frames = reference_md(run, frames_used, steps * run.step_fs, kind="gfn2")
        gfn2_velocities = gfn2_frames["velocities"][..., atom_index, :]
        gfn2.update(structure_row(reference_positions, gfn2_frames["positions"][..., atom_index, :], bonds))
        freq, dos = vibrational_dos(gfn2_velocities, masses, run.step_fs)
        gfn2_temps = np.stack([temperatures(masses, v) for v in gfn2_velocities])
        gfn2_peaks = dos_peaks(freq, dos)
        gfn2.update(vdos_peaks_cm=gfn2_peaks.round(1).tolist(),
                    vdos_peak_shifts=peak_shifts(reference_peaks, gfn2_peaks).round(4).tolist(),
                    mean_T_K=float(gfn2_temps.mean()), std_T_K=float(gfn2_temps.std()))
        gfn2["speed_vs_mmff_md"] = gfn2["ps_per_hour"] / reference["ps_per_hour"]
        plots["GFN2-xTB MD"] = {"time_ps": plots["reference"]["time_ps"], "T": gfn2_temps.mean(axis=1), "dos": (freq, dos),
                                "bonds": coordinate_values(gfn2_frames["positions"][..., atom_index, :], "bond",
                                                           internal_coordinates(bonds)["bond"]).ravel()}
    except Exception as err:  # tblite missing, SCF failure: a row that says why
        gfn2 = mark_skipped({"variant": "GFN2-xTB MD"}, "GFN2-xTB MD", err)
    rows.append(gfn2)
    print(f"GFN2-xTB: {gfn2}", flush=True)
    for label, measure in (("learned speed", lambda: learned_speed(args.run_dir, start, replicas)),):
        try:
            row = measure()
            row["speed_vs_mmff_md"] = row["ps_per_hour"] / reference["ps_per_hour"]
        except Exception as err:  # tblite missing, ...: a row that says why
            row = mark_skipped({"variant": label}, label, err)
        rows.append(row)
        print(f"{label}: {row}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for i, (name, options) in enumerate(VARIANTS.items()):
            if args.only and args.only not in name:
                continue
            try:
                row, frames, finished, time_ps, n_atoms = learned_row(name, options, args.run_dir, start, replicas, steps, Path(scratch) / str(i))
            except Exception as err:  # a variant that fails is a row, not a crash
                rows.append(mark_skipped({"variant": name}, name, err))
                continue
            # the drift is judged under MMFF94 whichever companion the run used (a learned one logs its own energies)
            total = mmff_energies(mmff, frames["positions"]) + np.stack([kinetic_energy(masses, v) for v in frames["velocities"]])
            if options["ensemble"] == "nve" and finished.size:
                drifts = [drift_meV_per_atom_ps(time_ps, total[:, b], n_atoms) for b in finished]
                row["nve_drift_meV_per_atom_ps"] = float(np.mean(np.abs(drifts)))
                row["drift_over_reference_kinetic_std"] = row["nve_drift_meV_per_atom_ps"] * n_atoms / 1000 / reference["kinetic_std_eV"]
                row["drift_averaged_over"] = int(finished.size)
            if finished.size:  # temperatures after the first 20% of the run, replicas that finished
                temps = np.stack([temperatures(masses, v) for v in frames["velocities"]])[len(time_ps) // 5:, finished]
                replica_means = temps.mean(axis=0)  # replicas are independent; frames within one are not
                row.update(mean_T_K=float(temps.mean()), std_T_K=float(temps.std()), T_averaged_over=int(finished.size),
                           T_standard_error_K=float(replica_means.std(ddof=1) / np.sqrt(finished.size)) if finished.size > 1 else float("nan"))
                if options["ensemble"] == "nvt":
                    row["target_T_K"] = TEMPERATURE_K
            physical = frames["positions"][frames["alive"]]  # (frames x replicas while physical, N, 3)
            row.update(structure_row(reference_positions, physical, bonds))
            curve = {"time_ps": time_ps, "T": np.array([temperatures(masses, v[a]).mean() if a.any() else np.nan
                                                         for v, a in zip(frames["velocities"], frames["alive"])])}
            if len(physical):
                curve["bonds"] = coordinate_values(physical, "bond", internal_coordinates(bonds)["bond"]).ravel()
            if finished.size and len(time_ps) >= 8 and np.allclose(np.diff(frames["steps"]), 1):
                freq, dos = vibrational_dos(frames["velocities"][:, finished], masses, row["dt_fs"])
                peaks = dos_peaks(freq, dos)
                row.update(vdos_peaks_cm=peaks.round(1).tolist(),
                           vdos_peak_shifts=peak_shifts(reference_peaks, peaks).round(4).tolist(), vdos_over=int(finished.size))
                curve["dos"] = (freq, dos)
            change = total - total[0]  # per replica, so replicas that stop do not shift the mean
            curve["E"] = np.array([c[a].mean() if a.any() else np.nan for c, a in zip(change, frames["alive"])])
            plots[name] = curve
            hit = np.flatnonzero(np.isclose(frames["steps"] * row["dt_fs"], ERROR_TIME_FS))
            if hit.size and options["ensemble"] == "nve":
                alive = np.flatnonzero(frames["alive"][hit[0]])
                error = ((frames["positions"][hit[0], alive] - reference_at_error_time[alive]) ** 2).mean(axis=(1, 2))
                row.update(pos_mse_100fs_A2=float(error.mean()) if alive.size else float("nan"), mse_averaged_over=int(alive.size))
                # every variant still has all its replicas at 100 fs: the one drift comparable across all rows
                change = np.abs(total[hit[0], alive] - total[0, alive]) / n_atoms * 1000.0
                row.update(energy_change_100fs_meV_per_atom=float(change.mean()) if alive.size else float("nan"))
            row["speed_vs_mmff_md"] = row["ps_per_hour"] / reference["ps_per_hour"]
            rows.append(row)
            print(f"{name}: {row}", flush=True)
    if "ps_per_hour" in gfn2:
        for row in rows:
            if "ps_per_hour" in row and row is not gfn2:
                row["speed_vs_gfn2_md"] = row["ps_per_hour"] / gfn2["ps_per_hour"]
    plot_variants(plots, Path(args.out).with_suffix(""))
    write_results(args.out, rows, "cpu", preset=args.preset, replicas=replicas, steps=steps, run_dir=str(args.run_dir),
                  start=start, simulated_ps_per_replica=steps * run.step_fs / 1000.0)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
