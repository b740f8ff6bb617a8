"""A trained run made ready for learned MD: its model (tailored on request), graph, masses, guards.

``open_learned_md(run_dir, ...)`` reopens the run as evaluation does (``evaluate._run.open_run``:
model, recipe, the test windows the run never saw) and builds the ``LearnedMD`` engine with the
ensemble, thermostat, companion potential and rescaling asked for. ``prepare_starts`` resolves and
checks a start against that run. Both the batched driver (``run_learned_md``) and the ASE class
(``LearnedDynamics.from_run``) go through here, so they cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from chemnoether.errors import ConfigError
from chemnoether.evaluate.anchored_g import anchored_g_of
from chemnoether.evaluate.physicality import strain_edges
from chemnoether.evaluate.tailoring import TestTimeTailoring, tailoring_variants
from chemnoether.learned_md.engine import LearnedMD
from chemnoether.learned_md.guards import bond_lengths_of, check_start, training_distance, warn_if_far
from chemnoether.learned_md.rescale import LearnedCompanion, MMFFCompanion
from chemnoether.learned_md.starts import resolve_start
from chemnoether.learned_md.thermostats import THERMOSTATS, make_thermostat
from chemnoether.train.run_dir import open_run

ENSEMBLES = ("nve", "nvt")
POTENTIAL_CHOICES = ("auto", "mmff", "learned", "anchored", "none")


@dataclass
class LearnedMDSession:
    """The opened run and the engine built on it."""

    run: object  # OpenedRun
    engine: LearnedMD
    settings: dict  # what a resumed run must share (JSON-ready)

    @property
    def atomic_numbers(self) -> np.ndarray:
        return self.run.trajectory.atomic_numbers[self.run.topology.atom_index]


def open_learned_md(
    run_dir: str | os.PathLike,
    *,
    ensemble: str = "nve",
    thermostat: str = "langevin",
    temperature_K: float | None = None,
    friction_per_fs: float = 0.01,
    tau_fs: float = 100.0,
    potential="auto",
    rescale: bool | str = False,
    tailor=None,
    seed: int = 0,
    which: str = "best",
    device: str = "cpu",
) -> LearnedMDSession:
    """The run of ``run_dir`` and a ``LearnedMD`` engine for it.

    Args:
        ensemble: ``"nve"`` or ``"nvt"`` (``thermostat`` half steps around each learned step at
            ``temperature_K``: ``"langevin"`` with ``friction_per_fs``, or ``"csvr"`` with ``tau_fs``).
        potential: the companion potential: ``"auto"`` (MMFF94 when the run's molecule is known with
            all its atoms, else none), ``"mmff"``, ``"learned"`` (the run's own energy head,
            ``model.energy_head: true``), ``"anchored"`` (the potential of the run's anchored g,
            fitted without energy labels: ``chemnoether md fit-g``), ``"none"``, or a callable
            positions (B, N, 3) Å -> (B,) eV. Its energies go to the log.
        rescale: keep the total energy under ``potential``: ``True`` / ``"velocities"`` (FlashMD
            rescaling, ``rescale``) or ``"project"`` (the energy-shell projection, ``projection``).
        tailor: ``None``, a test-time g name (``linear_momentum``, ``angular_momentum``, ``energy``,
            ``learned``) or a ``TestTimeTailoring``: every step is tailored with
            ``chemnoether.noether.tailor`` (a meta-tailored run tailors anyway).
        seed: seed of the thermostat noise and of drawn velocities.
    """

    _check_options(ensemble, thermostat, temperature_K, potential, seed)
    run = open_run(run_dir, which=which, split="test", device=device)
    model = _tailored(run, tailor) if tailor is not None else run.model
    masses = run.trajectory.masses[run.topology.atom_index]
    companion = _companion(run, potential, rescale, model)
    bath = make_thermostat(thermostat, temperature_K, run.step_fs, friction_per_fs=friction_per_fs, tau_fs=tau_fs) \
        if ensemble == "nvt" else None
    bonds, _ = strain_edges(run)
    engine = LearnedMD(
        model, run.topology, masses, run.step_fs, bonds=bonds, thermostat=bath, potential=companion,
        rescale=rescale, rng=np.random.default_rng(seed), device=run.device,
    )
    settings = {
        "run_dir": str(run.run_dir.resolve()), "checkpoint": run.checkpoint.name, "dt_fs": run.step_fs,
        "ensemble": ensemble, "thermostat": thermostat if ensemble == "nvt" else None,
        "temperature_K": temperature_K, "friction_per_fs": friction_per_fs if bath is not None and thermostat == "langevin" else None,
        "tau_fs": tau_fs if bath is not None and thermostat == "csvr" else None,
        "potential": potential if isinstance(potential, str) else f"callable {type(potential).__name__}",
        "rescale": rescale if isinstance(rescale, str) else bool(rescale), "tailor": None if tailor is None else str(getattr(tailor, "g", tailor)), "seed": int(seed),
    }
    return LearnedMDSession(run, engine, settings)


def prepare_starts(session: LearnedMDSession, start, *, replicas: int = 1, temperature_K: float | None = None, seed: int = 0):
    """Checked ``(positions, velocities, description)`` of the start (``starts.resolve_start``).

    Velocities are drawn from their own generator (seeded with ``seed``), so the thermostat's
    stream is the same whatever the start.
    """
    run, engine = session.run, session.engine
    rng = np.random.default_rng([seed, 1])
    positions, velocities, numbers, description = resolve_start(
        start, run, replicas=replicas, temperature_K=temperature_K, rng=rng, seed=seed
    )
    data_lengths = bond_lengths_of(run.trajectory.positions[0, run.topology.atom_index], engine.bonds)
    check_start(
        numbers, positions, velocities, elements=_model_elements(engine.model), expected_numbers=session.atomic_numbers,
        bonds=engine.bonds, bond_lengths=data_lengths, where=description,
    )
    distance, scale = training_distance(positions, run.trajectory.positions[:, run.topology.atom_index])
    warn_if_far(distance, scale, description)
    return positions, velocities, description


def _model_elements(model) -> list[int] | None:
    inner = getattr(model, "model", model)  # a tailored model wraps the dynamics model
    config = getattr(inner, "config", None) or {}
    return config.get("elements")


def _check_options(ensemble, thermostat, temperature_K, potential, seed) -> None:
    if ensemble not in ENSEMBLES:
        raise ConfigError(f"ensemble={ensemble!r}: choose one of {', '.join(ENSEMBLES)}")
    if thermostat not in THERMOSTATS:
        raise ConfigError(f"thermostat={thermostat!r}: choose one of {', '.join(THERMOSTATS)}")
    if ensemble == "nvt" and temperature_K is None:
        raise ConfigError("ensemble='nvt' needs temperature_K (--temperature), the thermostat's target in K")
    if isinstance(potential, str) and potential not in POTENTIAL_CHOICES:
        raise ConfigError(f"potential={potential!r}: choose one of {', '.join(POTENTIAL_CHOICES)} or pass a callable")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a whole number >= 0")


def _companion(run, potential, rescale: bool, model):
    if callable(potential):
        return potential
    if potential == "learned":
        inner = getattr(model, "model", model)  # a tailored wrapper's dynamics model carries the head
        return LearnedCompanion.for_energy_head(inner, run.topology, run.step_fs, run.device)
    if potential == "anchored":  # V_phi of the run's anchored g: learned without energy labels
        g = anchored_g_of(run)
        return LearnedCompanion(g.potential_energy, g, run.topology, run.step_fs, run.device)
    if potential == "none":
        if rescale:
            raise ConfigError("rescale needs a companion potential; pass potential='mmff' or a callable, not 'none'")
        return None
    smiles = run.trajectory.metadata.get("smiles")
    problem = None
    if not smiles:
        problem = "the run's trajectory records no SMILES"
    elif run.topology.heavy_atoms:
        problem = "the run's graph has heavy atoms only, MMFF94 needs every atom"
    if problem is None:
        return MMFFCompanion(smiles, run.trajectory.atomic_numbers)
    if potential == "mmff" or rescale:
        raise ConfigError(f"no MMFF94 companion potential for this run: {problem}; pass a callable potential")
    return None  # "auto": energies are not logged


def _tailored(run, tailor):
    options = tailor if isinstance(tailor, TestTimeTailoring) else TestTimeTailoring(str(tailor))
    return tailoring_variants(run, options)[options.variant]
