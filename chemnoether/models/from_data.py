"""Fill in the model options a recipe leaves out from the training data: elements and scales.

A recipe says what model to build (``kind``, channels, layers...); what the data decides, the
data fills in: the elements the model must know, and for the equivariant model the average
neighbour count and the output scales (``dataset_statistics``). Options the recipe gives win.
"""

from __future__ import annotations

import inspect
from itertools import islice

import numpy as np
import torch

from chemnoether import keys
from chemnoether.core.registry import BUILDERS
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import GraphFormatError
from chemnoether.models.statistics import dataset_statistics

_STATISTIC_BATCHES = 8  # of 32 windows: enough for scales good to a few percent


def complete_model_options(kind: str, options: dict, train_windows) -> dict:
    """``options`` plus ``elements`` and measured statistics the builder of ``kind`` accepts."""
    accepted = set(inspect.signature(BUILDERS[kind]).parameters) if kind in BUILDERS else set()
    filled = dict(options)
    if "elements" in accepted and "elements" not in filled:
        numbers = train_windows[0].nodes[keys.ATOM].data[keys.ATOMIC_NUMBERS].numpy()
        filled["elements"] = sorted(int(z) for z in np.unique(numbers))
    wanted = {"avg_num_neighbors", "velocity_scale", "dpos_scale", "dvel_scale"} & accepted
    if wanted - set(filled):
        batches = _batches(train_windows)
        edges = filled.get("edges", "near")
        measured = dataset_statistics(batches, edges=edges, cutoff=filled.get("cutoff", 5.0) if "cutoff" in accepted else None)
        for name in wanted - set(filled):
            filled[name] = measured[name]
    energy_wanted = {"energy_scale", "energy_shift"} & accepted
    if filled.get("energy_head") and energy_wanted - set(filled):
        for name, value in energy_statistics(_batches(train_windows)).items():
            filled.setdefault(name, value)
    return filled


def energy_statistics(batches) -> dict[str, float]:
    """``energy_shift`` (mean potential energy per atom, eV) and ``energy_scale`` (eV).

    The scale is the RMS force component times 1 Å where the batches carry forces: what the head
    must learn is mostly the energy's slope, and a scale from the energy's spread alone (0.05 eV
    over a short ethanol run, against forces of 0.6 eV/Å) left the force error on a plateau.
    Without forces it is the standard deviation of the energies (1 eV if they are all equal).
    Raises ``GraphFormatError`` if a batch carries no energies.
    """
    energies, per_atom, squared_forces, components = [], [], 0.0, 0
    for batch in batches:
        if keys.ENERGY not in batch.system:
            raise GraphFormatError(
                f"an energy head needs training windows with energies (system {keys.ENERGY!r}); this "
                "trajectory has none: generate it with `chemnoether md generate`, read a file with energies, "
                "or leave model.energy_head off"
            )
        energy = batch.system[keys.ENERGY].double().reshape(-1)
        energies.append(energy)
        per_atom.append(energy / batch.num_atoms.double())
        if keys.FORCES in batch.atom:
            squared_forces += float(batch.atom[keys.FORCES].double().pow(2).sum())
            components += batch.atom[keys.FORCES].numel()
    energies, per_atom = torch.cat(energies), torch.cat(per_atom)
    spread = (squared_forces / components) ** 0.5 if components else (float(energies.std()) if len(energies) > 1 else 0.0)
    return {"energy_shift": float(per_atom.mean()), "energy_scale": spread if spread > 0 else 1.0}


def _batches(windows, size: int = 32):
    count = len(windows)
    starts = range(0, min(count, size * _STATISTIC_BATCHES), size)
    for start in islice(starts, _STATISTIC_BATCHES):
        indices = list(range(start, min(start + size, count)))
        yield GraphTensors.from_graph(windows.batch(indices))
