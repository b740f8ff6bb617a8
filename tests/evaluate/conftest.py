"""A real training run (tiny: a short ethanol MD, a one-layer equivariant model, a few steps),
shared by the report and command-line tests, and a heavy-atom twin of it."""

import shutil

import pytest
import yaml

import chemnoether  # noqa: F401  (before dgl)

RECIPE = {
    "data": {"molecule": "ethanol", "n_steps": 600, "split": "time_block", "delta": 5},
    # edges: bond, since the SMILES graph of this recipe has bonds but no radius (near) edges
    "model": {"kind": "equivariant", "elements": [1, 6, 8], "channels": 8, "layers": 1, "edges": "bond"},
    # max_steps keeps the run to seconds; the model only has to exist, not to be good
    "train": {"epochs": 1, "max_steps": 5, "batch_size": 16, "progress": False, "device": "cpu"},
}


@pytest.fixture(scope="session")
def trained_run(train_recipe):
    """A run directory as `chemnoether train` leaves it (config.yaml, best.pt, last.pt)."""
    return train_recipe(RECIPE, "evaluate")


def _copy_run(run_dir, destination, **data_changes):
    """A copy of ``run_dir`` (checkpoints and config only) with ``data:`` entries changed."""
    destination.mkdir(parents=True)
    for name in ("best.pt", "last.pt"):
        shutil.copy(run_dir / name, destination / name)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["data"].update(data_changes)
    (destination / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return destination


@pytest.fixture(scope="session")
def heavy_run(trained_run, tmp_path_factory):
    """The same model on the heavy atoms only (its elements cover C and O, so it runs as is)."""
    return _copy_run(trained_run, tmp_path_factory.mktemp("heavy") / "run", heavy_atoms=True)


@pytest.fixture
def copy_run():
    """``copy_run(run_dir, destination, **data_changes)``: a copy of a run to evaluate apart."""
    return _copy_run


@pytest.fixture(scope="session")
def tailored_run(train_recipe):
    """A meta-tailored run: the same recipe with a ``tailoring:`` section (learned g, one inner step)."""
    # g pre-trained for a few steps, then fixed: the recipe path of recipes/noether_md
    tailoring = {"g": "learned", "k": 4, "hidden": 8, "layers": 1, "steps": 1, "lr": 0.01, "pretrain_steps": 3,
                 "train_g": False}
    return train_recipe({**RECIPE, "tailoring": tailoring}, "tailored")
