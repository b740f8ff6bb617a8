"""``LearnedMD``: many replicas of one molecule advanced together by a trained next-state model.

One step of every running replica (replicas are a batch, one model call for all of them)::

    [thermostat half step]  ->  learned NVE step  ->  [energy rescaling or projection]  ->  [thermostat half step]

then the blow-up guard (``guards.replica_failures``, the rollouts' physicality check). A replica that fails (blows up, or has no
real rescaling alpha) keeps its last good state, is marked stopped with a status row
``(replica, step, reason)``, and is left out of every later model call; the others go on.

The learned step is the model's own forward on the batch ``Topology.batch_parts`` builds (so a
radius graph follows the atoms, as in ``chemnoether.evaluate.rollout``). A tailored model
(``NoetherTailoredModel``, ``anchor="start"``) keeps g at its value at each replica's start in
NVE; under a thermostat the energy is not conserved, so g is anchored to the state each step
starts from instead. The one-replica ASE class (``LearnedDynamics``) is this same code with B = 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.data.topology import Topology
from chemnoether.errors import ConfigError
from chemnoether.evaluate.rollout import model_step, state_batch
from chemnoether.core.units import kinetic_energy
from chemnoether.learned_md.guards import replica_failures
from chemnoether.learned_md.projection import project_to_energy
from chemnoether.learned_md.rescale import CompanionPotential, potential_energies, rescale_to_energy


@dataclass
class ReplicaState:
    """Where B replicas stand after ``step`` steps (float64 numpy, Å and Å/fs).

    ``energy_reference``: the total energy rescaling restores (NaN without rescaling);
    ``potential_energy``: V of the companion potential at ``positions`` (NaN without one);
    ``alpha``: the latest rescaling factor (NaN before the first, or without rescaling);
    ``stopped``: one dict ``{"replica", "step", "reason"}`` per replica that has stopped.
    """

    positions: np.ndarray
    velocities: np.ndarray
    step: int
    alive: np.ndarray
    energy_reference: np.ndarray
    potential_energy: np.ndarray
    alpha: np.ndarray
    start_positions: np.ndarray
    g_reference: torch.Tensor | None = None
    stopped: list[dict] = field(default_factory=list)

    @property
    def n_replicas(self) -> int:
        return len(self.positions)


class LearnedMD:
    """Advance replicas of the ``topology``'s molecule with ``model`` steps of ``dt_fs``.

    Args:
        model: a trained next-state model (``forward(GraphTensors) -> Prediction``).
        topology: the graph of the molecule (the run's own; ``OpenedRun.topology``).
        masses: (N,) amu of the graph's atoms (the ones the training data used).
        dt_fs: the model's time step (one window: ``delta * dt_fs`` of its data).
        bonds: ``(src, dst)`` atom pairs whose strain marks a blow-up (``evaluate`` picks them).
        thermostat: ``None`` (NVE) or a half-step callable (``thermostats``).
        potential: a companion potential (``rescale``); energies are logged when given.
        rescale: keep the total energy under ``potential`` after each learned step: ``True`` or
            ``"velocities"`` scales the velocities (``rescale``, FlashMD); ``"project"`` does the
            same and, for a replica with no real alpha, moves positions and velocities onto the
            energy shell instead (``projection``).
        rng: the generator of the thermostat's noise.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        topology: Topology,
        masses: np.ndarray,
        dt_fs: float,
        *,
        bonds: tuple[np.ndarray, np.ndarray],
        thermostat=None,
        potential: CompanionPotential | None = None,
        rescale: bool | str = False,
        rng: np.random.Generator | None = None,
        device: str | torch.device = "cpu",
    ):
        if not (isinstance(rescale, bool) or rescale in ("velocities", "project")):
            raise ConfigError(f"rescale={rescale!r}: choose False, True (= 'velocities') or 'project'")
        if rescale and potential is None:
            raise ConfigError("rescale=True needs a companion potential (e.g. MMFFCompanion(smiles)) to rescale against")
        if not dt_fs > 0:
            raise ConfigError(f"dt_fs={dt_fs!r} must be positive")
        self.model = model.eval()
        self.topology = topology
        self.masses = np.asarray(masses, dtype=np.float64)
        self.dt_fs = float(dt_fs)
        self.bonds = (np.asarray(bonds[0], dtype=np.int64), np.asarray(bonds[1], dtype=np.int64))
        self.atomic_numbers = np.asarray(topology.template.atom_data[keys.ATOMIC_NUMBERS])
        self.thermostat = thermostat
        self.potential = potential
        self.rescale = bool(rescale)
        self.projection = rescale == "project"
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.device = torch.device(device)
        self.dtype = next((p.dtype for p in model.parameters()), torch.float32)
        self.anchored = getattr(model, "anchor", None) == "start" and thermostat is None

    @property
    def num_atoms(self) -> int:
        return self.topology.num_atoms

    def start(self, positions: np.ndarray, velocities: np.ndarray, step: int = 0) -> ReplicaState:
        """The state of replicas starting at positions / velocities (B, N, 3) (checked by the caller)."""
        positions = np.array(positions, dtype=np.float64)
        velocities = np.array(velocities, dtype=np.float64)
        if positions.ndim != 3 or positions.shape[1:] != (self.num_atoms, 3) or velocities.shape != positions.shape:
            raise ConfigError(
                f"replica starts must be (B, {self.num_atoms}, 3) positions and velocities; got {positions.shape} and {velocities.shape}"
            )
        count = len(positions)
        nan = np.full(count, np.nan)
        potential = potential_energies(self.potential, positions) if self.potential is not None else nan.copy()
        reference = potential + kinetic_energy(self.masses, velocities) if self.rescale else nan.copy()
        g_reference = None
        if self.anchored:
            with torch.no_grad():
                g_reference = self.model.g(self._batch(positions, velocities)).reshape(count, -1).detach()
        return ReplicaState(
            positions=positions, velocities=velocities, step=step, alive=np.ones(count, dtype=bool),
            energy_reference=reference, potential_energy=potential, alpha=nan.copy(),
            start_positions=positions.copy(),
            g_reference=g_reference,
        )

    def step(self, state: ReplicaState) -> ReplicaState:
        """Advance every running replica of ``state`` by one step (in place; returned for chaining)."""
        idx = np.flatnonzero(state.alive)
        next_step = state.step + 1
        if not idx.size:
            state.step = next_step
            return state
        vel = state.velocities[idx]
        reference = state.energy_reference[idx]
        if self.thermostat is not None:
            vel = self.thermostat(vel, self.masses, self.rng)
            if self.rescale:  # the thermostat changed the energy; the learned step must keep the new one
                reference = state.potential_energy[idx] + kinetic_energy(self.masses, vel)
        g_rows = state.g_reference[torch.as_tensor(idx)] if state.g_reference is not None else None
        new_pos, new_vel = self.model_step(state.positions[idx], vel, g_rows)
        reasons: list[str | None] = [None] * len(idx)
        finite = np.isfinite(new_pos).all(axis=(1, 2)) & np.isfinite(new_vel).all(axis=(1, 2))
        potential = np.full(len(idx), np.nan)
        alpha = np.full(len(idx), np.nan)
        if self.potential is not None and finite.any():
            potential[finite] = potential_energies(self.potential, new_pos[finite])
            if self.rescale:
                rows = np.flatnonzero(finite)
                new_vel[rows], alpha[rows], why = rescale_to_energy(self.masses, new_vel[rows], potential[rows], reference[rows])
                stuck_at = [i for i, reason in enumerate(why) if reason is not None] if self.projection else []
                if stuck_at:  # no real alpha: only moving the positions too can reach the shell
                    stuck = rows[stuck_at]
                    new_pos[stuck], new_vel[stuck], potential[stuck], alpha[stuck], why_stuck = project_to_energy(
                        self.masses, new_pos[stuck], new_vel[stuck], reference[stuck], self.potential, self.dt_fs
                    )
                    for i, reason in zip(stuck_at, why_stuck, strict=True):
                        why[i] = reason
                for row, reason in zip(rows, why, strict=True):
                    reasons[row] = reason
        if self.thermostat is not None:
            new_vel = self.thermostat(new_vel, self.masses, self.rng)
        failures = replica_failures(state.start_positions[idx], new_pos, new_vel, self.bonds, self.atomic_numbers)
        for row, reason in enumerate(failures):
            reasons[row] = reasons[row] or reason
        good = np.array([reason is None for reason in reasons])
        keep = idx[good]
        state.positions[keep], state.velocities[keep] = new_pos[good], new_vel[good]
        state.potential_energy[keep], state.alpha[keep] = potential[good], alpha[good]
        if self.rescale:
            state.energy_reference[keep] = reference[good]
        for row in np.flatnonzero(~good):
            state.alive[idx[row]] = False
            state.stopped.append({"replica": int(idx[row]), "step": next_step, "reason": reasons[row]})
        state.step = next_step
        return state

    @torch.no_grad()
    def model_step(self, positions: np.ndarray, velocities: np.ndarray, g_reference: torch.Tensor | None = None):
        """The model's next positions and velocities (B, N, 3) float64: evaluation's own step."""
        return model_step(self.model, self.topology, positions, velocities, self.dt_fs,
                          device=self.device, dtype=self.dtype, reference=g_reference)

    def _batch(self, positions: np.ndarray, velocities: np.ndarray) -> GraphTensors:
        return state_batch(self.topology, positions, velocities, self.dt_fs, device=self.device, dtype=self.dtype)
