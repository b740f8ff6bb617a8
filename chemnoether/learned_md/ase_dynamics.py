"""``LearnedDynamics``: learned MD as an ASE ``MolecularDynamics``, the one-replica case of ``LearnedMD``.

    dyn = LearnedDynamics.from_run(atoms, "runs/ethanol", ensemble="nvt", temperature_K=300, logfile="-")
    dyn.attach(Trajectory("md.traj", "w", atoms).write, interval=10)
    dyn.run(1000)

Each ``step()`` reads the atoms' positions and velocities (so an observer may change them), runs
one ``LearnedMD.step`` on a batch of one, and writes them back; ``attach``, ``ase.io.Trajectory``
observers and ``MDLogger`` work as with any ASE dynamics. The time step is the model's (it was
trained for one), ``dt_fs * ase.units.fs`` in ASE units. A replica that blows up, or that has no
real rescaling alpha, raises ``SimulationError`` naming the step and the reason; the atoms keep
their last good state. With a companion potential and no calculator on the atoms, a calculator
of that potential is attached, so ``MDLogger`` and trajectories carry its energy and forces.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.md import MolecularDynamics

from chemnoether.errors import SimulationError
from chemnoether.learned_md.engine import LearnedMD
from chemnoether.learned_md.guards import check_start
from chemnoether.learned_md.rescale import CompanionPotential
from chemnoether.learned_md.session import _model_elements, open_learned_md, prepare_starts


class CompanionCalculator(Calculator):
    """An ASE calculator of a companion potential: energy, and forces by autograd."""

    implemented_properties = ("energy", "forces")

    def __init__(self, potential: CompanionPotential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        positions = torch.tensor(self.atoms.get_positions()[None], dtype=torch.float64, requires_grad=True)
        with torch.enable_grad():
            energy = self.potential(positions).sum()
            (gradient,) = torch.autograd.grad(energy, positions)
        self.results = {"energy": float(energy.detach()), "forces": -gradient[0].numpy()}


class LearnedDynamics(MolecularDynamics):
    """ASE dynamics that advance ``atoms`` with ``engine`` (a ``LearnedMD``), one replica.

    Args:
        atoms: the run's molecule in its atom order (checked like any start).
        engine: the batched driver; ``from_run`` builds one from a run directory.
        trajectory, logfile, loginterval, **kwargs: as for ``ase.md.md.MolecularDynamics``.
    """

    def __init__(self, atoms, engine: LearnedMD, *, elements=None, trajectory=None, logfile=None, loginterval: int = 1, **kwargs):
        self.engine = engine
        if atoms.calc is None and engine.potential is not None:
            atoms.calc = CompanionCalculator(engine.potential)
        super().__init__(atoms, engine.dt_fs * units.fs, trajectory=trajectory, logfile=logfile, loginterval=loginterval, **kwargs)
        positions, velocities = self._read_atoms()
        check_start(atoms.get_atomic_numbers(), positions, velocities, elements=elements,
                    expected_numbers=_graph_numbers(engine), where="the Atoms given")
        self.state = engine.start(positions, velocities)

    @classmethod
    def from_run(cls, atoms, run_dir, *, trajectory=None, logfile=None, loginterval: int = 1, **options):
        """Open ``run_dir`` (options of ``open_learned_md``) and check ``atoms`` as a start of it."""

        session = open_learned_md(run_dir, **options)
        _, velocities, _ = prepare_starts(session, atoms, temperature_K=options.get("temperature_K"), seed=options.get("seed", 0))
        atoms.set_velocities(velocities[0] / units.fs)  # the atoms' own, or drawn at temperature_K when they had none
        dynamics = cls(atoms, session.engine, elements=_model_elements(session.engine.model), trajectory=trajectory,
                       logfile=logfile, loginterval=loginterval)
        dynamics.session = session
        return dynamics

    def step(self):
        state = self.state
        state.positions[0], state.velocities[0] = (array[0] for array in self._read_atoms())
        self.engine.step(state)
        if not state.alive[0]:
            stop = state.stopped[-1]
            raise SimulationError(f"learned MD stopped at step {stop['step']}: {stop['reason']}")
        self.atoms.set_positions(state.positions[0])
        self.atoms.set_velocities(state.velocities[0] / units.fs)

    @property
    def alpha(self) -> float:
        """The latest energy-rescaling factor (NaN without rescaling)."""
        return float(self.state.alpha[0])

    def _read_atoms(self) -> tuple[np.ndarray, np.ndarray]:
        positions = self.atoms.get_positions()[None].astype(np.float64)
        velocities = (self.atoms.get_velocities() * units.fs)[None]  # ASE units -> Å/fs
        return positions, velocities

    def _refresh_properties(self):
        if self.atoms.calc is not None:  # without a calculator there are no forces to cache
            super()._refresh_properties()

    def todict(self):
        return {**super().todict(), "md-type": "LearnedDynamics", "dt_fs": self.engine.dt_fs}


def _graph_numbers(engine: LearnedMD) -> np.ndarray:
    topology = engine.topology
    return topology.trajectory_numbers[topology.atom_index]
