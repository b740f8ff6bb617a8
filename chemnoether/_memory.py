"""How much memory a request needs, checked against what the machine has before allocating it."""

from __future__ import annotations

import os

from chemnoether.errors import ConfigError

_GIB = 2**30


def available_bytes() -> int:
    """Memory a new allocation can get now (Linux ``MemAvailable``; else the physical memory)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def rollout_bytes(n_steps: int, n_atoms: int, n_starts: int = 1) -> int:
    """Positions and velocities of ``n_starts`` rollouts, float64, start frame included."""
    return 2 * n_starts * (n_steps + 1) * n_atoms * 3 * 8


def require_rollout_memory(n_steps: int, n_atoms: int, n_starts: int = 1, option: str = "n_steps") -> None:
    """``ConfigError`` naming the largest ``option`` that fits when the rollout would not fit in memory."""
    need, have = rollout_bytes(n_steps, n_atoms, n_starts), available_bytes()
    if need <= have // 2:  # half: the model and the writer need room too
        return
    fitting = max(0, (have // 2) // rollout_bytes(0, n_atoms, n_starts) - 1)
    raise ConfigError(
        f"{option}={n_steps}: {n_starts} rollout(s) of {n_atoms} atoms need {need / _GIB:.3g} GiB for positions and "
        f"velocities, more than half of the {have / _GIB:.3g} GiB available; pass {option} {fitting} or fewer"
    )
