"""Evaluation with and without tailoring, side by side (meta-tailored runs and oracle tailoring)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.evaluate import evaluate_run
from chemnoether.evaluate.tailoring import COMPARISON_COLUMNS, TestTimeTailoring, comparison_table, variant_row
from chemnoether.noether import NoetherTailoredModel
from chemnoether.train import load_model

QUICK = {"rollout_steps": 3, "n_rollouts": 2, "max_windows": 6}


def test_meta_tailored_run_reloads_as_the_tailored_model(tailored_run):
    model = load_model(tailored_run)
    assert isinstance(model, NoetherTailoredModel)
    assert model.config["g"]["kind"] == "learned" and model.config["model"]["kind"] == "equivariant"
    # the learned inner rate is a parameter of the checkpoint, not the recipe's start value
    saved = torch.load(tailored_run / "best.pt", weights_only=True)["model_state"]["log_lr"]
    assert model.inner_lr == pytest.approx(float(saved.exp()))


def test_tailored_run_reports_both_variants(tailored_run):
    metrics = evaluate_run(tailored_run, **QUICK)
    variants = {row["variant"]: row for row in metrics["tailoring"]["variants"]}
    assert set(variants) == {"tailored", "untailored"}
    assert variants["untailored"]["cost_vs_untailored"] == 1.0
    assert all(row["seconds_per_rollout_step"] > 0 for row in variants.values())
    for row in variants.values():  # every rollout number says over how many rollouts it is taken
        assert row["n_rollouts"] == QUICK["n_rollouts"] and 0 <= row["n_common"] <= row["n_physical"] <= row["n_rollouts"]
    # the main table is the tailored model's, and tailoring changes the rollout from its first step
    main = pd.read_csv(tailored_run / "eval" / "rollout.csv")
    untailored = pd.read_csv(tailored_run / "eval" / "rollout_untailored.csv")
    assert main["mse"].iloc[1] > 0 and untailored["mse"].iloc[1] > 0
    assert main["mse"].iloc[1] != untailored["mse"].iloc[1]
    assert metrics["rollout"]["n_physical"] == variants["tailored"]["n_physical"]
    table = pd.read_csv(tailored_run / "eval" / "tailoring.csv")
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert (tailored_run / "eval" / "tailoring.png").stat().st_size > 1000


def _row(name, final_mse, physical, energy_drift=None, starts=tuple(range(8))):
    """A variant's row as ``variant_row`` makes it from per-rollout final numbers (NaN once failed)."""
    physical = np.asarray(physical, dtype=bool)
    final_mse = np.where(physical, final_mse, np.nan)
    energy = np.where(physical, energy_drift if energy_drift is not None else final_mse, np.nan)
    summary = {
        "n_rollouts": len(physical), "n_physical": int(physical.sum()), "steps": 10, "start_frames": list(starts),
        "final_mse": float(np.nanmean(final_mse)) if physical.any() else np.nan, "mean_mse": 0.0,
        "final_linear_momentum_drift": 0.0, "final_angular_momentum_drift": 0.0,
        "stability": {"fraction_completed": float(physical.mean())},
        "per_rollout": {"physical": physical.tolist(), "final_mse": final_mse.tolist(), "final_energy_drift": energy.tolist()},
    }
    return variant_row(name, pd.DataFrame({"pos_mse": [1.0]}), pd.DataFrame({"energy_drift": [np.nanmean(energy)]}),
                       summary, seconds=1.0)


def test_variants_are_compared_on_the_rollouts_all_kept_physical():
    # the case: tailoring keeps 2 of 8 rollouts physical, and those 2 were the easy ones;
    # averaged over its survivors it reads as a 0.46x error, on the same 2 rollouts it is 1.5x worse
    plain = _row("untailored", [0.5, 0.5, 2, 2, 2, 2, 2, 2], [True] * 8)
    tailored = _row("tailored", [0.75, 0.75, 9, 9, 9, 9, 9, 9], [True, True] + [False] * 6)
    table = comparison_table([tailored, plain]).set_index("variant")
    assert table.loc["tailored", "rollout_final_mse"] == pytest.approx(0.75)  # its own survivors, labelled:
    assert table.loc["tailored", "n_physical"] == 2 and table.loc["untailored", "n_physical"] == 8
    assert (table["n_rollouts"] == 8).all() and (table["n_common"] == 2).all()
    assert table.loc["untailored", "common_final_mse"] == pytest.approx(0.5)
    assert table.loc["tailored", "final_mse_vs_untailored"] == pytest.approx(1.5)
    assert table.loc["tailored", "energy_drift_vs_untailored"] == pytest.approx(1.5)
    assert table.loc["untailored", "final_mse_vs_untailored"] == pytest.approx(1.0)


def test_no_rollout_physical_in_every_variant_gives_no_ratio():
    plain = _row("untailored", [1.0] * 4, [True, True, False, False], starts=range(4))
    tailored = _row("tailored", [0.1] * 4, [False, False, True, True], starts=range(4))
    table = comparison_table([plain, tailored]).set_index("variant")
    assert (table["n_common"] == 0).all()
    assert table["final_mse_vs_untailored"].isna().all() and table["common_final_mse"].isna().all()


def test_variants_from_different_starts_are_not_compared():
    with pytest.raises(ConfigError, match="same start frames"):
        comparison_table([_row("untailored", [1.0] * 2, [True] * 2, starts=(0, 5)),
                          _row("tailored", [1.0] * 2, [True] * 2, starts=(0, 6))])


def test_oracle_tailoring_of_a_plain_run(trained_run, copy_run, tmp_path):
    run = copy_run(trained_run, tmp_path / "run")
    oracle = TestTimeTailoring("linear_momentum", steps=2, lr=0.1)
    metrics = evaluate_run(run, test_time=oracle, **QUICK)
    names = [row["variant"] for row in metrics["tailoring"]["variants"]]
    assert names == ["untailored", "oracle_linear_momentum"]
    saved = json.loads((run / "eval" / "metrics.json").read_text())
    assert saved["tailoring"]["main"] == "untailored"


def test_energy_oracle_refuses_heavy_atom_graphs(heavy_run):
    with pytest.raises(ConfigError, match="hydrogens"):
        evaluate_run(heavy_run, test_time=TestTimeTailoring("energy"), **QUICK)


def test_unknown_oracle():
    with pytest.raises(ConfigError, match="test-time g must be one of"):
        TestTimeTailoring("spin")


def test_learned_g_pre_trained_at_test_time(trained_run, copy_run, tmp_path):
    run = copy_run(trained_run, tmp_path / "run")
    metrics = evaluate_run(run, test_time=TestTimeTailoring("learned", pretrain_steps=2), **QUICK)
    names = [row["variant"] for row in metrics["tailoring"]["variants"]]
    assert names == ["untailored", "learned_g"]
