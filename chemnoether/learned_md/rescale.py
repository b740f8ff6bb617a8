"""FlashMD-style energy rescaling against a companion potential, and the MMFF94 companion.

A learned step does not conserve energy by construction. After each step the velocities about the
centre of mass are scaled by ``alpha`` so that the total energy under a companion potential V is
the reference again (Bigi et al., FlashMD, 2025)::

    alpha = sqrt(1 - (V' + K' - E_ref) / K')

with K' the predicted kinetic energy. Here K' is the kinetic energy about the centre of mass and
the centre-of-mass part is left alone, so the learned step's exact linear momentum survives the
rescaling; ``V' + K_com + alpha² K'_int = E_ref`` holds exactly. When ``V' + K_com`` already
exceeds ``E_ref`` no real alpha exists: the replica stops with that reason (``SimulationError``
in the one-replica ASE driver).

A companion potential is any callable ``positions (B, N, 3) float64 tensor, Å -> (B,) eV``: the
MMFF94 energy (``MMFFCompanion``), the run's learned energy head (``LearnedCompanion``), ...
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from chemnoether.core.units import kinetic_energy
from chemnoether.errors import ConfigError, SimulationError
from chemnoether.evaluate.rollout import state_batch
from chemnoether.learned_md._physics import split_com
from chemnoether.simulation.generate import prepare_molecule
from chemnoether.simulation.torch_mmff import MMFFTerms, mmff_energy

CompanionPotential = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def potential_energies(potential: CompanionPotential, positions: np.ndarray) -> np.ndarray:
    """(B,) eV of ``potential`` at positions (B, N, 3) Å, as float64 numpy."""
    values = potential(torch.as_tensor(positions, dtype=torch.float64))
    values = torch.as_tensor(values).detach().to("cpu", torch.float64).reshape(-1).numpy()
    if values.shape != (len(positions),):
        raise ConfigError(
            f"the companion potential returned {values.shape[0]} energies for {len(positions)} replicas; "
            "it must map positions (B, N, 3) to one energy per replica, shape (B,)"
        )
    return values


def rescale_to_energy(
    masses: np.ndarray, velocities: np.ndarray, potential_energy: np.ndarray, energy_reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """``(velocities, alpha, reasons)``: velocities (B, N, 3) scaled about the centre of mass so that
    ``V + K = energy_reference`` per replica; ``reasons[b]`` says why replica b has no real alpha
    (its velocities and alpha are then returned unchanged / NaN)."""
    com, internal = split_com(masses, velocities)
    k_com = kinetic_energy(masses, np.broadcast_to(com, velocities.shape))
    k_int = kinetic_energy(masses, internal)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha_sq = (energy_reference - potential_energy - k_com) / k_int
    ok = np.isfinite(alpha_sq) & (alpha_sq > 0)
    alpha = np.where(ok, np.sqrt(np.where(ok, alpha_sq, 1.0)), np.nan)
    scaled = np.where(ok[:, None, None], com + alpha[:, None, None] * internal, velocities)
    reasons = [
        None if good else (
            f"energy rescaling: no real alpha (V' = {v:.6g} eV plus centre-of-mass K = {kc:.3g} eV against "
            f"E_ref = {e:.6g} eV, K' = {k:.3g} eV); the learned step left the energy surface"
        )
        for good, v, kc, e, k in zip(ok, potential_energy, k_com, energy_reference, k_int, strict=True)
    ]
    return scaled, alpha, reasons


class MMFFCompanion:
    """MMFF94 (``chemnoether.simulation.torch_mmff``) as a companion potential for one molecule.

    ``smiles`` is embedded with explicit hydrogens in RDKit's order; ``atomic_numbers`` (the
    system's) must be that order, or a ``ConfigError`` names the first atom that differs.
    """

    def __init__(self, smiles: str, atomic_numbers: np.ndarray | None = None):
        mol = prepare_molecule(smiles)
        numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()])
        if atomic_numbers is not None and not np.array_equal(numbers, np.asarray(atomic_numbers)):
            raise ConfigError(
                f"MMFF94 companion: SMILES {smiles!r} with hydrogens has atoms {numbers.tolist()}, the system "
                f"{np.asarray(atomic_numbers).tolist()}; MMFF needs every atom in RDKit's order (heavy-atom-only "
                "models cannot be rescaled with MMFF)"
            )
        self.smiles = smiles
        self.terms = MMFFTerms.from_mol(mol).to("cpu", torch.float64)

    def __call__(self, positions: torch.Tensor) -> torch.Tensor:
        terms = self.terms
        if terms.device != positions.device or terms.dtype != positions.dtype:
            terms = self.terms = terms.to(positions.device, positions.dtype)
        return mmff_energy(terms, positions)


class LearnedCompanion:
    """A learned potential energy as the companion: no reference force field at run time.

    ``energy_fn(batch) -> (B,) eV`` is either the run's energy head (``for_energy_head``: FlashMD
    rescales against a learned energy trained beside the dynamics, ``model.energy_head: true``) or
    the potential ``V_phi`` of the run's anchored g (``noether.anchored``, fitted without a single
    energy label by ``chemnoether md fit-g``), so the projected or rescaled quantity is a learned
    conserved quantity. ``owner``: the module the function belongs to (its dtype is used).
    """

    def __init__(self, energy_fn, owner: torch.nn.Module, topology, dt_fs: float, device="cpu"):
        self.energy_fn, self.topology, self.dt_fs, self.device = energy_fn, topology, dt_fs, device
        self.dtype = next(owner.parameters()).dtype

    @classmethod
    def for_energy_head(cls, model, topology, dt_fs: float, device="cpu") -> LearnedCompanion:
        if getattr(model, "energy_head", None) is None:
            raise ConfigError(
                "rescaling against the learned energy needs a model with an energy head: train it with "
                "model.energy_head: true and train.loss_weights.forces > 0, or rescale against mmff"
            )
        return cls(model.potential_energy, model, topology, dt_fs, device)

    def __call__(self, positions: torch.Tensor) -> torch.Tensor:
        pos = positions.detach().to("cpu", torch.float64).numpy()
        with torch.no_grad():
            energy = self.energy_fn(self._batch(pos))
        return energy.detach().reshape(-1).to(positions.device, torch.float64)

    def energy_and_gradient(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V (B,), dV/dx (B, N, 3))`` (for the projection)."""
        from chemnoether.models.energy_head import energy_forces  # lazy: keeps e3nn out of `chemnoether --help`

        energy, forces = energy_forces(self.energy_fn, self._batch(np.asarray(positions, dtype=np.float64)))
        return energy.detach().reshape(-1).to(torch.float64), -forces.detach().to(torch.float64).reshape(np.shape(positions))

    def _batch(self, positions: np.ndarray):
        return state_batch(self.topology, positions, np.zeros_like(positions), self.dt_fs, device=self.device, dtype=self.dtype)


def alpha_error(replica: int, step: int, reason: str) -> SimulationError:
    """The one-replica form of a failed rescaling (or any other stop), for the ASE driver."""
    return SimulationError(f"learned MD stopped at step {step} (replica {replica}): {reason}")
