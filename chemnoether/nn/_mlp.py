"""A plain MLP with SiLU between its layers (none after the last)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def silu_mlp(sizes: Sequence[int]) -> torch.nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with SiLU between them.

    SiLU, not ReLU: smooth, so second derivatives (meta-gradients through a tailoring step, forces
    from energies) exist everywhere.
    """
    layers: list[torch.nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.SiLU())
    return torch.nn.Sequential(*layers)
