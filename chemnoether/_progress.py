"""Progress bars that suit a terminal and a log file alike."""

from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 10.0  # redirected to a file, a bar writes a line this often, not ten a second


def progress_bar(**options) -> tqdm:
    """``tqdm(**options)``, updating at most every ``LOG_INTERVAL_S`` when stderr is not a terminal."""
    if not sys.stderr.isatty():
        options.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(**options)
