"""MD17 protocol: our model, the EGNN peer and constant velocity on the same windows, one table.

    python recipes/md17/compare.py --preset quick [--molecule ethanol] [--trajectory md17_aspirin.npz] [-o out/md17]

Trains ``{preset}.yaml`` (our model) and every peer of ``peers.yaml`` with the same ``data:`` and
``train:`` sections (same data, same steps), evaluates each on the test split with
``chemnoether evaluate``, and writes ``table.md`` / ``table.csv`` with the test position MSE in
Å^2 and in the papers' x10^-2 unit. ``--trajectory`` points the same recipe at a real MD17 /
rMD17 / ASE file instead of generating MD (rMD17 is refused: its frames are not consecutive).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent


def _overrides(args) -> list[str]:
    extra = []
    if args.molecule:
        extra.append(f"data.molecule={args.molecule}")
    if args.trajectory:
        extra += ["data.molecule=null", f"data.trajectory={Path(args.trajectory).resolve()}"]
    if args.epochs is not None:
        extra.append(f"train.epochs={args.epochs}")
    return extra + list(args.set)


def _train(recipe: Path, run_dir: Path, overrides: list[str]) -> None:
    from chemnoether.cli import main  # noqa: PLC0415

    argv = ["train", str(recipe), "-o", str(run_dir), "--resume", "auto"]
    for item in overrides:
        argv += ["--set", item]
    code = main(argv)
    if code != 0:
        raise SystemExit(f"training into {run_dir} failed (exit {code})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=["quick", "full"])
    parser.add_argument("--molecule", default=None, help="generate MD of this molecule (default: the recipe's)")
    parser.add_argument("--trajectory", default=None, help="a real MD17 / ASE trajectory file instead of generated MD")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (all models)")
    parser.add_argument("--set", action="append", default=[], help="more recipe overrides, KEY=VALUE")
    parser.add_argument("-o", "--out", default="out/md17", help="folder of the runs and the table")
    args = parser.parse_args(argv)

    import chemnoether  # noqa: F401, PLC0415 - before dgl
    from chemnoether.evaluate import evaluate_run  # noqa: PLC0415

    recipe = HERE / f"{args.preset}.yaml"
    label = args.molecule or (Path(args.trajectory).stem if args.trajectory else yaml.safe_load(recipe.read_text())["data"]["molecule"])
    out = Path(args.out) / f"{label}-{args.preset}"
    overrides = _overrides(args)
    ours = yaml.safe_load(recipe.read_text())
    runs = {"equivariant (ours)": (out / "equivariant", recipe)}
    for name, section in yaml.safe_load((HERE / "peers.yaml").read_text()).items():
        # the peer's recipe: ours with only the model: section replaced
        peer_recipe = out / "recipes" / f"{name}.yaml"
        peer_recipe.parent.mkdir(parents=True, exist_ok=True)
        peer_recipe.write_text(yaml.safe_dump({**ours, "model": section}, sort_keys=False))
        runs[name] = (out / name, peer_recipe)
    rows = []
    for name, (run_dir, run_recipe) in runs.items():
        _train(run_recipe, run_dir, overrides)
        single = evaluate_run(run_dir, rollout_steps=2)["single_step"]
        mse = single["model"]["pos_mse"]
        rows.append({"model": name, "test_mse_A2": mse, "x1e-2": 100 * mse, "run": str(run_dir)})
    reference = single["constant_velocity"]["pos_mse"]
    rows.append({"model": "constant velocity", "test_mse_A2": reference, "x1e-2": 100 * reference, "run": "-"})
    table = pd.DataFrame(rows)
    ours = table.loc[0, "test_mse_A2"]
    table["vs_ours"] = table["test_mse_A2"] / ours
    table.to_csv(out / "table.csv", index=False)
    (out / "table.md").write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n")  # tabulate is a dependency
    print(table.to_string(index=False))
    print(f"table: {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
