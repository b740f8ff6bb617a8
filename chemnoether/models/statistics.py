"""Constants a model is built with, measured on training data: neighbour count and output scales."""

from __future__ import annotations

from collections.abc import Iterable

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.models.base import checked_edges, select_edges, time_step_per_atom


def dataset_statistics(batches: Iterable[GraphTensors], edges: str = "near", cutoff: float | None = None) -> dict[str, float]:
    """Options for ``EquivariantDynamics`` (and ``velocity_scale`` for EGNN) from training batches.

    Returns ``avg_num_neighbors`` (edges per atom, counting only edges shorter than ``cutoff`` if
    given), ``velocity_scale`` (RMS velocity component, Å/fs), ``dpos_scale`` (RMS component of
    ``next_pos - pos - vel * dt``, Å) and ``dvel_scale`` (RMS component of ``next_vel - vel``, Å/fs),
    all as plain floats, to pass as keyword arguments. Use training data only.
    """
    checked_edges(edges)
    atoms = edge_count = 0
    sums = {"velocity_scale": 0.0, "dpos_scale": 0.0, "dvel_scale": 0.0}
    for batch in batches:
        atom = batch.atom
        missing = [k for k in (keys.POS, keys.VEL, keys.NEXT_POS, keys.NEXT_VEL) if k not in atom]
        if missing:
            raise GraphFormatError(f"dataset_statistics needs atom fields {missing}; pass PairWindows batches")
        pos, vel = atom[keys.POS].double(), atom[keys.VEL].double()
        dt = time_step_per_atom(batch, pos)
        index, shift = select_edges(batch, edges)
        if cutoff is not None:
            lengths = (pos[index[1]] - pos[index[0]] + shift.double()).norm(dim=1)
            edge_count += int((lengths < cutoff).sum())
        else:
            edge_count += index.shape[1]
        atoms += pos.shape[0]
        sums["velocity_scale"] += float(vel.pow(2).sum())
        sums["dpos_scale"] += float((atom[keys.NEXT_POS].double() - pos - vel * dt).pow(2).sum())
        sums["dvel_scale"] += float((atom[keys.NEXT_VEL].double() - vel).pow(2).sum())
    if atoms == 0:
        raise ConfigError("dataset_statistics got no atoms; pass at least one non-empty batch")
    stats = {"avg_num_neighbors": edge_count / atoms}
    stats.update({name: (total / (3 * atoms)) ** 0.5 for name, total in sums.items()})
    # a zero scale (a frozen system) would divide by zero; fall back to the defaults' order
    return {name: value if value > 0 else 1.0 for name, value in stats.items()}
