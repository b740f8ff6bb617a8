"""The GP-head recipe's evaluation of a saved head (``--model``): the loaded head forecasts as the trained one."""

import importlib.util
from pathlib import Path

import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.simulation import generate_md
from chemnoether.gp.train import HeadConfig, prepare_molecule, train_head

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "gp_heads" / "run.py"


def recipe():
    spec = importlib.util.spec_from_file_location("gp_heads_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_saved_head_loads_and_forecasts_as_trained(tmp_path):
    molecule = prepare_molecule(generate_md("methanol", 200, seed=0, progress=False, equilibration_steps=100), 4, "methanol")
    config = HeadConfig(window=12, horizon=2, num_components=2, hidden=16, features="both", window_lags=4,
                        encoder={"channels": 4, "layers": 1}, steps=3, log_every=3)
    trained, _ = train_head([molecule], config, log=None)
    trained.eval()
    torch.save(trained.state_dict(), tmp_path / "model.pt")
    loaded = recipe().load_head(tmp_path / "model.pt", config, molecule.attrs.shape[1])
    with torch.inference_mode():
        for start in (0, 17):
            expected, _ = trained([(molecule, start)])
            got, _ = loaded([(molecule, start)])
            assert torch.equal(got.mean, expected.mean) and torch.equal(got.var, expected.var)
