"""With and without tailoring, side by side: the same model, the same starts, the same physics.

A run trained with a ``tailoring:`` section holds a ``NoetherTailoredModel``; its evaluation also
scores the model inside it untailored (identity conditioning), and, on request, tailored at test
time with another g: an oracle (linear / angular momentum, or total MMFF94 energy: the "true H"
row of the Noether Networks tables), or a learned g pre-trained on the run's training windows by
the conservation contrast (``chemnoether.noether.pretrain``). A plain run can be tailored at test
time the same way. Each variant gets the single-jump errors, the rollout diagnostics and the
wall time of its rollouts, so the cost of tailoring is measured beside its effect.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import torch

from chemnoether.errors import ConfigError
from chemnoether.evaluate._diagnostics import rollout_diagnostics, single_step_errors
from chemnoether.evaluate.anchored_g import anchored_g_of
from chemnoether.train.recipe_data import windows_from_options
from chemnoether.train.run_dir import OpenedRun

ORACLES = ("linear_momentum", "angular_momentum", "energy")
TEST_TIME_GS = (*ORACLES, "learned", "anchored", "learned_energy")
UNTAILORED, TAILORED = "untailored", "tailored"
COMPARISON_COLUMNS = (
    "variant", "n_rollouts", "n_physical", "n_common", "single_step_pos_mse", "rollout_final_mse", "rollout_mean_mse",
    "fraction_completed", "final_energy_drift", "final_linear_momentum_drift", "final_angular_momentum_drift",
    "common_final_mse", "common_final_energy_drift", "seconds_per_rollout_step", "cost_vs_untailored",
    "final_mse_vs_untailored", "energy_drift_vs_untailored",
)


@dataclasses.dataclass(frozen=True)
class TestTimeTailoring:
    """Tailor with another g at evaluation time: which one, and the inner optimisation.

    ``g``: an oracle name (``ORACLES``) or ``"learned"`` (a ``NoetherEmbedding`` of width 8
    pre-trained for ``pretrain_steps`` on the run's training windows). ``steps``, ``lr``,
    ``optimizer``, ``blocks`` left ``None`` take the run's own tailoring options (a meta-tailored
    run; its learned inner rate included), else 1 step of SGD at lr 0.01.
    """

    __test__ = False  # a pytest collector must not take the "Test" prefix for a test class

    g: str
    steps: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    blocks: int | None = None
    pretrain_steps: int = 300

    def __post_init__(self):
        if self.g not in TEST_TIME_GS:
            raise ConfigError(f"test-time g must be one of {TEST_TIME_GS}, got {self.g!r}")
        if self.pretrain_steps < 1:
            raise ConfigError(f"pretrain_steps must be >= 1, got {self.pretrain_steps!r}")

    @property
    def variant(self) -> str:
        return {"learned": "learned_g", "anchored": "anchored_g", "learned_energy": "learned_energy_g"}.get(
            self.g, f"oracle_{self.g}"
        )


def tailoring_variants(run: OpenedRun, test_time: TestTimeTailoring | None = None) -> dict:
    """``{variant name: model}`` to compare; empty when there is nothing to compare.

    A tailored run gives ``"tailored"`` (the run's model) and ``"untailored"``; ``test_time``
    adds ``"oracle_<name>"`` or ``"learned_g"`` (to a plain run too, beside its ``"untailored"``).
    """
    from chemnoether.noether import NoetherTailoredModel, TailoringOptions  # lazy: keeps e3nn out of `import chemnoether.evaluate`

    model = run.model
    variants = {}
    if isinstance(model, NoetherTailoredModel):
        variants = {TAILORED: model, UNTAILORED: model.model}
        base, options, anchor = model.model, dataclasses.replace(model.options, lr=model.inner_lr), model.anchor
    else:
        base, options, anchor = model, TailoringOptions(), "start"
    if test_time is None:
        return variants
    if not hasattr(base, "conditioning_sizes"):
        raise ConfigError(f"a {run.model_kind!r} model has no conditioning parameters: it cannot be tailored")
    given = {name: getattr(test_time, name) for name in ("steps", "lr", "optimizer", "blocks")
             if getattr(test_time, name) is not None}
    options = dataclasses.replace(options, **given, create_graph=False)
    if "steps" in given:
        options = dataclasses.replace(options, eval_steps=None)
    g = _test_time_g(run, test_time, base).to(run.device)
    tailored = NoetherTailoredModel(base, g, options, anchor=anchor).eval()
    return {UNTAILORED: base, **{k: v for k, v in variants.items() if k != UNTAILORED}, test_time.variant: tailored}


def _test_time_g(run: OpenedRun, test_time: TestTimeTailoring, base):
    from chemnoether.noether import NoetherEmbedding  # lazy: keeps e3nn out of `import chemnoether.evaluate`
    from chemnoether.noether.pretrain import pretrain_embedding  # lazy: keeps e3nn out of `import chemnoether.evaluate`
    from chemnoether.noether.recipe import g_from_spec  # lazy: keeps e3nn out of `import chemnoether.evaluate`

    if test_time.g == "learned_energy":  # the model's own energy head: nothing to pre-train
        return g_from_spec({"kind": "learned_energy"}, base)
    if test_time.g == "anchored":  # the run's fitted one (md fit-g), else a quick fit
        return anchored_g_of(run)
    if test_time.g != "learned":
        spec = {"kind": test_time.g}
        if test_time.g == "energy":
            spec["smiles"] = _all_atom_smiles(run)
        return g_from_spec(spec)
    # the run's own training windows (its recipe rebuilds them exactly), never the evaluated split
    train = windows_from_options(run.recipe.data).train
    torch.manual_seed(run.recipe.train.seed)
    g = NoetherEmbedding(base.config["elements"], k=8, hidden=32, layers=2).to(run.device)
    pretrain_embedding(g, train, test_time.pretrain_steps, seed=run.recipe.train.seed)
    return g.eval()


def variant_row(name: str, single: pd.DataFrame, table: pd.DataFrame, summary: dict, seconds: float) -> dict:
    """The comparison row of one variant from its single-jump table and rollout results.

    Its rollout numbers are over its own ``n_physical`` rollouts; ``comparison_table`` adds the
    numbers on the rollouts every variant kept physical. ``per_rollout`` (each start's final
    numbers, NaN once it failed) is what it uses; it is not a column.
    """
    per_rollout = summary["per_rollout"]
    return {
        "variant": name,
        "n_rollouts": summary["n_rollouts"],
        "n_physical": summary["n_physical"],
        "single_step_pos_mse": float(single["pos_mse"].mean()),
        "rollout_final_mse": summary["final_mse"],
        "rollout_mean_mse": summary["mean_mse"],
        "fraction_completed": summary["stability"]["fraction_completed"],
        "final_energy_drift": table["energy_drift"].iloc[-1],
        "final_linear_momentum_drift": summary["final_linear_momentum_drift"],
        "final_angular_momentum_drift": summary["final_angular_momentum_drift"],
        "seconds_per_rollout_step": seconds / summary["steps"],
        "start_frames": tuple(summary["start_frames"]),
        "per_rollout": {
            "physical": np.asarray(per_rollout["physical"], dtype=bool),
            "final_mse": np.asarray(per_rollout["final_mse"], dtype=float),
            "final_energy_drift": np.asarray(per_rollout.get("final_energy_drift", [np.nan] * summary["n_rollouts"]),
                                             dtype=float),
        },
    }


def score_variant(run: OpenedRun, model, indices: np.ndarray, batch_size: int, starts: np.ndarray, steps: int, potential):
    """``(single-jump table, rollout table, rollout summary, rollout seconds)`` of ``model`` on ``run``."""
    variant_run = dataclasses.replace(run, model=model.eval())
    single = single_step_errors(variant_run, indices, batch_size)
    began = time.perf_counter()
    table, summary = rollout_diagnostics(variant_run, starts, steps, potential)
    return single, table, summary, time.perf_counter() - began


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """``COMPARISON_COLUMNS``: the rows, with cost and effect as ratios to the untailored row.

    Effects are compared on the same rollouts: ``common_*`` average over the ``n_common`` starts
    that every variant kept physical to the end, and ``final_mse_vs_untailored`` /
    ``energy_drift_vs_untailored`` are ratios of those (NaN when no start stayed physical in
    all variants). A variant that blows up more often shows it in ``n_physical``; its failures
    are never left out of one side of a ratio only.
    """
    starts = {row["start_frames"] for row in rows}
    if len(starts) != 1:
        raise ConfigError(f"variants must be rolled out from the same start frames to be compared; got {sorted(starts)}")
    common = np.logical_and.reduce([row["per_rollout"]["physical"] for row in rows])
    comparison = pd.DataFrame([{key: value for key, value in row.items() if key not in ("per_rollout", "start_frames")}
                               for row in rows])
    comparison["n_common"] = int(common.sum())
    comparison["common_final_mse"] = [_mean_over(row["per_rollout"]["final_mse"], common) for row in rows]
    comparison["common_final_energy_drift"] = [_mean_over(row["per_rollout"]["final_energy_drift"], common) for row in rows]
    plain = comparison.set_index("variant").loc[UNTAILORED]
    comparison["cost_vs_untailored"] = comparison["seconds_per_rollout_step"] / plain["seconds_per_rollout_step"]
    with np.errstate(divide="ignore", invalid="ignore"):
        comparison["final_mse_vs_untailored"] = comparison["common_final_mse"] / plain["common_final_mse"]
        comparison["energy_drift_vs_untailored"] = comparison["common_final_energy_drift"] / plain["common_final_energy_drift"]
    return comparison[list(COMPARISON_COLUMNS)]


def _mean_over(values: np.ndarray, keep: np.ndarray) -> float:
    """Mean of ``values`` where ``keep``; NaN when nothing is kept (or the values are NaN there)."""
    return float(values[keep].mean()) if keep.any() else float("nan")


def _all_atom_smiles(run: OpenedRun) -> str:
    smiles = run.trajectory.metadata.get("smiles")
    if not smiles:
        raise ConfigError("the energy oracle needs the trajectory's molecule: its metadata has no 'smiles'")
    if run.topology.heavy_atoms:
        raise ConfigError("the energy oracle needs every atom, hydrogens included; this run's graph has heavy atoms only")
    return smiles
