"""Large periodic systems: time and memory per atom from 10^3 to 10^5 atoms, featurization and model.

A box of liquid-density water (3.1 Å grid of randomly oriented molecules, periodic, 300 K
velocities) of each size goes through ``atoms_to_graph`` (ASE's binned neighbour list, radius
graph with periodic images) and a forward pass of ``EquivariantDynamics`` (float32, no grad),
each timed as the median of 3 after a warm-up. Each size runs in its own subprocess, so the peak
memory it reports (growth of the peak resident set over the process before the system was built)
is that size's alone. The goal (issue 8): time per atom flat within 1.5x from 10^3 to 10^5 atoms, i.e. O(N)
neighbour search and message passing, no dense N x N tensor anywhere.

Run: ``python benchmarks/scaling.py [--sizes 1000 3000 10000 30000 100000] [--cutoff 3.5]
[--device cpu|cuda] [-o out/scaling]``; writes ``scaling.json`` and ``scaling.png`` there.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

WATER_SPACING_A = 3.1  # ~1 g/cm^3: one molecule per (3.1 Å)^3
DEFAULT_SIZES = (1_000, 3_000, 10_000, 30_000, 100_000)


def water_box(n_atoms: int, seed: int = 0):
    """A periodic cubic box of about ``n_atoms / 3`` randomly oriented waters with 300 K velocities."""
    from ase import Atoms  # noqa: PLC0415
    from ase.build import molecule  # noqa: PLC0415
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: PLC0415
    from scipy.spatial.transform import Rotation  # noqa: PLC0415

    per_side = max(1, round((n_atoms / 3) ** (1 / 3)))
    rng = np.random.default_rng(seed)
    water = molecule("H2O")
    template = water.positions - water.get_center_of_mass()
    grid = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) * WATER_SPACING_A
    rotations = Rotation.random(len(grid), random_state=seed).as_matrix()
    positions = (grid[:, None, :] + np.einsum("mij,aj->mai", rotations, template)).reshape(-1, 3)
    box = Atoms(
        symbols=list(water.get_chemical_symbols()) * len(grid), positions=positions,
        cell=np.eye(3) * per_side * WATER_SPACING_A, pbc=True,
    )
    MaxwellBoltzmannDistribution(box, temperature_K=300.0, rng=rng)
    return box


def measure_one(n_atoms: int, cutoff: float, device: str, channels: int, repeats: int = 3) -> dict:
    """Featurize and run the model once on a box of ``n_atoms`` (call in a fresh process)."""
    import torch  # noqa: PLC0415

    import chemnoether  # noqa: F401, PLC0415 - before dgl
    from chemnoether import keys  # noqa: PLC0415
    from chemnoether.data import GraphTensors  # noqa: PLC0415
    from chemnoether.featurize import atoms_to_graph  # noqa: PLC0415
    from chemnoether.models import EquivariantDynamics  # noqa: PLC0415

    torch.manual_seed(0)
    model = EquivariantDynamics([1, 8], channels=channels, layers=2, cutoff=cutoff).to(device).eval()
    atoms_to_graph(water_box(30), cutoff=cutoff)  # warm-up: imports and first-call costs stay out
    box = water_box(n_atoms)
    baseline_MiB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    featurize_s = []
    for _ in range(repeats):
        began = time.perf_counter()
        graph = atoms_to_graph(box, cutoff=cutoff)
        featurize_s.append(time.perf_counter() - began)
    graph.nodes["system"].data[keys.DT] = torch.tensor([1.0])
    batch = GraphTensors.from_graph(graph, device=device)
    model_s = []
    with torch.no_grad():
        model(batch)  # warm-up (e3nn code paths, allocator)
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        for _ in range(repeats):
            began = time.perf_counter()
            model(batch)
            if device == "cuda":
                torch.cuda.synchronize()
            model_s.append(time.perf_counter() - began)
    return {
        "atoms": len(box),
        "edges": int(batch.near_index.shape[1]),
        "featurize_s": statistics.median(featurize_s),
        "model_s": statistics.median(model_s),
        # the growth of the peak over the process's footprint before the system existed
        "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline_MiB,
        "peak_gpu_MiB": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
    }


def per_atom_table(rows: list[dict]) -> list[dict]:
    """Each row with per-atom times (µs) and the ratio of each to the smallest system's."""
    base = rows[0]
    table = []
    for row in rows:
        per_atom = {
            "featurize_us_per_atom": 1e6 * row["featurize_s"] / row["atoms"],
            "model_us_per_atom": 1e6 * row["model_s"] / row["atoms"],
        }
        ratios = {
            "featurize_vs_smallest": per_atom["featurize_us_per_atom"] / (1e6 * base["featurize_s"] / base["atoms"]),
            "model_vs_smallest": per_atom["model_us_per_atom"] / (1e6 * base["model_s"] / base["atoms"]),
        }
        table.append({**row, **per_atom, **ratios})
    return table


def plot(table: list[dict], path: Path, title: str) -> None:
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(9, 4))
    time_axis, memory_axis = figure.subplots(1, 2)
    atoms = [row["atoms"] for row in table]
    time_axis.plot(atoms, [row["featurize_us_per_atom"] for row in table], marker="o", label="featurize")
    time_axis.plot(atoms, [row["model_us_per_atom"] for row in table], marker="o", label="model forward")
    time_axis.set_ylabel("time per atom (µs)")
    memory_axis.plot(atoms, [row["peak_rss_MiB"] * 1024 / row["atoms"] for row in table], marker="o", label="peak RSS growth")
    if table[0]["peak_gpu_MiB"] is not None:
        memory_axis.plot(atoms, [row["peak_gpu_MiB"] * 1024 / row["atoms"] for row in table], marker="o", label="peak GPU")
    memory_axis.set_ylabel("memory per atom (KiB)")
    for axis in (time_axis, memory_axis):
        axis.set_xscale("log")
        axis.set_xlabel("atoms")
        axis.legend(fontsize="small")
    figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--cutoff", type=float, default=3.5, help="radius graph cutoff, Å (default 3.5)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("-o", "--out", default="out/scaling")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # the per-size subprocess
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure_one(args.one, args.cutoff, args.device, args.channels)))
        return
    rows = []
    for size in sorted(args.sizes):
        command = [sys.executable, __file__, "--one", str(size), "--cutoff", str(args.cutoff),
                   "--channels", str(args.channels), "--device", args.device]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(f"{row['atoms']:>7} atoms, {row['edges']:>9} edges: featurize {row['featurize_s']:.3f} s, "
              f"model {row['model_s']:.3f} s, peak RSS {row['peak_rss_MiB']:.0f} MiB", flush=True)
    table = per_atom_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": date.today().isoformat(), "machine": platform.machine(), "python": platform.python_version(),
            "device": args.device, "cutoff_A": args.cutoff, "channels": args.channels}
    (out / "scaling.json").write_text(json.dumps({"meta": meta, "rows": table}, indent=2))
    plot(table, out / "scaling.png", f"water box, cutoff {args.cutoff} Å, {args.device}")
    print("| atoms | edges | featurize µs/atom | model µs/atom | vs smallest (feat., model) | peak RSS growth MiB |")
    print("|---|---|---|---|---|---|")
    for row in table:
        print(f"| {row['atoms']} | {row['edges']} | {row['featurize_us_per_atom']:.1f} | {row['model_us_per_atom']:.1f} | "
              f"{row['featurize_vs_smallest']:.2f}, {row['model_vs_smallest']:.2f} | {row['peak_rss_MiB']:.0f} |")
    print(f"wrote {out / 'scaling.json'} and {out / 'scaling.png'}")


if __name__ == "__main__":
    main()
