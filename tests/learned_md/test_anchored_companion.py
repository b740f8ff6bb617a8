"""The run's anchored g (``md fit-g``): saved in the run, used for tailoring and as a companion potential."""

import csv
import shutil

import numpy as np
import pytest
import torch

from chemnoether.cli import main
from chemnoether.data.windows import window_loader
from chemnoether.errors import CheckpointError, ConfigError
from chemnoether.evaluate.anchored_g import anchored_g_of
from chemnoether.learned_md import run_learned_md
from chemnoether.noether.anchored import ANCHORED_G_FILE, KineticAnchoredEnergy, load_anchored_g, save_anchored_g
from chemnoether.train.run_dir import open_run


@pytest.fixture(scope="module")
def fitted_run(md_run, tmp_path_factory):
    """A copy of the tiny run with a (tiny) fitted anchored g, so the shared run stays without one."""
    folder = tmp_path_factory.mktemp("fitted") / "run"
    shutil.copytree(md_run, folder)
    code = main(["md", "fit-g", str(folder), "--steps", "6", "--hidden", "8", "--layers", "1", "-q"])
    assert code == 0
    return folder


def test_fit_g_writes_a_g_that_tailoring_and_md_load(fitted_run, capsys):
    g, fit = load_anchored_g(fitted_run / ANCHORED_G_FILE)
    assert fit["steps"] == 6 and g.config["hidden"] == 8
    assert -np.inf < fit["r2_potential"] <= 1.0 and fit["r2_states"] > 0  # generated data carry energies
    run = open_run(fitted_run)
    loaded = anchored_g_of(run)
    batch = next(iter(window_loader(run.windows, 4))).to(dtype=torch.float32)
    torch.testing.assert_close(loaded(batch), g(batch))


def test_projection_onto_the_anchored_shell_conserves_kinetic_plus_learned_potential(fitted_run, tmp_path):
    result = run_learned_md(fitted_run, "test:0", 4, tmp_path / "md", replicas=2, potential="anchored",
                            rescale="project", progress=False)
    with open(tmp_path / "md" / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    alive = {int(r["replica"]) for r in rows} - {s["replica"] for s in result.stopped}
    assert alive, f"every replica stopped: {result.stopped}"
    for replica in alive:
        totals = np.array([float(r["total_energy_eV"]) for r in rows if int(r["replica"]) == replica])
        assert len(totals) == 5
        assert np.abs(totals - totals[0]).max() < 1e-4 * max(1.0, abs(totals[0]))  # V_phi is float32


def test_a_file_that_is_not_an_anchored_g_is_refused(tmp_path):
    path = tmp_path / ANCHORED_G_FILE
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="format tag"):
        load_anchored_g(path)
    path.write_bytes(b"not torch")
    with pytest.raises(CheckpointError, match="fit it again"):
        load_anchored_g(path)


def test_a_g_fitted_for_other_elements_is_refused(md_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(md_run, folder)
    save_anchored_g(KineticAnchoredEnergy([1, 6, 7, 8], hidden=4, layers=1), folder / ANCHORED_G_FILE, {"steps": 1})
    with pytest.raises(ConfigError, match="elements"):
        anchored_g_of(open_run(folder))
