"""``metrics.csv`` (always) and TensorBoard scalars (when ``torch.utils.tensorboard`` imports).

One row every ``log_every`` steps and at every evaluation. ``train_loss`` is the mean training
loss since the previous row, ``val_loss`` is empty on rows without an evaluation, ``time`` is
seconds of training since the run began (over resumes), ``molecules_per_s`` is the training
throughput (graphs per second, all processes together) since the previous row.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path

from chemnoether._atomic import atomic_write

COLUMNS = ("step", "epoch", "train_loss", "val_loss", "lr", "time", "molecules_per_s")
METRICS_NAME = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"

logger = logging.getLogger(__name__)


class MetricsLog:
    """Appends rows to ``run_dir/metrics.csv``; ``enabled=False`` (ranks > 0) writes nothing."""

    def __init__(self, run_dir: str | os.PathLike, *, enabled: bool = True, resume_step: int | None = None):
        self.path = Path(run_dir) / METRICS_NAME
        self.enabled = enabled
        self._tensorboard = None
        if not enabled:
            return
        if resume_step is None:
            atomic_write(self.path, lambda tmp: Path(tmp).write_text(",".join(COLUMNS) + "\n"))
        else:
            self._truncate_after(resume_step)
        self._tensorboard = _tensorboard_writer(Path(run_dir) / TENSORBOARD_DIR, resume_step)

    def write(self, step: int, epoch: int, train_loss, val_loss, lr: float, time_s: float, molecules_per_s) -> None:
        if not self.enabled:
            return
        row = {"step": step, "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
               "time": round(time_s, 3), "molecules_per_s": molecules_per_s}
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerow(["" if row[c] is None else row[c] for c in COLUMNS])
        if self._tensorboard is not None:
            for name in ("train_loss", "val_loss", "lr", "molecules_per_s"):
                if row[name] is not None:
                    self._tensorboard.add_scalar(name, row[name], step)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None

    def _truncate_after(self, step: int) -> None:
        """Keep the rows up to ``step``: a run resumed from a checkpoint re-logs what came after."""
        if not self.path.is_file():
            atomic_write(self.path, lambda tmp: Path(tmp).write_text(",".join(COLUMNS) + "\n"))
            return
        rows = list(csv.DictReader(self.path.open(newline="")))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(r for r in rows if r.get("step", "").isdigit() and int(r["step"]) <= step)
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(out.getvalue()))


def _tensorboard_writer(folder: Path, resume_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter  # lazy: optional tensorboard (extra "tensorboard")
    except ImportError:  # tensorboard not installed: the CSV is the record
        return None
    try:
        return SummaryWriter(str(folder), purge_step=resume_step)
    except Exception as err:  # noqa: BLE001 - TensorBoard is a nicety; never fail a run over it
        logger.debug("TensorBoard disabled: %s", err)
        return None
