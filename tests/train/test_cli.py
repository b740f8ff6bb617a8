import argparse
from pathlib import Path

import pytest
import standin
import yaml

from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.train import read_checkpoint
from chemnoether.train.cli import _resume_command, add_train_parser, train_command

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
    assert train_command(args, builder=standin.build) == 0
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
    assert train_command(args, builder=standin.build) == 0  # nothing left to do: no rate to report
    assert "completed after 20 steps; best val loss" in capsys.readouterr().out


def test_bad_data_or_model_sections(recipe, tmp_path):
    with pytest.raises(ConfigError, match="exactly one of data.trajectory"):
        train_command(parse(["train", str(recipe), "-o", str(tmp_path), "--set", "data.trajectory=x.npz"]))
    with pytest.raises(ConfigError, match="unknown key data.molcule"):
        train_command(parse(["train", str(recipe), "-o", str(tmp_path), "--set", "data.molcule=x"]))
    with pytest.raises(ConfigError, match="model.kind must name the model"):
        train_command(parse(["train", str(recipe), "-o", str(tmp_path), "--set", "model.kind=null"]))


EQUIVARIANT = RECIPE.replace("kind: standin\n  hidden: 8", "kind: equivariant\n  channels: 4\n  layers: 1\n  edges: bond")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.chanels=3", r"model.chanels is not an option of model kind 'equivariant' \(did you mean 'channels'\?\)"),
        ("model.channels=abc", r"model: channels must be a whole number >= 1, got 'abc'"),
        ("model.kind=equivariantt", r"model.kind 'equivariantt' \(did you mean 'equivariant'\?\)"),
        ("data.molecule=not_a_molecule", r"neither a known molecule name nor a valid SMILES"),
    ],
)
def test_check_refuses_what_the_run_would_refuse(tmp_path, override, message):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(EQUIVARIANT)
    for check in (["--check"], []):  # the run refuses it as early, before any data is generated
        with pytest.raises(ChemNoetherError, match=message):
            train_command(parse(["train", str(recipe), "-o", str(tmp_path / "run"), *check, "--set", override]))
    assert not (tmp_path / "run").exists()


def test_check_builds_the_model_and_names_the_data_plan(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(EQUIVARIANT)
    assert train_command(parse(["train", str(recipe), "-o", str(tmp_path / "run"), "--check"])) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "model 'equivariant' builds" in last and "generate 200 mmff MD steps of ethanol" in last


def test_a_recipe_for_a_file_needs_the_file(tmp_path):
    shipped = Path(__file__).parents[2] / "recipes" / "md17" / "file.yaml"
    with pytest.raises(ConfigError, match=r"data.trajectory md17_aspirin.npz does not exist; pass it with --set data.trajectory="):
        train_command(parse(["train", str(shipped), "-o", str(tmp_path / "run"), "--check"]))


def test_a_plain_xyz_trajectory_takes_its_time_step_from_data_dt_fs(tmp_path):
    from chemnoether.simulation import generate_md  # noqa: PLC0415
    from chemnoether.train.recipe_data import DataOptions, windows_from_options  # noqa: PLC0415

    path = tmp_path / "plain.xyz"
    generate_md("ethanol", 40, equilibration_steps=0, progress=False).write(path, format="xyz")
    with pytest.raises(ChemNoetherError, match="time step is unknown.*data.dt_fs"):
        windows_from_options(DataOptions(trajectory=str(path), delta=2, graph="radius", cutoff=3.0))
    splits = windows_from_options(DataOptions(trajectory=str(path), delta=2, graph="radius", cutoff=3.0, dt_fs=0.5))
    assert splits.train.trajectory.dt_fs == 0.5
    with pytest.raises(ConfigError, match="data.dt_fs must be a positive number"):
        DataOptions(trajectory=str(path), dt_fs=0.0)


def test_resume_command_repeats_the_overrides():
    args = parse(["train", "my recipe.yaml", "-o", "runs/a", "--set", "train.lr=1e-3", "--resume", "never"])
    # --resume never would refuse the run directory it names; the default resumes it
    assert _resume_command(args) == "chemnoether train 'my recipe.yaml' -o runs/a --set train.lr=1e-3"
