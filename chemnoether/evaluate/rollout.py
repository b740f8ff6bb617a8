"""Autoregressive rollouts of a dynamics model, many starts at once, as trajectories.

A rollout feeds the model's own prediction back as the next input: positions and velocities of
step k + 1 are the model's output at step k. Graphs come from the same ``Topology`` the model was
trained on, so fixed edges (MD17 graph) stay fixed and radius graphs follow the predicted atoms.

A tailored model (``NoetherTailoredModel``) with ``anchor="start"`` is asked at every step to keep
g at its value at the rollout's start, so a quantity that drifts a little each step is pulled back
to where the rollout began rather than to where the previous step left it.
"""

from __future__ import annotations

import numpy as np
import torch

from chemnoether import keys
from chemnoether._memory import require_rollout_memory
from chemnoether.core.tensors import GraphTensors
from chemnoether.data.topology import Topology
from chemnoether.errors import ConfigError
from chemnoether.featurize.assemble import build_batched_graph

MAX_EXCURSION_A = 1.0e4  # Å from the start's centre: far beyond any physical step, short of float overflow


@torch.no_grad()
def rollout(
    model: torch.nn.Module,
    topology: Topology,
    pos: np.ndarray,
    vel: np.ndarray,
    dt_fs: float,
    n_steps: int,
    *,
    device: str | torch.device = "cpu",
    stop_on_nan: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Roll ``B`` starts forward ``n_steps`` model steps of ``dt_fs`` each.

    Args:
        pos, vel: (B, N, 3) start positions (Å) and velocities (Å/fs) of the topology's atoms.
    Returns:
        positions and velocities (B, n_steps + 1, N, 3), float64; index 0 is the start. Once a
        rollout produces a non-finite value, or an atom ``MAX_EXCURSION_A`` or more from where
        that start began (a blown-up rollout; neighbour searches cannot bin such coordinates),
        it and every later frame of that start are NaN.
    """
    pos = np.asarray(pos, dtype=np.float64)
    vel = np.asarray(vel, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[1:] != (topology.num_atoms, 3) or vel.shape != pos.shape:
        raise ConfigError(
            f"rollout starts must be (B, {topology.num_atoms}, 3) positions and velocities; got {pos.shape} and {vel.shape}"
        )
    if not (isinstance(n_steps, int) and n_steps >= 1):
        raise ConfigError(f"n_steps={n_steps!r} must be a positive integer")
    n_starts = len(pos)
    require_rollout_memory(n_steps, topology.num_atoms, n_starts)  # refuse before allocating, not in numpy
    out_pos = np.full((n_starts, n_steps + 1, topology.num_atoms, 3), np.nan)
    out_vel = np.full_like(out_pos, np.nan)
    out_pos[:, 0], out_vel[:, 0] = pos, vel
    alive = np.isfinite(pos).all(axis=(1, 2)) & np.isfinite(vel).all(axis=(1, 2))
    was_training = model.training
    model.eval()
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    anchored = getattr(model, "anchor", None) == "start"
    reference = None
    try:
        for step in range(n_steps):
            if not alive.any():
                break
            idx = np.flatnonzero(alive)
            cur_pos, cur_vel = out_pos[idx, step], out_vel[idx, step]
            rows_reference = None
            if anchored:
                if reference is None:  # g of every start, once; later steps take their rows
                    batch = state_batch(topology, cur_pos, cur_vel, dt_fs, device=device, dtype=dtype)
                    start_values = model.g(batch).reshape(len(idx), -1).to(dtype)
                    reference = start_values.new_full((n_starts, start_values.shape[1]), torch.nan)
                    reference[torch.as_tensor(idx, device=reference.device)] = start_values
                rows_reference = reference[torch.as_tensor(idx, device=reference.device)]
            new_pos, new_vel = model_step(model, topology, cur_pos, cur_vel, dt_fs, device=device, dtype=dtype,
                                          reference=rows_reference)
            finite = np.isfinite(new_pos).all(axis=(1, 2)) & np.isfinite(new_vel).all(axis=(1, 2))
            with np.errstate(invalid="ignore"):
                excursion = np.abs(new_pos - pos[idx].mean(axis=1, keepdims=True)).max(axis=(1, 2))
            finite &= excursion < MAX_EXCURSION_A
            out_pos[idx[finite], step + 1] = new_pos[finite]
            out_vel[idx[finite], step + 1] = new_vel[finite]
            if stop_on_nan:
                alive[idx[~finite]] = False
    finally:
        model.train(was_training)
    return out_pos, out_vel


def state_batch(topology: Topology, pos: np.ndarray, vel: np.ndarray, dt_fs: float, *, device, dtype) -> GraphTensors:
    """The ``GraphTensors`` of states (B, N, 3) of the topology's atoms, as the model reads them."""
    np_float = np.float64 if dtype == torch.float64 else np.float32
    atom_data = {keys.POS: pos.astype(np_float), keys.VEL: vel.astype(np_float)}
    system_data = {keys.DT: np.full(len(pos), dt_fs, dtype=np_float)}
    graph = build_batched_graph(topology.batch_parts(pos, atom_data, system_data))
    return GraphTensors.from_graph(graph, device=device, dtype=dtype)


def model_step(
    model, topology: Topology, pos: np.ndarray, vel: np.ndarray, dt_fs: float, *, device, dtype,
    reference: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One model step of states (B, N, 3): next positions and velocities, float64 numpy.

    The one step that evaluation rollouts and learned MD (``chemnoether.learned_md``) both take;
    ``reference``: (B, k) g values a tailored model conserves (its rollout's start values).
    """
    batch = state_batch(topology, pos, vel, dt_fs, device=device, dtype=dtype)
    prediction = model(batch) if reference is None else model(batch, reference=reference.to(batch.device))
    return (
        prediction.pos.detach().to("cpu", torch.float64).numpy().reshape(pos.shape),
        prediction.vel.detach().to("cpu", torch.float64).numpy().reshape(pos.shape),
    )
