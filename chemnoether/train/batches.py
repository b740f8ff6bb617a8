"""Reproducible batches: the order of an epoch is a function of (seed, epoch, rank) alone.

Every epoch draws its order from a ``DistributedSampler`` seeded with the run's seed (a single
process is rank 0 of 1), so a run resumed mid-epoch rebuilds the same order and skips the batches
it already took. Windows datasets are batched in one piece (``windows.batch``); any other dataset
of DGL graphs goes through ``collate_graphs``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from chemnoether.core.tensors import GraphTensors, collate_graphs
from chemnoether.data.windows import PairWindows, RolloutWindows
from chemnoether.train.distributed import DistEnv

# Generators of the loaders, kept apart from the global RNG that model code (dropout) draws from:
# a DataLoader iterator otherwise takes its workers' base seed from the global RNG
_LOADER_SEED_OFFSET = 7919


class IndexedBatches(Dataset):
    """Lists of dataset indices -> ``(indices, GraphTensors)``; what the loaders iterate."""

    def __init__(self, data: Dataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, indices: list[int]) -> tuple[list[int], GraphTensors]:
        if isinstance(self.data, (PairWindows, RolloutWindows)):
            return indices, GraphTensors.from_graph(self.data.batch(indices))
        return indices, collate_graphs([self.data[i] for i in indices])


def epoch_batches(
    n_items: int, batch_size: int, *, seed: int, epoch: int, env: DistEnv, drop_last: bool
) -> list[list[int]]:
    """This process's batches of epoch ``epoch``: a seeded shuffle, sharded over the processes.

    Like ``DistributedSampler`` itself, a shard is padded with repeated items when the data
    do not divide evenly, so that every process takes the same number of steps.
    """
    sampler = DistributedSampler(
        range(n_items), num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    order = list(sampler)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def steps_per_epoch(n_items: int, batch_size: int, env: DistEnv, drop_last: bool) -> int:
    per_process = math.ceil(n_items / env.world_size)
    return per_process // batch_size if drop_last else math.ceil(per_process / batch_size)


def eval_batches(n_items: int, batch_size: int, env: DistEnv) -> list[list[int]]:
    """In order, every item once over all processes (no padding, so the mean is exact)."""
    mine = list(range(env.rank, n_items, env.world_size))
    return [mine[i : i + batch_size] for i in range(0, len(mine), batch_size)]


def make_loader(data: Dataset, batches: list[list[int]], *, num_workers: int, pin_memory: bool, seed: int) -> DataLoader:
    """A loader over precomputed index batches; ``seed`` fixes its workers' seeds."""
    generator = torch.Generator().manual_seed(seed + _LOADER_SEED_OFFSET)
    return DataLoader(
        IndexedBatches(data),
        batch_size=None,  # the sampler yields whole index lists
        sampler=batches,
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=_as_is,
        generator=generator,
    )


def window_starts(data: Dataset, indices: list[int]) -> list[int] | None:
    """Start frames of windows ``indices`` (for error messages); ``None`` for other datasets."""
    if isinstance(data, (PairWindows, RolloutWindows)):
        return np.asarray(data.starts)[np.asarray(indices, dtype=np.int64)].tolist()
    return None


def _as_is(sample):
    # batch_size=None would otherwise pass each sample through default_convert
    return sample
