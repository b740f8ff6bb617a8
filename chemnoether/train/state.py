"""What the loop knows between steps (``TrainState``), what ``fit`` returns, and callbacks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainState:
    """The loop's counters; saved in every checkpoint (plain numbers only).

    ``step``: optimizer steps taken. ``epoch``: the epoch in progress (0-based) and
    ``batch_in_epoch``: batches of it already taken. ``best_val_loss`` / ``best_step``: the best
    evaluation so far; ``bad_evals``: evaluations since it (early stopping). ``elapsed_s``: training
    seconds over all sessions. ``loss_sum`` / ``loss_count``: training losses since the last
    metrics row, so that a resumed run logs the same rows.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_val_loss: float = math.inf
    best_step: int = -1
    bad_evals: int = 0
    elapsed_s: float = 0.0
    loss_sum: float = 0.0
    loss_count: int = 0
    stop_reason: str | None = None

    def request_stop(self, reason: str = "callback") -> None:
        """Stop after the current step (``last.pt`` is written, so the run can be resumed)."""
        self.stop_reason = self.stop_reason or reason

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass
class FitResult:
    """Outcome of ``fit``.

    ``step``: optimizer steps taken in all (over resumes); ``epochs_completed``: whole epochs.
    ``stopped``: ``"completed"`` (epochs / max_steps reached), ``"early_stopping"``,
    ``"callback"`` or ``"signal"`` (SIGTERM or Ctrl-C; resumable; ``stop_signal`` is its number).
    ``molecules_per_s``: training throughput of this session (graphs per second over all
    processes, evaluation excluded; 0 when this session took no step).
    """

    run_dir: Path
    step: int
    epochs_completed: int
    stopped: str
    train_loss: float | None
    val_loss: float | None
    best_val_loss: float | None
    best_step: int | None
    molecules_per_s: float
    resumed_from_step: int | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    metrics_path: Path
    stop_signal: int | None = None


class Callback:
    """Hooks into ``fit``; subclass and override what you need. Called on every process.

    ``state.request_stop()`` from a hook ends the run after the current step with ``last.pt``
    written (resume it with ``fit(..., resume="auto")``).
    """

    def on_fit_start(self, state: TrainState) -> None:
        """Before the first step of this session (after a resume, at the restored step)."""

    def on_step_end(self, state: TrainState, loss: float) -> None:
        """After each optimizer step; ``loss`` is this process's batch loss."""

    def on_eval_end(self, state: TrainState, val_loss: float) -> None:
        """After each evaluation (``val_loss`` averaged over all processes)."""

    def on_fit_end(self, result: FitResult) -> None:
        """After training ended normally (not on an error)."""
