"""What benchmarks share: the JSON they write (rows, date, machine, torch, device), skipped rows, device syncs."""

from __future__ import annotations

import json
import platform
from datetime import date

import torch


def write_results(path: str, rows: list[dict], device: str, **settings) -> None:
    """Write ``{"meta": ..., "rows": rows}`` to ``path``; ``settings`` join the metadata."""
    meta = {"date": date.today().isoformat(), "machine": platform.machine(), "device": device,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), **settings}
    if device == "cuda":
        meta["gpu"] = torch.cuda.get_device_name()
    with open(path, "w") as handle:
        json.dump({"meta": meta, "rows": rows}, handle, indent=2)


def sync(device: str) -> None:
    """Wait for the device's queued work, so a timer reads the work and not its launch."""
    if device == "cuda":
        torch.cuda.synchronize()


def mark_skipped(row: dict, label: str, err: Exception) -> dict:
    """``row`` with the reason it could not run (a variant that fails is a row, not a crash)."""
    row["skipped"] = f"{type(err).__name__}: {err}"[:400]
    print(f"{label}: skipped ({row['skipped']})", flush=True)
    return row
