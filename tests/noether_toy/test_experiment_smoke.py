"""The experiment and the recipe's table run end to end on a tiny budget."""

import importlib.util
from pathlib import Path

from chemnoether.noether_toy.experiment import PAPER, Preset, run
from chemnoether.noether_toy.systems import SPRING, make_dataset

TINY = Preset(vanilla_steps=20, meta_steps=2, meta_batch=3, k=2, lr_grid=(1e-3,), n_screen=2, n_keep=1, n_val=2)


def test_validation_trajectories_do_not_change_train_or_test():
    a = make_dataset(SPRING, n_train=3, n_test=3, noise_std=0.1, n_val=0)
    b = make_dataset(SPRING, n_train=3, n_test=3, noise_std=0.1, n_val=4)
    assert (a["x_train"] == b["x_train"]).all() and (a["x_test"] == b["x_test"]).all()
    assert b["x_val"].shape == (4, SPRING.n_points, 2)


def test_run_and_table(tmp_path):
    res = run(SPRING, TINY, seed=0, log=lambda *_: None)
    assert set(res.rmse) == {"vanilla", "oracle", "symbolic", "vanilla_ft", "neural_g_untailored", "neural_g"}
    assert res.chosen.startswith("q^2")
    spec = importlib.util.spec_from_file_location(
        "noether_hnn_run", Path(__file__).parents[2] / "recipes" / "noether_hnn" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.table([res])
    lines = text.splitlines()
    # the RMSE rows show this run's numbers (one seed: std 0) beside the paper's
    for row, paper_row in (("vanilla", "vanilla"), ("symbolic", "noether"), ("oracle", "oracle")):
        expected = f"| spring | {row} | {res.rmse[row]:.4f} ± 0.0000 | {PAPER['spring'][paper_row]:.4f} |"
        assert expected in lines, (expected, text)
    # the ratio row: ours from this run's RMSEs, then the paper's constant (which alone proves nothing)
    ours = f"{res.rmse['symbolic'] / res.rmse['vanilla']:.3f} | {res.rmse['neural_g'] / res.rmse['vanilla']:.3f}"
    paper = PAPER["spring"]["noether"] / PAPER["spring"]["vanilla"]
    assert f"| spring | {ours} | {paper:.2f} |" in lines, text
    assert f"chosen **{res.chosen}**" in text
    assert mod.plot([res], tmp_path)[0].exists()
