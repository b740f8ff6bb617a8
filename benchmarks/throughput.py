"""Training and rollout throughput of the dynamics models on one device, with peak memory.

For each model (ours, the EGNN peer where its DGL build runs on the device) on MD17-protocol
windows of generated aspirin MD (heavy atoms, 1.6 Å + 2-hop graph) and on all-atom ethanol
windows (radius graph): training steps (forward, loss, backward, Adam) timed over ``--steps``
after a warm-up, as molecules/s and atom-steps/s (atoms times molecules per second); and rollout
steps/s of ``--rollout-batch`` molecules at once (no grad). Peak GPU memory from
``torch.cuda.max_memory_allocated``. Accuracy is not measured here: pair these figures with
``recipes/md17/compare.py`` (test MSE at the same budget) for throughput per unit of accuracy.

Run: ``python benchmarks/throughput.py [--device cuda] [--steps 20] [--batch-size 64]
[--data aspirin_md17 ...] [--compile default|reduce-overhead] [--json out.json]``; ``--compile`` adds
each model's training step under ``torch.compile`` (CUDA graphs with ``reduce-overhead``).
PyPI's DGL has no CUDA build, so on a GPU the EGNN peer runs with ``backend="torch"``: ``dgl.nn.EGNNConv``'s arithmetic on plain tensors, equal to it to 1e-12
(``tests/models/test_egnn_backends.py``).
"""

from __future__ import annotations

import argparse
import time

import torch
from _results import mark_skipped, sync, write_results

import chemnoether  # noqa: F401 - before anything that may import dgl
from chemnoether import keys
from chemnoether.data import GraphTensors, md17_protocol_windows, time_block_windows
from chemnoether.simulation import generate_md
from chemnoether.models import build_model


def _datasets(names: list[str] | None) -> dict:
    makers = {
        # the md17 quick recipe's trajectory: the shortest the exact protocol accepts
        "aspirin_md17": lambda: md17_protocol_windows(
            generate_md("aspirin", 60_000, temperature_K=500.0, seed=0, progress=False)).train,
        "ethanol_all_atoms": lambda: time_block_windows(
            generate_md("ethanol", 4_000, temperature_K=300.0, seed=0, progress=False), 10, graph="radius", cutoff=5.0).train,
    }
    unknown = set(names or ()) - set(makers)
    if unknown:
        raise SystemExit(f"--data: unknown dataset(s) {sorted(unknown)}; choose from {sorted(makers)}")
    return {name: make() for name, make in makers.items() if names is None or name in names}


def _models(elements, device: str) -> dict:
    # PyPI's DGL is CPU-only: on a GPU the peer runs EGNNConv's plain-tensor twin (same arithmetic)
    backend = "dgl" if device == "cpu" else "torch"
    return {
        "equivariant": lambda: build_model("equivariant", elements=elements, channels=32, layers=3),
        f"egnn ({backend})": lambda: build_model("egnn", elements=elements, hidden=64, layers=4, backend=backend),
    }



def _training(model, batch: GraphTensors, steps: int, device: str, compile_mode: str | None = None) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    call = torch.compile(model, mode=compile_mode) if compile_mode else model

    def step():
        prediction = call(batch)
        loss = (prediction.pos - batch.atom[keys.NEXT_POS]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up (and compilation)
    step()
    sync(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - began) / steps


def _rollout(model, batch: GraphTensors, steps: int, device: str) -> float:
    from chemnoether.noether import advance  # noqa: PLC0415

    model.eval()
    with torch.no_grad():
        state = batch
        state = advance(state, model(state))  # warm-up
        sync(device)
        began = time.perf_counter()
        for _ in range(steps):
            state = advance(state, model(state))
        sync(device)
    return (time.perf_counter() - began) / steps


def _train_rates(batch_size: int, atoms: int, seconds: float) -> dict:
    return {"train_molecules_per_s": batch_size / seconds, "train_atom_steps_per_s": batch_size * atoms / seconds}


def _compiled_row(make, batch, args, data_name: str, model_name: str, atoms: int) -> dict:
    """The training step of a fresh copy under ``torch.compile(mode=args.compile)``."""
    row = {"data": data_name, "model": f"{model_name} compiled ({args.compile})", "atoms_per_molecule": atoms}
    try:
        torch.manual_seed(0)
        began = time.perf_counter()
        seconds = _training(make().to(args.device), batch, args.steps, args.device, args.compile)
    except Exception as err:  # noqa: BLE001 - a model the compiler cannot take is a row, not a crash
        return mark_skipped(row, f"{data_name} {row['model']}", err)
    row.update({**_train_rates(args.batch_size, atoms, seconds), "compile_and_time_s": time.perf_counter() - began})
    print(f"{data_name} {row['model']}: train {row['train_molecules_per_s']:.0f} molecules/s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rollout-batch", type=int, default=256)
    parser.add_argument("--data", nargs="+", default=None, help="datasets to run (default: all)")
    parser.add_argument("--compile", default=None, choices=("default", "reduce-overhead"),
                        help="also time each model's training step under torch.compile in this mode")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for data_name, windows in _datasets(args.data).items():
        atoms = windows.topology.num_atoms
        train_batch = GraphTensors.from_graph(windows.batch(list(range(args.batch_size))), device=args.device)
        roll_count = min(args.rollout_batch, len(windows))
        roll_batch = GraphTensors.from_graph(windows.batch(list(range(roll_count))), device=args.device)
        elements = sorted({int(z) for z in train_batch.atom[keys.ATOMIC_NUMBERS].tolist()})
        for model_name, make in _models(elements, args.device).items():
            row = {"data": data_name, "model": model_name, "atoms_per_molecule": atoms}
            try:
                torch.manual_seed(0)
                model = make().to(args.device)
                if args.device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                seconds = _training(model, train_batch, args.steps, args.device)
                rollout_seconds = _rollout(model, roll_batch, args.steps, args.device)
            except Exception as err:  # noqa: BLE001 - a peer that cannot run here is a row, not a crash
                rows.append(mark_skipped(row, f"{data_name} {model_name}", err))
                continue
            row.update({
                **_train_rates(args.batch_size, atoms, seconds),
                "rollout_molecule_steps_per_s": roll_count / rollout_seconds,
                "peak_gpu_MiB": torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None,
            })
            rows.append(row)
            print(f"{data_name} {model_name}: train {row['train_molecules_per_s']:.0f} molecules/s "
                  f"({row['train_atom_steps_per_s']:.0f} atom-steps/s), rollout "
                  f"{row['rollout_molecule_steps_per_s']:.0f} molecule-steps/s", flush=True)
            if args.compile:
                rows.append(_compiled_row(make, train_batch, args, data_name, model_name, atoms))
    if args.json:
        write_results(args.json, rows, args.device, batch_size=args.batch_size)


if __name__ == "__main__":
    main()
