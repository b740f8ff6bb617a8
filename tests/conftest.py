"""Test-suite configuration: GPU tests are skipped on machines without CUDA; a tiny-run trainer."""

import argparse

import pytest
import torch
import yaml

import chemnoether  # noqa: F401 - must precede any `import dgl` (DGL import fix)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def train_recipe(tmp_path_factory):
    """``train_recipe(recipe: dict, name) -> run_dir``: a run as `chemnoether train` leaves it."""
    from chemnoether.train.cli import train_command  # noqa: PLC0415 - only the tests that train import it

    def train(recipe: dict, name: str):
        folder = tmp_path_factory.mktemp(name)
        recipe_path = folder / "recipe.yaml"
        recipe_path.write_text(yaml.safe_dump(recipe))
        run_dir = folder / "run"
        args = argparse.Namespace(recipe=str(recipe_path), run_dir=str(run_dir), overrides=[], resume="never", check=False)
        assert train_command(args) == 0
        return run_dir

    return train
