"""``make demo``: featurise the shipped molecule set and an ASE crystal, run real MD of ethanol.

Later parts of the toolkit make the demo their main job (MD recipes); for now it shows the
featurizers on real chemistry (every row gets a status, failures say why) and the MD data layer:
a generated MMFF94 trajectory with its energy-conservation report and learning windows.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from ase.build import bulk

import chemnoether
from chemnoether import keys
from chemnoether.data import time_block_windows
from chemnoether.featurize import SUBGRAPH_TYPES, atoms_to_graph, featurize_dataframe
from chemnoether.featurize.io import save_graphs
from chemnoether.simulation import generate_md
from chemnoether.simulation.report import energy_report, format_report


def demo_molecules() -> pd.DataFrame:
    """The shipped demo set: name, SMILES and what each molecule exercises."""
    with resources.files("chemnoether.resources").joinpath("demo_molecules.csv").open() as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    return table


def _summary(table: pd.DataFrame, result) -> pd.DataFrame:
    rows = []
    for i, graph in enumerate(result.graphs):
        row = {"name": table["name"].iloc[i], "ok": graph is not None}
        if graph is not None:
            types = graph.nodes[keys.SUBGRAPH].data[keys.SUBGRAPH_TYPE].tolist()
            groups = sorted({SUBGRAPH_TYPES[t] for t in types} - {"brics_fragment"})
            row.update(
                atoms=graph.num_nodes(keys.ATOM),
                bonds=graph.num_edges(keys.BOND) // 2,
                rings=graph.num_nodes(keys.RING),
                fragments=types.count(len(SUBGRAPH_TYPES) - 1),
                functional_groups=", ".join(groups),
            )
        else:
            row["error"] = result.status["error"].iloc[i]
        rows.append(row)
    summary = pd.DataFrame(rows)
    counts = ["atoms", "bonds", "rings", "fragments"]
    summary[counts] = summary[counts].astype("Int64")  # failed rows stay <NA>, not 13.0
    return summary


def _md_demo(folder: Path) -> None:
    """Real MD (MMFF94, NVE, 0.5 fs) of ethanol, its energy report, and leakage-free windows."""
    start = time.perf_counter()
    traj = generate_md("ethanol", 4000, out=folder, progress=False, resume=False)
    elapsed = time.perf_counter() - start
    print(f"\nMD: {format_report(energy_report(traj))}")
    print(f"({traj.n_frames} frames written to {folder} in {elapsed:.1f} s, equilibration included)")
    windows = time_block_windows(traj, delta=10, fractions=(0.8, 0.1, 0.1))
    sample = windows.train[0]
    print(
        f"windows of 10 frames (5 fs), split in time without overlap: {len(windows.train)} train, "
        f"{len(windows.val)} val, {len(windows.test)} test; a sample is a graph with "
        f"{sample.num_nodes(keys.ATOM)} atoms, {sample.num_edges(keys.BOND) // 2} bonds and the targets "
        f"{keys.NEXT_POS!r}, {keys.NEXT_VEL!r}"
    )


def _md17_recipe(folder: Path, epochs: int | None) -> None:
    """The MD17-protocol quick preset end to end: generate, train ours and EGNN, evaluate, table."""
    script = _recipes_dir() / "md17" / "compare.py"
    if not script.exists():
        print(f"\nMD17 recipe: {script} not found (run the demo from a source checkout); skipped")
        return
    spec = importlib.util.spec_from_file_location("md17_compare", script)
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    print("\nMD17 protocol, quick preset (aspirin, MMFF94 at 500 K): training our model and the EGNN peer")
    argv = ["--preset", "quick", "-o", str(folder)] + (["--epochs", str(epochs)] if epochs else [])
    compare.main(argv)
    print(f"reports and plots of each run: {folder}/*/*/eval/")


def _recipes_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "recipes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out/demo", help="folder for the graphs and tables")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the MD17 quick preset (default: the recipe's)")
    parser.add_argument("--skip-training", action="store_true", help="featurizers and MD only")
    args = parser.parse_args(argv)
    out = Path(args.out)

    print(f"chemnoether {chemnoether.__version__}: featurising the demo molecule set")
    table = demo_molecules()
    start = time.perf_counter()
    result = featurize_dataframe(table, "smiles", positions=None)
    elapsed = time.perf_counter() - start
    summary = _summary(table, result)
    with pd.option_context("display.width", 160, "display.max_colwidth", 70, "display.max_rows", 100):
        print(summary.drop(columns=["error"], errors="ignore").to_string(index=False, na_rep=""))
        print(f"\n{int(result.ok.sum())} of {len(table)} rows featurised in {elapsed * 1000:.0f} ms; failures:")
        for name, error in zip(summary["name"][~result.ok], result.failures()["error"], strict=True):
            print(f"  {name}: {error}")

    crystal = bulk("Cu", "fcc", a=3.61).repeat((2, 2, 2))
    graph = atoms_to_graph(crystal, cutoff=3.0)
    degree = np.bincount(graph.edges(etype=keys.NEAR)[1].numpy(), minlength=len(crystal))
    print(
        f"\nASE: fcc Cu 2x2x2 supercell, periodic, cutoff 3.0 Å: {graph.num_nodes(keys.ATOM)} atoms, "
        f"{graph.num_edges(keys.NEAR)} directed neighbour edges, every atom has {sorted(set(degree.tolist()))} "
        "neighbours (fcc: 12)"
    )

    _md_demo(out / "md")
    if not args.skip_training:
        _md17_recipe(out / "md17", args.epochs)

    graphs_path = save_graphs(out / "graphs.bin", result)
    summary.to_csv(out / "summary.csv", index=False)
    print(f"\nwrote {graphs_path}, {graphs_path}.status.csv and {out / 'summary.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
