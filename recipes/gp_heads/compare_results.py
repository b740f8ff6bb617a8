"""Compare the quality numbers of two runs of the GP recipe (their ``results.json``), timings left out.

    .venv/bin/python recipes/gp_heads/compare_results.py out/gp_heads/results.json out/gp_heads_fast/results.json

Prints how many numbers were compared, how many are bitwise equal, the largest relative
differences, and every field one run has and the other lacks (or holds as null). Exit status 1
when any number differs by more than ``--rtol`` or a field is missing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SKIPPED = ("history", "total_seconds", "model")  # the training log, timings and the saved head's path


def numbers(value, path: tuple[str, ...] = ()):
    """``(path, number or None)`` for every leaf of ``value`` except timings."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in SKIPPED and "seconds" not in key:
                yield from numbers(item, (*path, key))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from numbers(item, (*path, str(k)))
    elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        yield path, value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-9, help="largest relative difference that still passes")
    parser.add_argument("--show", type=int, default=8, help="how many of the largest differences to print")
    args = parser.parse_args(argv)
    first, second = (dict(numbers(json.loads(p.read_text()))) for p in (args.first, args.second))
    unmatched = sorted({*first} ^ {*second}) + [p for p in first if p in second and (first[p] is None) != (second[p] is None)]
    shared = [p for p in first if p in second and first[p] is not None and second[p] is not None]
    relative = {p: 0.0 if first[p] == second[p] else abs(first[p] - second[p]) / max(abs(first[p]), abs(second[p])) for p in shared}
    equal = sum(r == 0.0 for r in relative.values())
    worst = max(relative.values(), default=0.0)
    print(f"{len(shared)} numbers compared: {equal} bitwise equal; largest relative difference {worst:.2e}")
    for path in sorted(relative, key=relative.get, reverse=True)[: args.show]:
        if relative[path]:
            print(f"  {'/'.join(path)}: {first[path]!r} vs {second[path]!r} ({relative[path]:.1e})")
    for path in unmatched:
        print(f"  only in one run, or null in one: {'/'.join(path)}")
    return 1 if worst > args.rtol or unmatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
