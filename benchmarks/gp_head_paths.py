"""The GP head's forecast cost on public APIs against the private paths it replaced, in one process (issue 14, point 6).

Before, the head forecast (without autograd) through two private paths: ``gp/_dense_encoder.py``
(a copy of ``EquivariantDynamics.node_scalars`` on the model's and e3nn's internals) and
``gp/_lapack.py`` (MKL's ``dpotrf_`` inside libtorch through ctypes, at
``conditioning.padded_order``). Now it calls ``node_scalars`` (one call per molecule for a batch
of windows) and factors with ``torch.linalg.cholesky_ex`` in place at ``lagged.factor_order``.
This script takes those two modules from git revision ``--before`` (the last one that had them),
swaps them into the same model in turn, checks that both paths forecast alike, and times each,
interleaved (so that load from other processes falls on both): the head's seconds per window, one
window at a time (the recipe's timing) and eight windows of a molecule batched. Ratios use each
path's fastest call (the median is printed beside it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gp_head_paths.py --model out/gp_heads/model.pt --repeats 30

``--model``: a head saved by ``recipes/gp_heads/run.py --preset quick`` (without it, an untrained
head of that configuration, seeded). Needs git and this repository's history.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import chemnoether  # noqa: F401 - before anything that may import dgl
from chemnoether.simulation import generate_md
from chemnoether.gp import lagged
from chemnoether.gp.conditioning import padded_order
from chemnoether.gp.train import GPNodeModel, HeadConfig, prepare_molecule

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "recipes" / "gp_heads"))
from run import PRESETS, SMILES  # noqa: E402 - the recipe's configuration and molecules

BEFORE = "40110f8"  # the last revision with gp/_dense_encoder.py and gp/_lapack.py
MOLECULES = ("acetic acid", "lactic acid", "benzoic acid", "salicylic acid", "paracetamol", "aspirin")


def _old_module(revision: str, path: str, folder: Path):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{path}"], capture_output=True, text=True, check=True).stdout
    # the old module's imports, renamed since (the light core took GraphTensors and the ops)
    source = source.replace("chemnoether.data.ops", "chemnoether.core.ops").replace("chemnoether.data.tensors", "chemnoether.core.tensors")
    file = folder / Path(path).name
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(f"before_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Paths:
    """Switches one model between the private paths of ``revision`` and the public ones."""

    def __init__(self, model: GPNodeModel, revision: str, folder: Path):
        dense = _old_module(revision, "chemnoether/gp/_dense_encoder.py", folder)
        self.lapack = _old_module(revision, "chemnoether/gp/_lapack.py", folder)
        self.model, self.snapshot = model, dense.DenseScalars(model.encoder)
        self.public = (lagged.factor_in_place, lagged.factor_order, model._batch_features)

    def use(self, path: str) -> None:
        model = self.model
        if path == "before":
            model.encoder.node_scalars = self.snapshot  # an instance attribute shadows the method
            model._batch_features = lambda items: [f for m, s in items for f in model.features(m, [s])]  # one call per window, as before
            lagged.factor_in_place, lagged.factor_order = self.lapack.factor_in_place, padded_order
        else:
            model.encoder.__dict__.pop("node_scalars", None)
            lagged.factor_in_place, lagged.factor_order, model._batch_features = self.public


def measure(paths: Paths, molecule, config: HeadConfig, repeats: int) -> dict:
    model = paths.model
    starts = torch.linspace(0, molecule.num_starts(config) - 1, 8).long().tolist()
    batch = [(molecule, s) for s in starts]
    with torch.inference_mode():
        forecasts = {}
        for path in ("before", "public"):
            paths.use(path)
            forecasts[path] = model(batch)[0]
        torch.testing.assert_close(forecasts["public"].mean, forecasts["before"].mean, rtol=0, atol=1e-9)
        torch.testing.assert_close(forecasts["public"].var, forecasts["before"].var, rtol=1e-8, atol=0)
        one, batched = {"before": [], "public": []}, {"before": [], "public": []}
        for r in range(repeats):
            for path in ("before", "public"):
                paths.use(path)
                began = time.perf_counter()
                model([batch[r % len(batch)]])
                one[path].append(time.perf_counter() - began)
                began = time.perf_counter()
                model(batch)
                batched[path].append((time.perf_counter() - began) / len(batch))
    paths.use("public")
    row = {"molecule": molecule.name, "atoms": len(molecule.atomic_numbers)}
    for label, times in (("one", one), ("batched", batched)):
        for path in times:
            row[f"{label}_{path}_ms"] = 1e3 * min(times[path])
            row[f"{label}_{path}_median_ms"] = 1e3 * statistics.median(times[path])
        row[f"{label}_ratio"] = min(times["public"]) / min(times["before"])
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a head saved by the quick recipe (default: untrained, seeded)")
    parser.add_argument("--before", default=BEFORE, help="git revision with the private paths")
    parser.add_argument("--molecules", nargs="+", default=list(MOLECULES))
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = HeadConfig(**PRESETS["quick"]["head"])
    molecules = []
    for seed, name in enumerate(args.molecules):
        molecules.append(prepare_molecule(generate_md(SMILES.get(name, name), 1200, seed=seed, progress=False), config.stride, name))
        print(f"MD of {name}: done", flush=True)
    model = GPNodeModel(config, molecules[0].attrs.shape[1])
    if args.model is not None:
        model.load_state_dict(torch.load(args.model, weights_only=True))
    model.eval()
    print("| molecule | atoms | one window: before / public ms (medians) | public / before | 8 batched, per window: before / public ms | public / before |")
    print("|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = Paths(model, args.before, Path(folder))
        for molecule in molecules:
            r = measure(paths, molecule, config, args.repeats)
            rows.append(r)
            print(f"| {r['molecule']} | {r['atoms']} | {r['one_before_ms']:.2f} / {r['one_public_ms']:.2f} ({r['one_before_median_ms']:.2f} / "
                  f"{r['one_public_median_ms']:.2f}) | {r['one_ratio']:.2f} | {r['batched_before_ms']:.2f} / {r['batched_public_ms']:.2f} | "
                  f"{r['batched_ratio']:.2f} |", flush=True)
    print(f"mean public / before over {len(rows)} molecules: one window {statistics.mean(r['one_ratio'] for r in rows):.2f}, "
          f"batched {statistics.mean(r['batched_ratio'] for r in rows):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
