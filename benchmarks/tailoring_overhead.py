"""The price of tailoring: meta-tailored training steps and tailored predictions against plain ones.

Same model (``EquivariantDynamics``, the next_frame recipe's size), same batches of real MMFF94
ethanol windows (all atoms, radius graph, 5 fs steps), same process; the variants run
interleaved, each repeat timing ``--steps`` calls after a warm-up, and the report gives medians
and the median of per-repeat ratios to the plain variant:

* training step (forward, loss, backward, Adam step): plain; meta-tailored with a learned g, one
  inner SGD step, second order (the paper's Algorithm 1), first order, and second order over the
  last block only (``blocks=1``); with the MMFF94 energy oracle (second order);
* prediction (no grad outside the inner step): plain; tailored with one inner step (learned g,
  energy oracle), over all blocks and over the last block only (``blocks=1``, whose untailored
  blocks run once per prediction through the model's prefix cache).

Goals (issues 5 and 8): meta-tailored training at most 3x a plain step (the paper's was about
5.5x on video); tailored prediction at most 2.5x (issue 8) / 3x (issue 5) plain.

Run: ``python benchmarks/tailoring_overhead.py [--repeats 5] [--steps 10] [--batch-size 64]
[--device cpu|cuda] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _results import sync, write_results

import chemnoether  # noqa: F401 - before anything that may import dgl
from chemnoether import keys
from chemnoether.data import GraphTensors, time_block_windows
from chemnoether.simulation import generate_md
from chemnoether.models import EquivariantDynamics
from chemnoether.noether import NoetherEmbedding, NoetherTailoredModel, TailoringOptions
from chemnoether.noether.recipe import MMFFTotalEnergy


def _batch(device: str, batch_size: int) -> GraphTensors:
    traj = generate_md("ethanol", 4000, temperature_K=300.0, seed=0, progress=False)
    splits = time_block_windows(traj, 10, graph="radius", cutoff=5.0, velocity="trajectory")
    return GraphTensors.from_graph(splits.train.batch(list(range(batch_size))), device=device)


def _loss(prediction, batch) -> torch.Tensor:
    atom = batch.atom
    return (prediction.pos - atom[keys.NEXT_POS]).pow(2).mean() + 100 * (prediction.vel - atom[keys.NEXT_VEL]).pow(2).mean()


def _variants(device: str):
    torch.manual_seed(0)
    elements = [1, 6, 8]

    def base():
        return EquivariantDynamics(elements, channels=32, layers=3).to(device)

    def learned():
        return NoetherEmbedding(elements, k=8, hidden=32, layers=2).to(device)

    energy = MMFFTotalEnergy("CCO").to(device)
    return {
        "plain": base(),
        "meta_learned_g_2nd_order": NoetherTailoredModel(base(), learned(), TailoringOptions(create_graph=True), learn_lr=True),
        "meta_learned_g_1st_order": NoetherTailoredModel(base(), learned(), TailoringOptions(create_graph=False), learn_lr=True),
        "meta_learned_g_2nd_order_last_block": NoetherTailoredModel(
            base(), learned(), TailoringOptions(create_graph=True, blocks=1), learn_lr=True
        ),
        "meta_energy_oracle": NoetherTailoredModel(base(), energy, TailoringOptions(create_graph=True)),
        "tailored_learned_g": NoetherTailoredModel(base(), learned(), TailoringOptions()),
        "tailored_learned_g_last_block": NoetherTailoredModel(base(), learned(), TailoringOptions(blocks=1)),
        "tailored_energy_oracle": NoetherTailoredModel(base(), energy, TailoringOptions(lr=0.03)),
        "tailored_energy_oracle_last_block": NoetherTailoredModel(base(), energy, TailoringOptions(lr=0.03, blocks=1)),
    }



def _time_training(model, batch, steps: int, device: str) -> float:
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    sync(device)
    began = time.perf_counter()
    for _ in range(steps):
        loss = _loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync(device)
    return (time.perf_counter() - began) / steps


def _time_prediction(model, batch, steps: int, device: str) -> float:
    model.eval()
    sync(device)
    began = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            model(batch)
    sync(device)
    return (time.perf_counter() - began) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    batch = _batch(args.device, args.batch_size)
    variants = _variants(args.device)
    training = ["plain", "meta_learned_g_2nd_order", "meta_learned_g_1st_order", "meta_learned_g_2nd_order_last_block",
                "meta_energy_oracle"]
    prediction = ["plain", "tailored_learned_g", "tailored_learned_g_last_block", "tailored_energy_oracle",
                  "tailored_energy_oracle_last_block"]
    for name in training:  # warm-up: first-call costs (e3nn, allocator) stay out of the timings
        _time_training(variants[name], batch, 1, args.device)
    for name in prediction:
        _time_prediction(variants[name], batch, 1, args.device)
    times = {("train", n): [] for n in training} | {("predict", n): [] for n in prediction}
    for repeat in range(args.repeats):
        for name in training:
            times[("train", name)].append(_time_training(variants[name], batch, args.steps, args.device))
        for name in prediction:
            times[("predict", name)].append(_time_prediction(variants[name], batch, args.steps, args.device))
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    rows = []
    for (what, name), seconds in times.items():
        plain = times[(what, "plain")]
        ratios = [s / p for s, p in zip(seconds, plain)]
        rows.append({"what": what, "variant": name, "median_ms": 1e3 * statistics.median(seconds),
                     "ratio_to_plain": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]})
    print(f"| step | variant | median ms / call ({args.batch_size} ethanol graphs) | ratio to plain (range) |")
    print("|---|---|---|---|")
    for row in rows:
        low, high = row["ratio_range"]
        print(f"| {row['what']} | {row['variant']} | {row['median_ms']:.1f} | {row['ratio_to_plain']:.2f} ({low:.2f}-{high:.2f}) |")
    if args.json:
        write_results(args.json, rows, args.device, batch_size=args.batch_size, steps=args.steps, repeats=args.repeats)


if __name__ == "__main__":
    main()
