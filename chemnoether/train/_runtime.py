"""Process-wide settings a run needs and gives back: seeds, deterministic kernels, SIGTERM / SIGINT."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from chemnoether.errors import ConfigError
from chemnoether.train.checkpoint import LAST_NAME

RESUME_OPTIONS = ("auto", "never", "must")


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global RNGs (CUDA included); call before building a model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def deterministic_on_cpu(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on CPU for the block (exact resume relies on them), then as before.

    Not on CUDA: its deterministic kernels are slower and need ``CUBLAS_WORKSPACE_CONFIG``.
    """
    if device.type != "cpu":
        yield
        return
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], int | None]]:
    """Yields ``received()``: the first SIGTERM or SIGINT (Ctrl-C) that arrived, else ``None``.

    Instead of killing the run, a signal (a cluster's pre-emption notice, a Ctrl-C) lets the loop
    stop at the end of the step and write ``last.pt`` there. A second Ctrl-C raises
    ``KeyboardInterrupt`` at once, for a step that takes too long. Only the main thread can
    install signal handlers; elsewhere ``received()`` stays ``None``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    received: list[int] = []

    def on_signal(signum, frame):
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda: received[0] if received else None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def checkpoint_to_resume(run_dir: Path, resume: str) -> Path | None:
    """Apply the run-directory policy: the ``last.pt`` to resume from, or ``None`` for a fresh run.

    ``"auto"``: resume when ``last.pt`` exists; ``"never"``: refuse a directory that exists and is
    not empty; ``"must"``: refuse one without ``last.pt``.
    """
    if resume not in RESUME_OPTIONS:
        raise ConfigError(f"resume must be one of {', '.join(map(repr, RESUME_OPTIONS))}, got {resume!r}")
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir {run_dir} is a file, not a directory")
    last = run_dir / LAST_NAME
    if resume == "must" and not last.is_file():
        raise ConfigError(f"resume='must' but {run_dir} holds no {LAST_NAME}; pass resume='auto' to start a run there")
    if resume == "never" and run_dir.is_dir() and any(run_dir.iterdir()):
        raise ConfigError(
            f"run directory {run_dir} already exists and is not empty, and resume='never' refuses to reuse it: "
            f"choose a new run_dir, or pass resume='auto' to continue the run it holds"
        )
    return last if last.is_file() else None


def process_seed(seed: int, rank: int) -> int:
    """Each process its own stream (dropout differs across ranks, as with one big batch)."""
    return seed + 1_000_003 * rank
