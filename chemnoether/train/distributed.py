"""Data-parallel training across processes launched by ``torchrun``.

``torchrun --nproc_per_node 4 recipe.py`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with
them ``fit`` joins a process group (NCCL on CUDA, gloo on CPU), wraps the model in
``DistributedDataParallel`` (gradients averaged over the processes) and shards the data. Without
them every helper here is a cheap no-op, so the same script runs on one device unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from chemnoether.errors import ConfigError


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, metrics and the progress bar."""
        return self.rank == 0


def dist_env_from_environ(environ=None) -> DistEnv:
    """The ``DistEnv`` described by torchrun's variables (one process when they are absent)."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return DistEnv()
    values = {}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        text = environ.get(name, "0")
        if not text.strip().isdigit():
            raise ConfigError(f"environment variable {name} must be a whole number, got {text!r}")
        values[name] = int(text)
    env = DistEnv(values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"])
    if env.world_size < 1 or not 0 <= env.rank < env.world_size:
        raise ConfigError(f"RANK={env.rank} does not fit WORLD_SIZE={env.world_size}")
    return env


def resolve_device(choice: str, env: DistEnv) -> torch.device:
    """``"auto"``: CUDA when present; each process takes the GPU of its ``local_rank``."""
    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise ConfigError("train.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if choice == "cpu" or not cuda:
        return torch.device("cpu")
    if env.local_rank >= torch.cuda.device_count():
        raise ConfigError(f"LOCAL_RANK={env.local_rank} but only {torch.cuda.device_count()} CUDA devices are visible")
    return torch.device("cuda", env.local_rank)


@contextmanager
def process_group(env: DistEnv, device: torch.device) -> Iterator[None]:
    """Join the job's process group for the block (and leave it if we were the ones to join)."""
    joined = env.distributed and not dist.is_initialized()
    if joined:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)
    try:
        yield
    except BaseException:
        if joined and dist.is_initialized():
            dist.destroy_process_group()
        raise
    if joined and dist.is_initialized():
        # every process done communicating before any tears its connections down: otherwise gloo
        # can abort a process that is still closing its side ("terminate called without an
        # active exception", seen once in CI after both ranks had finished training)
        dist.barrier()
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, env: DistEnv, device: torch.device, find_unused: bool) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` for a multi-process job, else unchanged."""
    if not env.distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=find_unused)


def all_sum(values: list[float], env: DistEnv, device: torch.device) -> list[float]:
    """Element-wise sum over the processes (float64, so counts stay exact)."""
    if not env.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def any_process(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any (so that all stop at the same step)."""
    return all_sum([float(flag)], env, device)[0] > 0


def gather_objects(obj, env: DistEnv) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
    if not env.distributed:
        return [obj]
    gathered = [None] * env.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_from_main(obj, env: DistEnv):
    """Rank 0's ``obj`` on every process."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()
