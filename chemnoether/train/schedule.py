"""Learning-rate schedule: linear warm-up, then cosine decay, reduce-on-plateau or constant.

A small class of our own rather than ``torch.optim.lr_scheduler``: its whole state is three
numbers, so a checkpoint stays plain data, and the rate at a step is a pure function of the step
and that state, which is what exact resume needs.
"""

from __future__ import annotations

import math

import torch

from chemnoether.train.config import TrainConfig


class LRSchedule:
    """Sets the optimizer's rate before each step (``apply``); ``observe`` feeds val losses."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
        self.optimizer = optimizer
        self.config = config
        self.total_steps = max(int(total_steps), 1)
        self.scale = 1.0  # plateau reductions so far, as a factor
        self.best = math.inf
        self.bad_evals = 0

    def lr_at(self, step: int) -> float:
        """The rate of the optimizer step that takes the run from ``step`` to ``step + 1``."""
        config = self.config
        warmup = config.warmup_steps
        if step < warmup:
            return config.lr * (step + 1) / (warmup + 1)
        if config.schedule == "cosine":
            progress = min((step - warmup) / max(self.total_steps - warmup, 1), 1.0)
            return config.min_lr + (config.lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(config.lr * self.scale, config.min_lr)

    def apply(self, step: int) -> float:
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def observe(self, val_loss: float) -> None:
        """Reduce-on-plateau bookkeeping (a no-op for the other schedules)."""
        if self.config.schedule != "plateau":
            return
        if val_loss < self.best:
            self.best, self.bad_evals = val_loss, 0
            return
        self.bad_evals += 1
        if self.bad_evals > self.config.plateau_patience:
            self.scale *= self.config.plateau_factor
            self.bad_evals = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best, self.bad_evals = float(state["scale"]), float(state["best"]), int(state["bad_evals"])
