"""Train / val / test start frames for windows of one trajectory, and a leakage check.

A window starting at frame ``s`` with span ``L`` reads frames ``s .. s + L`` (``windows.span``:
``delta * horizon``, plus one for forward-difference velocities). Two windows *overlap in time*
when they share a frame, i.e. when their starts are at most ``L`` apart. Consecutive MD frames
are strongly correlated, so a test window that overlaps a training window is partly seen data.

* ``time_block_split``: contiguous blocks of starts, separated so that no window of one split
  shares a frame with a window of another (plus a decorrelation ``gap``): leakage-free.
* ``md17_protocol_split``: the start frames of the GMN / EGNO MD17 benchmark, reproduced draw for
  draw. Its windows of different splits **do** overlap in time (``overlap_fractions`` measures
  it); use it to compare with published numbers, and ``time_block_split`` to measure
  generalisation in time.
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import numpy as np

from chemnoether.errors import ConfigError, SplitOverlapError

SPLIT_NAMES = ("train", "val", "test")

# GMN / EGNO (docs/design.md section 9)
MD17_DELTA = 3000  # frames between input and target (1.5 ps at 0.5 fs)
MD17_MARGIN = 10000  # frames left out at both ends of the trajectory
MD17_SIZES = (500, 2000, 2000)  # train / val / test windows kept
MD17_DRAW_FRACTIONS = (0.1, 0.05, 0.05)  # of the middle range, drawn before keeping the first sizes
MD17_SEED = 100  # np.random.seed(100) in their dataset code


class Split(NamedTuple):
    """Start frames (int64 arrays) of the train, val and test windows."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def time_block_split(
    n_frames: int,
    delta_span: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    gap: int | None = None,
    seed: int | None = None,
    n_blocks: int = 1,
    stride: int = 1,
) -> Split:
    """Start frames in contiguous time blocks, so that no two splits' windows share a frame.

    The valid starts ``0 .. n_frames - 1 - delta_span`` are cut into ``n_blocks`` blocks per split
    (a split with fraction 0 gets none). Between two neighbouring blocks, ``delta_span + gap``
    starts are left out, so the last frame read by one block's windows and the first frame of
    the next block's are ``gap`` unused frames apart. The remaining starts are shared out by
    ``fractions`` (largest remainders), equally among a split's blocks.

    Args:
        n_frames: frames in the trajectory.
        delta_span: a window's span in frames (``windows.span``: ``delta * horizon``, + 1 with
            forward-difference velocities).
        fractions: train, val, test shares of the usable starts; non-negative, summing to 1.
        gap: unused frames between blocks, for decorrelation; default ``delta_span``, so blocks
            are at least one window span apart. 0 only prevents shared frames.
        seed: ``None`` puts the blocks in time order train, val, test (repeated ``n_blocks``
            times); an integer shuffles the order of all blocks with that seed.
        n_blocks: blocks per split (more blocks sample more of the trajectory's history).
        stride: keep every ``stride``-th start inside a block (neighbouring starts are nearly
            the same sample).

    Raises:
        ConfigError: bad arguments, or a trajectory too short for the blocks and gaps (with the
            numbers).
    """
    n_frames, delta_span = _whole(n_frames, "n_frames", 1), _whole(delta_span, "delta_span", 0)
    n_blocks, stride = _whole(n_blocks, "n_blocks", 1), _whole(stride, "stride", 1)
    gap = delta_span if gap is None else _whole(gap, "gap", 0)
    shares = _checked_fractions(fractions)
    names = [name for name, share in zip(SPLIT_NAMES, shares, strict=True) if share > 0 for _ in range(n_blocks)]
    if seed is not None:
        names = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    n_starts = n_frames - delta_span  # starts whose window ends inside the trajectory
    separation = delta_span + gap  # starts left out between two blocks
    usable = n_starts - (len(names) - 1) * separation
    sizes = _block_sizes(usable, names, shares)
    if usable < len(names) or min(sizes) < 1:
        raise ConfigError(
            f"time_block_split: {n_frames} frames leave {max(n_starts, 0)} window starts for span "
            f"{delta_span}; {len(names)} blocks with {len(names) - 1} separations of {separation} "
            f"(span + gap={gap}) leave {max(usable, 0)}, too few for fractions {tuple(shares)} "
            f"(block sizes {sizes}); use a longer trajectory, a smaller gap, fewer blocks or a shorter window"
        )
    starts = {name: [] for name in SPLIT_NAMES}
    begin = 0
    for name, size in zip(names, sizes, strict=True):
        starts[name].append(np.arange(begin, begin + size, stride, dtype=np.int64))
        begin += size + separation
    return Split(*(np.concatenate(starts[name]) if starts[name] else np.zeros(0, dtype=np.int64) for name in SPLIT_NAMES))


def md17_protocol_split(
    n_frames: int,
    seed: int = MD17_SEED,
    *,
    delta: int = MD17_DELTA,
    sizes: tuple[int, int, int] = MD17_SIZES,
    margin: int = MD17_MARGIN,
    draw_fractions: tuple[float, float, float] | None = MD17_DRAW_FRACTIONS,
) -> Split:
    """Start frames of the GMN / EGNO MD17 benchmark, drawn exactly as their dataset code does.

    Their code computes velocities as ``x[t + 1] - x[t]`` and so keeps the first
    ``n_frames - 1`` frames; the candidate starts are the ``M = n_frames - 1 - 2 * margin``
    frames ``margin .. n_frames - 2 - margin`` (inside ``[margin, n_frames - margin)``). With
    ``np.random.seed(seed)`` (legacy ``RandomState``) it then draws, **without replacement**:

    1. ``int(0.1 * M)`` train starts from all candidates,
    2. ``int(0.05 * M)`` val starts from the candidates not drawn for train (in increasing order),
    3. ``int(0.05 * M)`` test starts from those drawn for neither,

    and keeps the first 500 / 2000 / 2000 of each draw, in draw order. So the three start sets
    are disjoint, but their windows (input frame ``s``, target ``s + delta``, 3000 frames = 1.5 ps
    later) **overlap in time** across splits: with M of 10^5 frames and more, almost every test
    window shares frames with some training window (``overlap_fractions``). For a leakage-free
    split use ``time_block_split``.

    Every window ends inside the trajectory as long as ``delta <= margin``: its target and the
    target's forward-difference velocity use frames up to ``n_frames - 2 - margin + delta + 1``.

    Args:
        n_frames: frames of the (consecutive, 0.5 fs for MD17) trajectory.
        seed: 100 in the published code.
        delta: frames from input to target; only checked against ``margin`` here.
        sizes: windows kept per split.
        margin: frames left out at both ends.
        draw_fractions: the fractions of M drawn before keeping the first ``sizes``; they fix
            which starts the draws produce, so they must stay (0.1, 0.05, 0.05) to match the
            published split. ``None`` draws ``sizes`` directly, as disjoint slices of one
            permutation of the candidates (for trajectories too short for the fractions).

    Raises:
        ConfigError: a trajectory too short for the draws (with the frames it needs).
    """
    n_frames, seed = _whole(n_frames, "n_frames", 1), _whole(seed, "seed", 0)
    delta, margin = _whole(delta, "delta", 1), _whole(margin, "margin", 0)
    sizes = tuple(_whole(size, "size", 0) for size in sizes)
    if len(sizes) != 3:
        raise ConfigError(f"sizes must be three numbers (train, val, test), got {sizes}")
    if delta > margin:
        raise ConfigError(f"delta={delta} must be <= margin={margin}, or the last windows would end past the trajectory")
    candidates = n_frames - 1 - 2 * margin
    if draw_fractions is None:
        draws = sizes
        needed = sum(sizes)
        rule = f"{needed} distinct starts ({' + '.join(map(str, sizes))})"
    else:
        fractions = _checked_fractions(draw_fractions, total=None)
        draws = tuple(int(f * max(candidates, 0)) for f in fractions)
        # the smallest M for which every fraction draws at least its size
        needed = max(_smallest_count(f, size) for f, size in zip(fractions, sizes, strict=True))
        rule = f"fractions {tuple(fractions)} of them to draw at least {sizes}"
    if candidates < needed or any(d < s for d, s in zip(draws, sizes, strict=True)):
        raise ConfigError(
            f"md17_protocol_split: {n_frames} frames leave {max(candidates, 0)} candidate starts "
            f"(frames {margin} to n_frames - 2 - {margin}); the protocol needs {rule}, i.e. n_frames >= "
            f"{needed + 1 + 2 * margin}. Generate a longer trajectory"
            + (", or pass draw_fractions=None to draw the sizes directly" if draw_fractions is not None else "")
        )
    rng = np.random.RandomState(seed)  # legacy generator: the published draws depend on it
    free = np.ones(candidates, dtype=bool)
    drawn = []
    if draw_fractions is None:
        order = rng.permutation(candidates)
        bounds = np.cumsum((0, *sizes))
        drawn = [order[lo:hi] for lo, hi in pairwise(bounds)]
    else:
        for count in draws:
            # np.random.choice(rest, count, replace=False) is rest[permutation(len(rest))[:count]]
            rest = np.flatnonzero(free)
            picked = rest[rng.permutation(len(rest))[:count]]
            free[picked] = False
            drawn.append(picked)
    return Split(*(np.asarray(d[:size], dtype=np.int64) + margin for d, size in zip(drawn, sizes, strict=True)))


def window_overlap(reference: np.ndarray, starts: np.ndarray, delta_span: int, min_gap: int = 0) -> np.ndarray:
    """(len(starts),) bool: the window at each of ``starts`` comes within ``min_gap`` frames of a
    window of ``reference`` (``min_gap=0``: shares a frame with one)."""
    reference = np.sort(np.asarray(reference, dtype=np.int64))
    starts = np.asarray(starts, dtype=np.int64)
    if not len(reference) or not len(starts):
        return np.zeros(len(starts), dtype=bool)
    return _nearest_distance(reference, starts) <= delta_span + min_gap


def overlap_fractions(split: Split, delta_span: int, min_gap: int = 0) -> dict[str, float]:
    """For each ordered pair of splits ``"a/b"``: the fraction of b's windows that overlap a window of a."""
    result = {}
    for i, first in enumerate(SPLIT_NAMES):
        for second in SPLIT_NAMES[i + 1 :]:
            a, b = getattr(split, first), getattr(split, second)
            result[f"{first}/{second}"] = float(window_overlap(a, b, delta_span, min_gap).mean()) if len(b) else 0.0
    return result


def check_no_overlap(split: Split, delta_span: int, min_gap: int = 0) -> None:
    """Raise ``SplitOverlapError`` if a window of one split comes within ``min_gap`` frames of
    (``min_gap=0``: shares a frame with) a window of another, naming the first such pair."""
    for i, first in enumerate(SPLIT_NAMES):
        for second in SPLIT_NAMES[i + 1 :]:
            a, b = getattr(split, first), getattr(split, second)
            close = window_overlap(a, b, delta_span, min_gap)
            if close.any():
                start = int(np.asarray(b)[close][0])
                near = int(_nearest(np.sort(np.asarray(a, dtype=np.int64)), np.array([start]))[0])
                raise SplitOverlapError(
                    f"{int(close.sum())} of {len(b)} {second} windows overlap {first} windows in time "
                    f"(span {delta_span} frames, min_gap {min_gap}): e.g. {second} frames {start}-"
                    f"{start + delta_span} and {first} frames {near}-{near + delta_span}; use time_block_split"
                )


def _nearest(sorted_reference: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The element of ``sorted_reference`` closest to each of ``starts``."""
    right = np.searchsorted(sorted_reference, starts).clip(0, len(sorted_reference) - 1)
    left = (right - 1).clip(0)
    take_left = np.abs(sorted_reference[left] - starts) < np.abs(sorted_reference[right] - starts)
    return np.where(take_left, sorted_reference[left], sorted_reference[right])


def _nearest_distance(sorted_reference: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.abs(_nearest(sorted_reference, starts) - starts)


def _block_sizes(usable: int, names: list[str], shares: list[float]) -> list[int]:
    """Starts per block: each split's share of ``usable`` by largest remainders, then per block."""
    if usable <= 0:
        return [0] * len(names)
    blocks = [names.count(name) for name in SPLIT_NAMES]
    exact = [usable * share / count if count else 0.0 for share, count in zip(shares, blocks, strict=True)]
    per_block = [int(np.floor(x)) for x in exact]
    left = usable - sum(p * c for p, c in zip(per_block, blocks, strict=True))
    # hand leftover starts to whole splits' blocks, largest remainder first, while they fit
    for k in sorted(range(3), key=lambda k: exact[k] - per_block[k], reverse=True):
        if blocks[k] and left >= blocks[k] and exact[k] - per_block[k] > 0:
            per_block[k] += 1
            left -= blocks[k]
    return [per_block[SPLIT_NAMES.index(name)] for name in names]


def _checked_fractions(fractions, total: float | None = 1.0) -> list[float]:
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise ConfigError(f"fractions must be three numbers (train, val, test), got {fractions!r}") from None
    if len(values) != 3 or any(not np.isfinite(v) or v < 0 for v in values):
        raise ConfigError(f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}")
    if total is not None and abs(sum(values) - total) > 1e-9:
        raise ConfigError(f"fractions must sum to {total}, got {fractions!r} (sum {sum(values)})")
    if total is None and (sum(values) > 1 or min(values) <= 0):
        raise ConfigError(f"draw_fractions must be positive and sum to at most 1, got {fractions!r}")
    return values


def _smallest_count(fraction: float, size: int) -> int:
    """The smallest M with int(fraction * M) >= size, evaluated as the published code does."""
    if size == 0:
        return 0
    if fraction <= 0:
        raise ConfigError(f"a draw fraction of 0 cannot draw {size} starts")
    count = int(np.ceil(size / fraction))
    while int(fraction * (count - 1)) >= size:
        count -= 1
    while int(fraction * count) < size:  # float rounding, e.g. 0.05 * 40000
        count += 1
    return count


def _whole(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)
