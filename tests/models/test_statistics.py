"""dataset_statistics: neighbour count and output scales from real windows."""

import pytest

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.models import dataset_statistics

from .conftest import batch_of


def test_statistics_of_ethanol(ethanol):
    batch = batch_of(ethanol, "radius")
    stats = dataset_statistics([batch])
    assert stats["avg_num_neighbors"] == 8.0  # 9 atoms, all within 5 Å of each other
    assert dataset_statistics([batch], cutoff=2.0)["avg_num_neighbors"] < 8.0
    dt = batch.system[keys.DT][batch.atom_graph].unsqueeze(1)
    correction = batch.atom[keys.NEXT_POS] - batch.atom[keys.POS] - batch.atom[keys.VEL] * dt
    assert stats["dpos_scale"] == pytest.approx(float(correction.pow(2).mean().sqrt()))
    assert 0.001 < stats["velocity_scale"] < 0.1


def test_no_batches():
    with pytest.raises(ConfigError):
        dataset_statistics([])
