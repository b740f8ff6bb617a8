"""What every dynamics model shares: the ``Prediction``, the ``DynamicsModel`` interface, edges and momentum.

A dynamics model maps a batch (``GraphTensors``) at time t to the state at t + dt, where ``dt``
(fs) is a per-graph value (``batch.system[keys.DT]``, shape (B,)). It reads ``atom[POS]``,
``atom[VEL]``, ``atom[MASSES]``, ``atom[ATOMIC_NUMBERS]``, ``system[DT]`` and the edges chosen by
its ``edges`` option, and never the targets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from chemnoether import keys
from chemnoether.core.ops import pool_atoms
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ConfigError, GraphFormatError

EDGE_CHOICES = ("near", "bond", "both")
INPUT_ATOM_KEYS = (keys.POS, keys.VEL, keys.MASSES, keys.ATOMIC_NUMBERS)


@dataclass
class Prediction:
    """The predicted state at t + dt: ``pos`` (N, 3) in Å and ``vel`` (N, 3) in Å/fs."""

    pos: torch.Tensor
    vel: torch.Tensor


class DynamicsModel(torch.nn.Module):
    """Base of every dynamics model: ``forward(batch: GraphTensors) -> Prediction``.

    Attributes:
        kind: the name ``builders.build_model`` knows the model by.
        trainable: ``False`` for models with nothing to learn (``ConstantVelocity``), so that a
            training loop may skip the optimiser.
        config: the keyword arguments that rebuild the model, JSON-serialisable, defaults filled
            in: ``build_model(model.kind, **model.config)`` gives the same architecture.
    """

    kind: ClassVar[str] = ""
    trainable: ClassVar[bool] = True

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        try:
            # a round trip through JSON: what a checkpoint will store is exactly what we keep
            self._config = json.loads(json.dumps(dict(config)))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{type(self).__name__} options must be JSON-serialisable: {err}") from err

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the builder keyword arguments (edit it freely)."""
        return json.loads(json.dumps(self._config))

    def forward(self, batch: GraphTensors) -> Prediction:  # pragma: no cover - interface
        raise NotImplementedError

    def check_inputs(self, batch: GraphTensors) -> None:
        """Raise ``GraphFormatError`` naming any input field the batch lacks."""
        missing = [key for key in INPUT_ATOM_KEYS if key not in batch.atom]
        missing += [f"system {keys.DT}"] if keys.DT not in batch.system else []
        if missing:
            raise GraphFormatError(
                f"{type(self).__name__} needs atom fields {list(INPUT_ATOM_KEYS)} and system {keys.DT!r}; "
                f"the batch lacks {missing} (windows from chemnoether.data.PairWindows carry them all)"
            )


def checked_edges(edges: str) -> str:
    if edges not in EDGE_CHOICES:
        raise ConfigError(f"edges must be one of {EDGE_CHOICES}, got {edges!r}")
    return edges


def select_edges(batch: GraphTensors, edges: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge index (2, E) as ``[src, dst]`` and periodic shifts (E, 3) for ``edges`` ("near", "bond", "both").

    ``"both"`` concatenates the two sets: a bonded pair that is also a near pair then sends two
    messages, which lets the model tell bonded from non-bonded neighbours. Bonds have no shift.
    """
    pos = batch.atom[keys.POS]
    parts = []
    if edges in ("near", "both"):
        shift = batch.near.get(keys.EDGE_SHIFT)
        if shift is None:
            shift = pos.new_zeros((batch.near_index.shape[1], 3))
        parts.append((batch.near_index, shift.to(pos.dtype)))
    if edges in ("bond", "both"):
        parts.append((batch.bond_index, pos.new_zeros((batch.bond_index.shape[1], 3))))
    if not parts:
        raise ConfigError(f"edges must be one of {EDGE_CHOICES}, got {edges!r}")
    if len(parts) == 1:
        return parts[0]
    return torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts], dim=0)


def time_step_per_atom(batch: GraphTensors, like: torch.Tensor) -> torch.Tensor:
    """(N, 1) time step of each atom's graph, fs, in ``like``'s dtype."""
    dt = batch.system[keys.DT].reshape(-1)
    if dt.shape[0] != batch.num_graphs:
        raise GraphFormatError(
            f"system {keys.DT!r} must hold one value per graph ({batch.num_graphs}), "
            f"got shape {tuple(batch.system[keys.DT].shape)}"
        )
    return dt.to(like.dtype).index_select(0, batch.atom_graph).unsqueeze(1)


def remove_mass_weighted_mean(
    change: torch.Tensor, masses: torch.Tensor, atom_graph: torch.Tensor, num_graphs: int
) -> torch.Tensor:
    """``change`` (N, 3) minus its per-graph mass-weighted mean, so that ``sum_i m_i change_i = 0`` per graph.

    Applied to the predicted velocity change it conserves linear momentum exactly; applied to the
    displacement beyond ``vel * dt`` it makes the centre of mass move by exactly ``P dt / M``. The
    projection is linear and built from invariants, so it keeps every equivariance.
    """
    m = masses.to(change.dtype).reshape(-1, 1)
    total_mass = pool_atoms(m, atom_graph, num_graphs)
    momentum = pool_atoms(m * change, atom_graph, num_graphs)
    return change - (momentum / total_mass).index_select(0, atom_graph)
