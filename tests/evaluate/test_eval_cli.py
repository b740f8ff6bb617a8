"""`chemnoether evaluate` and `chemnoether rollout` through their own argparse parser."""

import argparse

import ase.io
import pytest

from chemnoether.errors import CheckpointError
from chemnoether.evaluate.cli import add_evaluate_parsers


def parse(argv):
    parser = argparse.ArgumentParser(prog="chemnoether")
    add_evaluate_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def run_copy(trained_run, copy_run, tmp_path):
    # a copy, so that these commands do not rewrite the eval/ folder the report tests read
    return copy_run(trained_run, tmp_path / "run")


def test_evaluate_prints_a_table_and_where_files_went(run_copy, capsys):
    args = parse(["evaluate", str(run_copy), "--rollout-steps", "2", "--rollouts", "2", "--max-windows", "6", "--split", "val"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "6 val windows" in out and "2 rollouts of 2 steps" in out
    assert "single_step.pos_mse" in out and "constant_velocity" in out and "rollout.final_energy_drift" in out
    assert f"to {run_copy / 'eval'}" in out and "metrics.json" in out
    assert (run_copy / "eval" / "metrics.json").is_file()


def test_rollout_writes_the_file_asked_for(run_copy, tmp_path, capsys):
    out_file = tmp_path / "out" / "roll.extxyz"
    args = parse(["rollout", str(run_copy), "--steps", "3", "--start", "1", "-o", str(out_file)])
    assert args.run(args) == 0
    assert str(out_file) in capsys.readouterr().out
    assert len(ase.io.read(out_file, ":")) == 4


def test_defaults_and_bad_values():
    args = parse(["evaluate", "somewhere"])
    assert (args.which, args.split, args.rollout_steps, args.rollouts, args.device) == ("best", "test", None, 8, "cpu")
    for bad in (["evaluate", "x", "--rollout-steps", "0"], ["evaluate", "x", "--split", "holdout"],
                ["rollout", "x"], ["rollout", "x", "--steps", "two"], ["evaluate", "x", "--which", "first"]):
        with pytest.raises(SystemExit):
            parse(bad)


def test_a_folder_without_a_run_is_named(tmp_path):
    args = parse(["evaluate", str(tmp_path)])
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        args.run(args)
