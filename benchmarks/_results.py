"""The JSON a benchmark writes: the rows it measured and where (date, machine, torch, device)."""

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
