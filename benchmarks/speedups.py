"""Speed-ups that must keep results equal within tolerance, measured on one device (issue 8, point 2).

Our model (``EquivariantDynamics``, the MD17 recipe's size) on a batch of MD17-protocol aspirin
windows (heavy atoms, 1.6 Å + 2-hop graph), the same weights in every variant:

* ``eager``: float32, as trained today (the reference);
* ``eager_no_element_check``: without the unknown-element check (one host sync per call);
* ``tf32``: float32 with TF32 matrix products (CUDA only);
* ``bf16_autocast``: ``torch.autocast`` to bfloat16;
* ``compile``: ``torch.compile`` (inductor), default mode;
* ``compile_reduce_overhead``: ``torch.compile(mode="reduce-overhead")``, CUDA graphs (CUDA only).

For each: one training step (forward, loss, backward, Adam) timed as the median over ``--steps``
after warm-up (compilation is timed apart), its speed against eager, and how far its results move
from eager's: the predicted displacement (relative max error), the loss gradient (relative L2
error) and the variant's own equivariance error under a rotation with inversion. ``host_syncs``
counts the synchronising CUDA calls of one eager training step (``torch.cuda.set_sync_debug_mode``).

Two more sweeps: molecules/s against batch size (many small molecules in one batched graph), and
a forward pass of a periodic water box (``--box-atoms``) with the interaction block's edge-slice
size at 16k edges (the CPU default, sized for caches), 256k (the GPU default) and one piece, time and peak memory.

Run: ``python benchmarks/speedups.py [--device cuda] [--steps 20] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import time
import warnings

import torch
from _results import mark_skipped, sync, write_results

import chemnoether  # noqa: F401 - before anything that may import dgl
from chemnoether import keys
from chemnoether.data import GraphTensors, md17_protocol_windows
from chemnoether.simulation import generate_md
from chemnoether.models import build_model
from chemnoether.nn import _interaction

BATCH_SIZES = (16, 64, 256, 1024)
EDGE_CHUNKS = (1 << 14, 1 << 18, 1 << 30)



def _loss(prediction, batch) -> torch.Tensor:
    return (prediction.pos - batch.atom[keys.NEXT_POS]).pow(2).mean()


def _model(elements, device: str):
    torch.manual_seed(0)
    return build_model("equivariant", elements=elements, channels=32, layers=3, edges="near", rigid_rotation=True).to(device)


def _variants(device: str) -> dict:
    """name -> (wrap the model, context for its calls)."""
    cuda = device == "cuda"
    variants = {
        "eager": (lambda m: m, contextlib.nullcontext),
        "eager_no_element_check": (_without_element_check, contextlib.nullcontext),
        "bf16_autocast": (lambda m: m, lambda: torch.autocast(device, dtype=torch.bfloat16)),
        "compile": (torch.compile, contextlib.nullcontext),
    }
    if cuda:
        variants["tf32"] = (lambda m: m, _tf32)
        variants["compile_reduce_overhead"] = (lambda m: torch.compile(m, mode="reduce-overhead"), contextlib.nullcontext)
    return variants


def _without_element_check(model):
    # what the unknown-element check (one host sync per call, ElementTypes) costs: same lookup, no check
    types = model.element_types
    types.forward = lambda z: types.table[z.long()]
    return model


@contextlib.contextmanager
def _tf32():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _gradient(model, call, batch) -> torch.Tensor:
    model.zero_grad()
    _loss(call(batch), batch).float().backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def _rotated(batch: GraphTensors, rotation: torch.Tensor) -> GraphTensors:
    atom = dict(batch.atom)
    for key in (keys.POS, keys.VEL, keys.NEXT_POS):
        atom[key] = atom[key] @ rotation.T
    return dataclasses.replace(batch, atom=atom)


def _equivariance_error(call, batch, rotation) -> float:
    with torch.no_grad():
        plain = call(batch).pos - batch.atom[keys.POS]
        turned = call(_rotated(batch, rotation)).pos - batch.atom[keys.POS] @ rotation.T
    return float((turned - plain @ rotation.T).abs().max() / plain.abs().max())


def _time_steps(model, call, batch, steps: int, device: str) -> tuple[float, float]:
    """(seconds of the first step, median seconds of the ``steps`` after two warm-up steps)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    times = []
    for _ in range(steps + 2):
        began = time.perf_counter()
        loss = _loss(call(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync(device)
        times.append(time.perf_counter() - began)
    return times[0], statistics.median(times[2:])


def _host_syncs(model, batch, device: str) -> int | None:
    if device != "cuda":
        return None
    sync(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            loss = _loss(model(batch), batch)
            loss.backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def variant_rows(batch: GraphTensors, elements, device: str, steps: int) -> list[dict]:
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))[0]
    rotation = -(rotation * torch.sign(torch.det(rotation))).to(device)  # a rotation with inversion
    reference = _model(elements, device)
    with torch.no_grad():
        ref_move = reference(batch).pos - batch.atom[keys.POS]
    ref_grad = _gradient(reference, reference, batch)
    rows = []
    for name, (wrap, context) in _variants(device).items():
        row = {"variant": name}
        try:
            model = _model(elements, device)
            call = wrap(model)
            with context():
                began = time.perf_counter()
                grad = _gradient(model, call, batch)  # the first call: compiles forward and backward
                sync(device)
                first_s = time.perf_counter() - began
                with torch.no_grad():
                    move = call(batch).pos.float() - batch.atom[keys.POS]
                row["equivariance_error"] = _equivariance_error(call, batch, rotation)
                _, step_s = _time_steps(model, call, batch, steps, device)
        except Exception as err:  # noqa: BLE001 - a variant that cannot run here is a row, not a crash
            rows.append(mark_skipped(row, name, err))
            continue
        row.update({
            "first_step_s": first_s,
            "step_s": step_s,
            "displacement_rel_max_error": float((move - ref_move).abs().max() / ref_move.abs().max()),
            "gradient_rel_l2_error": float((grad - ref_grad).norm() / ref_grad.norm()),
        })
        rows.append(row)
    eager = next(r for r in rows if r["variant"] == "eager")
    for row in rows:
        if "step_s" in row:
            row["speedup_vs_eager"] = eager["step_s"] / row["step_s"]
            print(f"{row['variant']}: {1e3 * row['step_s']:.2f} ms/step ({row['speedup_vs_eager']:.2f}x eager), "
                  f"first step {row['first_step_s']:.1f} s, displacement error {row['displacement_rel_max_error']:.1e}, "
                  f"gradient error {row['gradient_rel_l2_error']:.1e}, equivariance {row['equivariance_error']:.1e}",
                  flush=True)
    eager["host_syncs_per_training_step"] = _host_syncs(_model(elements, device), batch, device)
    return rows


def batch_rows(windows, elements, device: str, steps: int) -> list[dict]:
    rows = []
    model = _model(elements, device)
    for size in BATCH_SIZES:
        indices = [i % len(windows) for i in range(size)]  # repeats where the split is smaller
        batch = GraphTensors.from_graph(windows.batch(indices), device=device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        _, step_s = _time_steps(model, model, batch, steps, device)
        row = {"batch_size": size, "train_molecules_per_s": size / step_s,
               "train_atom_steps_per_s": size * windows.topology.num_atoms / step_s,
               "peak_gpu_MiB": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None}
        print(f"batch {size}: {row['train_molecules_per_s']:.0f} molecules/s", flush=True)
        rows.append(row)
    return rows


def edge_chunk_rows(box_atoms: int, device: str, repeats: int = 3) -> list[dict]:
    from scaling import water_box  # noqa: PLC0415

    from chemnoether.featurize import atoms_to_graph  # noqa: PLC0415
    from chemnoether.models import EquivariantDynamics  # noqa: PLC0415

    graph = atoms_to_graph(water_box(box_atoms), cutoff=3.5)
    graph.nodes["system"].data[keys.DT] = torch.tensor([1.0])
    batch = GraphTensors.from_graph(graph, device=device)
    torch.manual_seed(0)
    model = EquivariantDynamics([1, 8], channels=16, layers=2, cutoff=3.5).to(device).eval()
    defaults, rows, reference = (_interaction.EDGE_CHUNK, _interaction.EDGE_CHUNK_ACCELERATOR), [], None
    try:
        for chunk in EDGE_CHUNKS:
            _interaction.EDGE_CHUNK = _interaction.EDGE_CHUNK_ACCELERATOR = chunk
            with torch.no_grad():
                out = model(batch).pos  # warm-up
                sync(device)
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                times = []
                for _ in range(repeats):
                    began = time.perf_counter()
                    model(batch)
                    sync(device)
                    times.append(time.perf_counter() - began)
            reference = out if reference is None else reference
            rows.append({"edge_chunk": chunk, "atoms": batch.atom_graph.numel(), "edges": int(batch.near_index.shape[1]),
                         "forward_s": statistics.median(times),
                         "max_abs_difference_A": float((out - reference).abs().max()),
                         "peak_gpu_MiB": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None})
            print(f"edge chunk {chunk}: {rows[-1]['forward_s']:.3f} s", flush=True)
    finally:
        _interaction.EDGE_CHUNK, _interaction.EDGE_CHUNK_ACCELERATOR = defaults
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--box-atoms", type=int, default=100_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    trajectory = generate_md("aspirin", 60_000, temperature_K=500.0, seed=0, progress=False)
    windows = md17_protocol_windows(trajectory).train
    batch = GraphTensors.from_graph(windows.batch(list(range(args.batch_size))), device=args.device)
    elements = sorted({int(z) for z in batch.atom[keys.ATOMIC_NUMBERS].tolist()})
    results = {
        "variants": variant_rows(batch, elements, args.device, args.steps),
        "batch_sizes": batch_rows(windows, elements, args.device, args.steps),
        "edge_chunks": edge_chunk_rows(args.box_atoms, args.device),
    }
    if args.json:
        write_results(args.json, [{"part": part, **row} for part, rows in results.items() for row in rows],
                      args.device, batch_size=args.batch_size)


if __name__ == "__main__":
    main()
