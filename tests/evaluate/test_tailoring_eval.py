"""Evaluation with and without tailoring, side by side (meta-tailored runs and oracle tailoring)."""

import json

import pandas as pd
import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.evaluate import evaluate_run
from chemnoether.evaluate.tailoring import COMPARISON_COLUMNS, TestTimeTailoring
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
    # tailoring costs at least one extra backward pass per step
    assert variants["tailored"]["seconds_per_rollout_step"] > variants["untailored"]["seconds_per_rollout_step"]
    # the main numbers are the tailored model's
    assert metrics["rollout"]["final_mse"] == pytest.approx(variants["tailored"]["rollout_final_mse"])
    table = pd.read_csv(tailored_run / "eval" / "tailoring.csv")
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert (tailored_run / "eval" / "rollout_untailored.csv").is_file()
    assert (tailored_run / "eval" / "tailoring.png").stat().st_size > 1000


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
