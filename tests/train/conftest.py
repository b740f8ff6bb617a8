"""Fixtures of the training tests: windows of a real (short) MD run and the stand-in model."""

import sys
from pathlib import Path

import pytest

# the stand-in model is a plain module beside the tests (the torchrun worker imports it too)
sys.path.insert(0, str(Path(__file__).parent))

import standin  # noqa: E402

from chemnoether.train import TrainConfig  # noqa: E402


@pytest.fixture(scope="session")
def windows():
    return standin.ethanol_windows()


@pytest.fixture
def make_model():
    def make(seed: int = 0, **config):
        import torch

        torch.manual_seed(seed)
        return standin.StandIn(**config)

    return make


@pytest.fixture
def quick():
    """A TrainConfig for seconds-long CPU runs; keyword arguments replace fields."""

    def make(**changes):
        options = {"seed": 0, "epochs": 2, "batch_size": 16, "lr": 1e-2, "device": "cpu", "progress": False,
                   "log_every": 1, "schedule": "constant"}
        options.update(changes)
        return TrainConfig(**options)

    return make
