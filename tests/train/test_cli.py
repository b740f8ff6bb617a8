import argparse

import pytest
import standin
import yaml

from chemnoether.errors import ConfigError
from chemnoether.train import read_checkpoint
from chemnoether.train.cli import add_train_parser, train_command

RECIPE = """
data:
  molecule: ethanol
  n_steps: 200
  delta: 2
model:
  kind: standin
  hidden: 8
train:
  epochs: 1
  batch_size: 16
  device: cpu
  progress: false
"""


def parse(argv):
    parser = argparse.ArgumentParser(prog="chemnoether")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    return path


def test_check_prints_the_resolved_recipe(recipe, tmp_path, capsys):
    args = parse(["train", str(recipe), "-o", str(tmp_path / "run"), "--check", "--set", "train.lr=3e-4"])
    assert train_command(args) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["lr"] == 3e-4 and printed["data"]["molecule"] == "ethanol"
    assert printed["data"]["split"] == "time_block"  # defaults of the data section filled in
    assert not (tmp_path / "run").exists()


def test_train_command_runs_and_resumes(recipe, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_command(parse(["train", str(recipe), "-o", str(run)]), builder=standin.build) == 0
    assert "completed after 10 steps" in capsys.readouterr().out
    payload = read_checkpoint(run / "last.pt")
    assert payload["recipe"]["data"]["molecule"] == "ethanol" and payload["model_kind"] == "standin"
    args = parse(["train", str(recipe), "-o", str(run), "--set", "train.epochs=2", "--resume", "must"])
    assert train_command(args, builder=standin.build) == 0
    assert "completed after 20 steps" in capsys.readouterr().out


def test_bad_data_or_model_sections(recipe, tmp_path):
    with pytest.raises(ConfigError, match="exactly one of data.trajectory"):
        train_command(parse(["train", str(recipe), "-o", str(tmp_path), "--set", "data.trajectory=x.npz"]))
    with pytest.raises(ConfigError, match="unknown key data.molcule"):
        train_command(parse(["train", str(recipe), "-o", str(tmp_path), "--set", "data.molcule=x"]))
    with pytest.raises(ConfigError, match="model.kind must name the model"):
        train_command(parse(["train", str(recipe), "-o", str(tmp_path), "--set", "model.kind=null"]))
