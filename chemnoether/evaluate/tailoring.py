"""With and without tailoring, side by side: the same model, the same starts, the same physics.

A run trained with a ``tailoring:`` section holds a ``NoetherTailoredModel``; its evaluation also
scores the model inside it untailored (identity conditioning), and, on request, tailored with an
oracle g (linear / angular momentum, or total MMFF94 energy) in place of the learned one: the
"true H" row of the Noether Networks tables. A plain run can be tailored with an oracle at test
time the same way. Each variant gets the single-jump errors, the rollout diagnostics and the
wall time of its rollouts, so the cost of tailoring is measured beside its effect.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from chemnoether.errors import ConfigError
from chemnoether.evaluate._diagnostics import rollout_diagnostics, single_step_errors
from chemnoether.evaluate._run import OpenedRun

ORACLES = ("linear_momentum", "angular_momentum", "energy")
UNTAILORED, TAILORED = "untailored", "tailored"
COMPARISON_COLUMNS = (
    "variant", "single_step_pos_mse", "rollout_final_mse", "rollout_mean_mse", "final_energy_drift",
    "final_linear_momentum_drift", "final_angular_momentum_drift", "seconds_per_rollout_step", "cost_vs_untailored",
    "final_mse_vs_untailored", "energy_drift_vs_untailored",
)


@dataclasses.dataclass(frozen=True)
class OracleTailoring:
    """Tailor with an oracle g at evaluation time: which one, and the inner optimisation.

    ``steps``, ``lr``, ``optimizer``, ``blocks`` left ``None`` take the run's own tailoring options (a
    meta-tailored run; its learned inner rate included), else 1 step of SGD at lr 0.01.
    """

    oracle: str
    steps: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    blocks: int | None = None

    def __post_init__(self):
        if self.oracle not in ORACLES:
            raise ConfigError(f"oracle must be one of {ORACLES}, got {self.oracle!r}")


def tailoring_variants(run: OpenedRun, oracle: OracleTailoring | None = None) -> dict:
    """``{variant name: model}`` to compare; empty when there is nothing to compare.

    A tailored run gives ``"tailored"`` (the run's model) and ``"untailored"``; ``oracle`` adds
    ``"oracle_<name>"`` (to a plain run too, beside its ``"untailored"`` model).
    """
    from chemnoether.noether import NoetherTailoredModel, TailoringOptions  # noqa: PLC0415
    from chemnoether.noether.recipe import g_from_spec  # noqa: PLC0415

    model = run.model
    variants = {}
    if isinstance(model, NoetherTailoredModel):
        variants = {TAILORED: model, UNTAILORED: model.model}
        base, options, anchor = model.model, dataclasses.replace(model.options, lr=model.inner_lr), model.anchor
    else:
        base, options, anchor = model, TailoringOptions(), "start"
    if oracle is None:
        return variants
    if not hasattr(base, "conditioning_sizes"):
        raise ConfigError(f"a {run.model_kind!r} model has no conditioning parameters: it cannot be tailored")
    given = {name: getattr(oracle, name) for name in ("steps", "lr", "optimizer", "blocks") if getattr(oracle, name) is not None}
    options = dataclasses.replace(options, **given, create_graph=False)
    if "steps" in given:
        options = dataclasses.replace(options, eval_steps=None)
    spec = {"kind": oracle.oracle}
    if oracle.oracle == "energy":
        spec["smiles"] = _all_atom_smiles(run)
    g = g_from_spec(spec).to(run.device)
    tailored = NoetherTailoredModel(base, g, options, anchor=anchor).eval()
    return {UNTAILORED: base, **{k: v for k, v in variants.items() if k != UNTAILORED}, f"oracle_{oracle.oracle}": tailored}


def variant_row(name: str, single: pd.DataFrame, table: pd.DataFrame, summary: dict, seconds: float) -> dict:
    """The comparison row of one variant from its single-jump table and rollout results."""
    return {
        "variant": name,
        "single_step_pos_mse": float(single["pos_mse"].mean()),
        "rollout_final_mse": summary["final_mse"],
        "rollout_mean_mse": summary["mean_mse"],
        "final_energy_drift": table["energy_drift"].iloc[-1],
        "final_linear_momentum_drift": summary["final_linear_momentum_drift"],
        "final_angular_momentum_drift": summary["final_angular_momentum_drift"],
        "seconds_per_rollout_step": seconds / summary["steps"],
    }


def score_variant(run: OpenedRun, model, indices: np.ndarray, batch_size: int, starts: np.ndarray, steps: int, potential):
    """``(single-jump table, rollout table, rollout summary, rollout seconds)`` of ``model`` on ``run``."""
    variant_run = dataclasses.replace(run, model=model.eval())
    single = single_step_errors(variant_run, indices, batch_size)
    began = time.perf_counter()
    table, summary = rollout_diagnostics(variant_run, starts, steps, potential)
    return single, table, summary, time.perf_counter() - began


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """``COMPARISON_COLUMNS``: the rows, with cost and effect as ratios to the untailored row."""
    comparison = pd.DataFrame(rows)
    plain = comparison.set_index("variant").loc[UNTAILORED]
    comparison["cost_vs_untailored"] = comparison["seconds_per_rollout_step"] / plain["seconds_per_rollout_step"]
    comparison["final_mse_vs_untailored"] = comparison["rollout_final_mse"] / plain["rollout_final_mse"]
    comparison["energy_drift_vs_untailored"] = comparison["final_energy_drift"] / plain["final_energy_drift"]
    return comparison[list(COMPARISON_COLUMNS)]


def _all_atom_smiles(run: OpenedRun) -> str:
    smiles = run.trajectory.metadata.get("smiles")
    if not smiles:
        raise ConfigError("the energy oracle needs the trajectory's molecule: its metadata has no 'smiles'")
    if run.topology.heavy_atoms:
        raise ConfigError("the energy oracle needs every atom, hydrogens included; this run's graph has heavy atoms only")
    return smiles
