"""Rescaling against the run's own learned energy (``--rescale learned``)."""

import csv

import numpy as np
import pytest

from chemnoether.errors import ConfigError
from chemnoether.learned_md import run_learned_md

from .conftest import RECIPE


@pytest.fixture(scope="module")
def energy_run(train_recipe):
    model = {**RECIPE["model"], "energy_head": True}
    train = {**RECIPE["train"], "loss_weights": {"forces": 1.0}}
    return train_recipe({**RECIPE, "model": model, "train": train}, "energy_head")


def _log(folder):
    with open(folder / "log.csv") as handle:
        return list(csv.DictReader(handle))


def test_rescaling_holds_kinetic_plus_learned_energy(energy_run, tmp_path):
    result = run_learned_md(energy_run, "test:0", 4, tmp_path / "md", replicas=2, potential="learned",
                            rescale=True, progress=False)
    rows = [row for row in _log(tmp_path / "md") if int(row["step"]) <= result.steps]
    alive = {int(r["replica"]) for r in rows} - {s["replica"] for s in result.stopped}
    for replica in alive:
        totals = np.array([float(r["total_energy_eV"]) for r in rows if int(r["replica"]) == replica])
        assert len(totals) == 5
        # the learned energy is float32: the total stays within its round-off, not exactly
        assert np.abs(totals - totals[0]).max() < 1e-4 * max(1.0, abs(totals[0]))
    assert alive, f"every replica stopped: {result.stopped}"


def test_without_an_energy_head_rescaling_against_it_is_refused(md_run, tmp_path):
    with pytest.raises(ConfigError, match="energy head"):
        run_learned_md(md_run, "test:0", 2, tmp_path / "md", potential="learned", rescale=True, progress=False)
