import math

import pytest
import torch

from chemnoether.train import TrainConfig
from chemnoether.train.schedule import LRSchedule


def schedule(total_steps=100, **options):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return LRSchedule(optimizer, TrainConfig(lr=1.0, **options), total_steps)


def test_warmup_then_cosine_to_min_lr():
    s = schedule(warmup_steps=9, schedule="cosine", min_lr=0.1)
    assert [s.lr_at(i) for i in (0, 4, 8)] == pytest.approx([0.1, 0.5, 0.9])
    assert s.lr_at(9) == pytest.approx(1.0)
    assert s.lr_at(100) == pytest.approx(0.1) and s.lr_at(1000) == pytest.approx(0.1)
    assert s.apply(9) == pytest.approx(1.0) and s.optimizer.param_groups[0]["lr"] == pytest.approx(1.0)


def test_plateau_reduces_after_patience_and_round_trips():
    s = schedule(schedule="plateau", plateau_patience=1, plateau_factor=0.5)
    for loss in (1.0, 1.0, 1.0):  # best, then two evaluations without improvement
        s.observe(loss)
    assert s.lr_at(50) == pytest.approx(0.5)
    other = schedule(schedule="plateau", plateau_patience=1, plateau_factor=0.5)
    other.load_state_dict(s.state_dict())
    assert other.lr_at(50) == s.lr_at(50) and other.best == 1.0


def test_constant():
    s = schedule(schedule="constant")
    s.observe(1.0)
    s.observe(math.inf)
    assert s.lr_at(0) == s.lr_at(99) == 1.0
