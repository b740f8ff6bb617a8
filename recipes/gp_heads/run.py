"""Spectral-density GP node heads (issue 7): train on some molecules, evaluate on held-out ones.

    .venv/bin/python recipes/gp_heads/run.py --preset quick -o out/gp_heads

Generates MMFF94 MD (``chemnoether.simulation.generate_md``) for the training molecules and the sets it
evaluates, trains the head (``chemnoether.gp.train``) on velocity windows of the training molecules,
and on windows of each evaluated molecule compares, in one harness:

* the head (one forward pass per window, no fitting at test time);
* GPyTorch: an exact GP with ``SpectralMixtureKernel`` fitted per atom and Cartesian component on
  each window (``chemnoether.gp.baseline``);
* the deterministic references: persistence (the last velocity, i.e. the constant-velocity step)
  and linear extrapolation of the velocity;
* ``"deterministic"`` (when the config has that section): a small ``EquivariantDynamics`` trained
  on the same training molecules' MD (pairs of states one series frame apart, ``PairWindows`` with
  ``delta = stride``; loss: next-frame velocities and positions, each in its molecule's RMS units),
  rolled out ``horizon`` steps from the last observed frame of each evaluated window
  (``chemnoether.evaluate.rollout``); its velocities are scored like the other deterministic rows
  (RMSE only), row "equivariant (deterministic)".

Molecule sets (disjoint): ``train``; ``validation``, what the configuration is chosen on (run the
candidates with ``--set 'evaluate=["validation"]'``, which generates and scores nothing else);
``test``, fresh held-out molecules evaluated once with the chosen configuration; ``seen``, the
test molecules of earlier versions of this recipe, reported apart because they were looked at
while those were tuned. ``evaluate`` lists the sets to score; each molecule's MD seed is its place
in train + seen + validation + test, so leaving a set out changes no other trajectory.

Metrics (``chemnoether.gp.metrics``) on the forecast frames, with each evaluated molecule's
velocities divided by their RMS over its trajectory (so the NLL is in those units and molecules
pool alike): Gaussian NLL, 95% coverage, miscalibration area, Spearman of |error| vs sigma and its
simulated reference, RMSE; seconds per window, the head one window at a time and batched. Pooled
rows per set. Spectra: each atom's predicted density beside the empirical one (Fourier transform
of the velocity autocorrelation of the whole trajectory); the main peaks of C-H, O-H and C=O
stretches, per molecule. Writes ``results.json``, ``table.md``, ``model.pt`` (the state dict) and
``spectra_<molecule>.png`` to the output folder; ``--model out/gp_heads/model.pt`` evaluates that
saved head instead of training one (same preset and ``--set``; the deterministic reference, which
is not saved, is retrained from its seed). Presets live here (not as YAML:
``tests/test_recipes.py`` runs every ``recipes/*/*.yaml`` through ``chemnoether train --check``);
``--set head.steps=50`` overrides one value (JSON-parsed).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether import keys
from chemnoether.data import GraphTensors, PairWindows
from chemnoether.simulation import generate_md
from chemnoether.evaluate.rollout import rollout
from chemnoether.gp import plot_spectra, spectrum_peaks, vibrational_spectrum
from chemnoether.gp.baseline import (
    fit_predict_spectral_mixture,
    linear_extrapolation,
    persistence,
)
from chemnoether.gp.metrics import calibration_summary
from chemnoether.gp.spectral import to_frequency
from chemnoether.gp.train import (
    ENCODER_ELEMENTS,
    GPNodeModel,
    HeadConfig,
    predicted_mixture,
    prepare_molecule,
    train_head,
)
from chemnoether.models import EquivariantDynamics

# SMILES for names generate_md does not know
SMILES = {"acetic acid": "CC(=O)O", "formic acid": "O=CO", "acetaldehyde": "CC=O", "benzoic acid": "O=C(O)c1ccccc1",
          "lactic acid": "CC(O)C(=O)O", "ethyl acetate": "CCOC(C)=O", "4-hydroxybenzaldehyde": "O=Cc1ccc(O)cc1"}
# the molecule sets; a molecule's MD seed is its place in this order (so a set left out of
# ``evaluate`` changes no other molecule's trajectory)
GROUPS = ("train", "seen", "validation", "test")
GROUP_LABELS = {"validation": "validation", "test": "held-out", "seen": "previously seen"}
PRESETS = {
    "quick": {
        # several carbonyls in training: with three (acetone, glycine, formic acid) no C=O component was learned
        "train": ["ethanol", "methanol", "acetone", "toluene", "glycine", "formic acid", "formaldehyde", "acetaldehyde", "uracil"],
        # the test molecules of earlier versions of this recipe: looked at while those were tuned
        "seen": ["acetic acid", "malonaldehyde", "aspirin"],
        # what the configuration was chosen on
        "validation": ["paracetamol", "4-hydroxybenzaldehyde"],
        # fresh held-out molecules, evaluated once with the final configuration (C-H, O-H, C=O between them)
        "test": ["salicylic acid", "benzoic acid", "lactic acid", "ethyl acetate"],
        # which sets to evaluate (selection runs: --set 'evaluate=["validation"]')
        "evaluate": ["test", "validation", "seen"],
        "md": {"n_steps": 8000, "dt_fs": 0.5, "temperature_K": 300.0},
        # the head on the interaction network: EquivariantDynamics.node_scalars of the window's last
        # state (one block, trained jointly) next to the atoms' RDKit features and the window's
        # autocorrelation statistics; chosen on the validation set (see the benchmarks README)
        "head": {"stride": 4, "window": 32, "horizon": 4, "features": "both", "encoder": {"channels": 16, "layers": 1},
                 "window_lags": 16, "num_components": 8, "loss": "both", "steps": 1200, "lr": 1e-2, "log_every": 100},
        "eval_windows": 8,
        "baseline": {"num_mixtures": 4, "iterations": 100, "lr": 0.1},
        "spectrum_max_lag": 1000,
        # the learned deterministic reference (remove the section to skip it)
        "deterministic": {"channels": 16, "layers": 2, "steps": 1500, "batch_size": 16, "lr": 3e-3, "seed": 0},
    },
}
PRESETS["full"] = {**copy.deepcopy(PRESETS["quick"]), "md": {"n_steps": 40000, "dt_fs": 0.5, "temperature_K": 300.0}, "eval_windows": 40}
PRESETS["full"]["head"].update(steps=5000, log_every=250)
# band (cm^-1) and atoms (an H on C, an H on O, an O double-bonded to C) of each stretch
STRETCHES = {"C-H": ((2600.0, 3400.0), "H", 6), "O-H": ((2800.0, 4000.0), "H", 8), "C=O": ((1400.0, 2100.0), "O", 6)}
ROWS = ("gp_head", "gpytorch_sm", "persistence", "linear")
DETERMINISTIC = "equivariant (deterministic)"


def train_deterministic(trajectories: dict, names: list[str], stride: int, options: dict):
    """A small ``EquivariantDynamics`` trained on ``names``' state pairs ``stride`` frames apart."""
    options = dict(options)
    steps, batch_size, lr, seed = (options.pop(k) for k in ("steps", "batch_size", "lr", "seed"))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = []
    for name in names:
        traj = trajectories[name]
        pairs = PairWindows(traj, stride, np.arange(traj.n_frames - stride), graph="smiles", cutoff=5.0)
        v_rms = float(np.sqrt(np.mean(traj.velocities**2)))
        data.append((pairs, v_rms, v_rms * stride * pairs.dt_fs))  # velocity unit, position-step unit
    model = EquivariantDynamics(ENCODER_ELEMENTS, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    began = time.perf_counter()
    for step in range(1, steps + 1):
        pairs, v_unit, x_unit = data[int(rng.integers(len(data)))]
        batch = GraphTensors.from_graph(pairs.batch(rng.integers(len(pairs), size=batch_size).tolist()))
        pred = model(batch)
        loss = ((pred.vel - batch.atom[keys.NEXT_VEL]) / v_unit).pow(2).mean() + ((pred.pos - batch.atom[keys.NEXT_POS]) / x_unit).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        if step % 100 == 0 or step == steps:
            print(f"deterministic step {step}/{steps}: loss {float(loss.detach()):.4f}, {time.perf_counter() - began:.1f} s")
    return model.eval()


def deterministic_forecasts(model, trajectory, molecule, starts: list[int], cfg) -> tuple[torch.Tensor, float]:
    """(W N, H, 3) velocities rolled out from the last observed frame of each window; seconds per window."""
    topology = PairWindows(trajectory, cfg.stride, [0], graph="smiles", cutoff=5.0).topology
    frames = [(s + cfg.window - 1) * cfg.stride for s in starts]
    began = time.perf_counter()
    _, vel = rollout(model, topology, trajectory.positions[frames], trajectory.velocities[frames], molecule.dt_fs, cfg.horizon)
    seconds = (time.perf_counter() - began) / len(starts)
    return torch.as_tensor(vel[:, 1:]).transpose(1, 2).flatten(0, 1), seconds  # (W, H, N, 3) -> (W N, H, 3)


def stretch_atoms(molecule, kind: str) -> list[int]:
    """Atoms of ``molecule`` whose spectrum shows the stretch ``kind`` (see ``STRETCHES``)."""
    _, element, partner = STRETCHES[kind]
    z = molecule.atomic_numbers
    src, dst = molecule.bond_index.numpy()
    order = molecule.bond_order[:, 0].numpy()
    want = 2.0 if kind == "C=O" else 1.0
    return sorted({int(d) for s, d, o in zip(src, dst, order, strict=True)
                   if z[d] == {"H": 1, "O": 8}[element] and z[s] == partner and o == want})


def evaluate(model, molecule, config, deterministic=None, trajectory=None) -> dict:
    """Forecasts of every method on ``eval_windows`` windows of ``molecule``: metrics and timings."""
    cfg = model.config
    starts = np.linspace(0, molecule.num_starts(cfg) - 1, config["eval_windows"]).astype(int).tolist()
    unit = float(molecule.velocities.pow(2).mean().sqrt())  # the molecule's velocity RMS, Å/fs
    out = {name: {"mean": [], "var": [], "seconds": 0.0} for name in ROWS}
    futures = []
    for start in starts:
        window, future = molecule.window(start, cfg)
        futures.append(future)
        with torch.inference_mode():  # the head only forecasts here: no autograd bookkeeping
            began = time.perf_counter()
            forecast, _ = model([(molecule, start)])
            out["gp_head"]["seconds"] += time.perf_counter() - began
            for name, rule in (("persistence", persistence), ("linear", linear_extrapolation)):
                began = time.perf_counter()
                out[name]["mean"].append(rule(window, cfg.horizon))
                out[name]["seconds"] += time.perf_counter() - began
        out["gp_head"]["mean"].append(forecast.mean.clone())
        out["gp_head"]["var"].append(forecast.var_components.clone())
        fit = fit_predict_spectral_mixture(window, molecule.dt_fs, cfg.horizon, **config["baseline"])  # fits: needs autograd
        out["gpytorch_sm"]["mean"].append(fit.mean)
        out["gpytorch_sm"]["var"].append(fit.var)
        out["gpytorch_sm"]["seconds"] += fit.seconds
        out["gpytorch_sm"].setdefault("mixtures", []).append(fit.mixture)
    with torch.inference_mode():  # the head's throughput when the windows come as one batch
        began = time.perf_counter()
        model([(molecule, start) for start in starts])
        batched = (time.perf_counter() - began) / len(starts)
    if deterministic is not None:
        mean, seconds = deterministic_forecasts(deterministic, trajectory, molecule, starts, cfg)
        out[DETERMINISTIC] = {"mean": [mean], "var": [], "seconds": seconds * len(starts)}
    target = torch.cat(futures) / unit
    rows = {}
    for name, result in out.items():
        mean = torch.cat(result["mean"]) / unit
        if result["var"]:
            rows[name] = calibration_summary(mean, torch.cat(result["var"]) / unit**2, target)
        else:
            rows[name] = {"rmse": float((mean - target).pow(2).mean().sqrt()), "count": int(target.numel())}
        rows[name]["seconds_per_window"] = result["seconds"] / len(starts)
    rows["gp_head"]["seconds_per_window_batched"] = batched
    rows["_arrays"] = {"target": target, **{n: (torch.cat(r["mean"]) / unit, torch.cat(r["var"]) / unit**2) for n, r in out.items() if r["var"]}}
    rows["_gpytorch_mixtures"] = out["gpytorch_sm"]["mixtures"]
    rows["_starts"] = starts
    return rows


def spectra(model, molecule, trajectory, rows, config, folder: Path) -> dict:
    """Peaks (cm^-1) of the stretches: empirical, our head's and GPyTorch's (mean fitted density)."""
    empirical = vibrational_spectrum(trajectory, max_lag=config["spectrum_max_lag"])
    inside = empirical.wavenumbers <= 4000.0
    grid = torch.as_tensor(to_frequency(empirical.wavenumbers[inside]))
    mixture = predicted_mixture(model, molecule, rows["_starts"])
    ours = mixture.density(grid).numpy().T  # (F, N)
    baseline = sum(m.density(grid).mean(1) for m in rows["_gpytorch_mixtures"]).numpy().T / len(rows["_gpytorch_mixtures"])
    plot_spectra(folder / f"spectra_{molecule.name.replace(' ', '_')}.png", empirical, mixture,
                 title=f"{molecule.name}: empirical (black) vs GP head (red), per element")
    peaks = {}
    for kind, (band, _, _) in STRETCHES.items():
        atoms = stretch_atoms(molecule, kind)
        if not atoms:
            continue

        def peak(density, atoms=atoms, band=band):
            found = spectrum_peaks(empirical.wavenumbers[inside], density[:, atoms].mean(1), band, prominence=0.05, max_peaks=1)
            return float(found[0]) if found.size else None

        emp, head, gpy = peak(empirical.density[inside]), peak(ours), peak(baseline)
        peaks[kind] = {"atoms": atoms, "empirical": emp, "gp_head": head, "gpytorch_sm": gpy,
                       "gp_head_rel_error": None if emp is None or head is None else abs(head - emp) / emp,
                       "gpytorch_rel_error": None if emp is None or gpy is None else abs(gpy - emp) / emp}
    return peaks


def _label(results: dict, group: str) -> str:
    return f"all {GROUP_LABELS[group]}"


def markdown(results: dict) -> str:
    fmt = lambda v, p=3: "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{p}f}"
    groups = [g for g in results["evaluate"] if results[g]]
    sets = "; ".join(f"{GROUP_LABELS[g]}: {', '.join(results[g])}" for g in groups)
    batched = "; ".join(f"{GROUP_LABELS[g]} {results['pooled'][g]['gp_head']['seconds_per_window_batched']:.2e}" for g in groups)
    lines = [f"Trained on {', '.join(results['train'])}. Evaluated: {sets}.",
             (f"Forecast: velocities, window {results['head']['window']} frames x {results['dt_fs']} fs, "
              f"horizon {results['head']['horizon']} frames; units: each molecule's velocity RMS. "
              f"GP head batched over the windows (s / window): {batched}."), "",
             "| molecule | method | NLL | 95% coverage | miscal. area | Spearman (ref) | RMSE | s / window |",
             "|---|---|---|---|---|---|---|---|"]
    blocks = [(group, [(_label(results, group), results["pooled"][group])] + [(m, results["per_molecule"][m]) for m in results[group]])
              for group in groups]
    for _, block in blocks:
        for molecule, rows in block:
            for name in [n for n in (*ROWS, DETERMINISTIC) if n in rows]:
                r = rows[name]
                spear = f"{fmt(r.get('spearman'))} ({fmt(r.get('spearman_reference'))})" if "nll" in r else "—"
                lines.append(f"| {molecule} | {name} | {fmt(r.get('nll'))} | {fmt(r.get('coverage'))} | "
                             f"{fmt(r.get('miscalibration_area'))} | {spear} | {fmt(r['rmse'])} | {r['seconds_per_window']:.2e} |")
    for _, block in blocks:
        for molecule, rows in block:
            head, gpy = rows["gp_head"], rows["gpytorch_sm"]["seconds_per_window"]
            lines.append(f"- {molecule}: GPyTorch time / GP head time = {gpy / head['seconds_per_window']:.0f}x one window at a time, "
                         f"{gpy / head['seconds_per_window_batched']:.0f}x with the head's windows batched")
    lines += ["", "| molecule | stretch | empirical cm^-1 | GP head cm^-1 (error) | GPyTorch cm^-1 (error) |", "|---|---|---|---|---|"]
    for group in groups:
        for molecule in results[group]:
            for kind, p in results["peaks"][molecule].items():
                lines.append(f"| {molecule} ({GROUP_LABELS[group]}) | {kind} | {fmt(p['empirical'], 0)} | {fmt(p['gp_head'], 0)} "
                             f"({fmt(p['gp_head_rel_error'])}) | {fmt(p['gpytorch_sm'], 0)} ({fmt(p['gpytorch_rel_error'])}) |")
    return "\n".join(lines) + "\n"


def pooled_rows(results: dict, names: list[str], arrays: list[dict]) -> dict:
    """The rows of ``names`` pooled: calibration over every forecast value, RMSE weighted by count, mean times."""
    target = torch.cat([a["target"] for a in arrays])
    pooled = {n: calibration_summary(torch.cat([a[n][0] for a in arrays]), torch.cat([a[n][1] for a in arrays]), target) for n in ("gp_head", "gpytorch_sm")}
    for name in [n for n in (*ROWS, DETERMINISTIC) if n in results["per_molecule"][names[0]]]:
        per = [results["per_molecule"][m][name] for m in names]
        if name not in pooled:
            pooled[name] = {"rmse": float(np.sqrt(np.average([r["rmse"] ** 2 for r in per], weights=[r["count"] for r in per])))}
        pooled[name]["seconds_per_window"] = float(np.mean([r["seconds_per_window"] for r in per]))
    pooled["gp_head"]["seconds_per_window_batched"] = float(np.mean([results["per_molecule"][m]["gp_head"]["seconds_per_window_batched"] for m in names]))
    return pooled


def load_head(path: Path, config: HeadConfig, attr_width: int) -> GPNodeModel:
    """The head saved by an earlier run (its ``model.pt``, a state dict), for evaluation only."""
    model = GPNodeModel(config, attr_width)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


def run(config: dict, folder: Path, model_path: Path | None = None) -> dict:
    """Train the head (or, with ``model_path``, load a saved one: evaluation only) and evaluate it."""
    folder.mkdir(parents=True, exist_ok=True)
    head_config = HeadConfig(**config["head"])
    unknown = [g for g in config["evaluate"] if g not in GROUP_LABELS]
    if unknown:
        raise SystemExit(f"evaluate: unknown sets {unknown}; choose from {list(GROUP_LABELS)}")
    seeds = {}
    for group in GROUPS:
        for name in config[group]:
            seeds.setdefault(name, len(seeds))
    overlap = set(config["train"]) & {m for g in GROUP_LABELS for m in config[g]}
    if overlap or len(seeds) != sum(len(config[g]) for g in GROUPS):
        raise SystemExit(f"the molecule sets must be disjoint (trained on and evaluated: {sorted(overlap)})")
    evaluated = [m for g in config["evaluate"] for m in config[g]]
    began = time.perf_counter()
    trajectories = {name: generate_md(SMILES.get(name, name), seed=seeds[name], progress=False, **config["md"])
                    for name in config["train"] + evaluated}
    series = {name: prepare_molecule(traj, head_config.stride, name) for name, traj in trajectories.items()}
    print(f"MD of {len(series)} molecules: {time.perf_counter() - began:.1f} s")
    if model_path is None:
        model, history = train_head([series[n] for n in config["train"]], head_config)
    else:  # the saved head, not retrained (the held-out molecules are evaluated with the model that was)
        model, history = load_head(model_path, head_config, series[config["train"][0]].attrs.shape[1]), []
        print(f"loaded the head from {model_path}")
    model.eval()
    torch.save(model.state_dict(), folder / "model.pt")
    deterministic = None
    if config.get("deterministic"):
        tic = time.perf_counter()
        deterministic = train_deterministic(trajectories, config["train"], head_config.stride, config["deterministic"])
        print(f"deterministic reference trained: {time.perf_counter() - tic:.1f} s")
    results = {"train": config["train"], **{g: config[g] for g in GROUP_LABELS}, "evaluate": config["evaluate"],
               "head": config["head"], "dt_fs": series[config["train"][0]].dt_fs, "history": history,
               "model": str(model_path) if model_path is not None else None,
               "per_molecule": {}, "peaks": {}, "pooled": {}}
    for group in config["evaluate"]:
        arrays = []
        for name in config[group]:
            rows = evaluate(model, series[name], config, deterministic, trajectories[name])
            results["peaks"][name] = spectra(model, series[name], trajectories[name], rows, config, folder)
            arrays.append(rows.pop("_arrays"))
            rows.pop("_gpytorch_mixtures"), rows.pop("_starts")
            results["per_molecule"][name] = rows
            print(f"evaluated {name} ({GROUP_LABELS[group]}): {time.perf_counter() - began:.1f} s")
        if config[group]:
            results["pooled"][group] = pooled_rows(results, config[group], arrays)
    results["total_seconds"] = time.perf_counter() - began
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    (folder / "table.md").write_text(markdown(results))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("-o", "--out", default="out/gp_heads")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override, e.g. head.steps=50")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, metavar="PATH",
                        help="evaluate this saved head (an earlier run's model.pt, with the same preset and --set) instead of training one")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = copy.deepcopy(PRESETS[args.preset])
    for item in args.set:
        key, _, value = item.partition("=")
        *path, last = key.split(".")
        target = config
        for part in path:
            target = target[part]
        target[last] = json.loads(value)
    results = run(config, Path(args.out), args.model)
    print(markdown(results))
    print(f"total {results['total_seconds']:.0f} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
