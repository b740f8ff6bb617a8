"""Learned molecular dynamics: a trained next-state model run as MD (docs/design.md section 11).

* ``LearnedMD``: the batched engine; replicas of one molecule advance together, NVE or NVT by
  thermostat half steps around the learned step, with optional FlashMD energy rescaling against
  a companion potential and optional Noether tailoring; a blown-up replica stops alone.
* ``LearnedDynamics``: the same engine as an ASE ``MolecularDynamics`` (one replica).
* ``run_learned_md``: starts (Atoms, file, SMILES, ``test:K``) to a chunked, resumable output folder.
* ``open_learned_md`` / ``prepare_starts``: a run and a checked start, for your own loops.
"""

from chemnoether.learned_md.ase_dynamics import CompanionCalculator, LearnedDynamics
from chemnoether.learned_md.engine import LearnedMD, ReplicaState
from chemnoether.learned_md.output import LOG_COLUMNS, read_frames
from chemnoether.learned_md.rescale import MMFFCompanion, rescale_to_energy
from chemnoether.learned_md.run import LearnedMDResult, run_learned_md
from chemnoether.learned_md.session import ENSEMBLES, LearnedMDSession, open_learned_md, prepare_starts
from chemnoether.learned_md.thermostats import THERMOSTATS, CSVRHalfStep, LangevinHalfStep, make_thermostat

__all__ = [
    "ENSEMBLES",
    "LOG_COLUMNS",
    "THERMOSTATS",
    "CSVRHalfStep",
    "CompanionCalculator",
    "LangevinHalfStep",
    "LearnedDynamics",
    "LearnedMD",
    "LearnedMDResult",
    "LearnedMDSession",
    "MMFFCompanion",
    "ReplicaState",
    "make_thermostat",
    "open_learned_md",
    "prepare_starts",
    "read_frames",
    "rescale_to_energy",
    "run_learned_md",
]
