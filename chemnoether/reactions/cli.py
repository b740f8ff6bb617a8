"""``chemnoether score-reactions IN.csv --column COL [--model CKPT] -o OUT.csv``.

``add_score_reactions_parser(subparsers)`` adds the command to the ``chemnoether`` parser; the
scorer is imported only when the command runs, so ``chemnoether --help`` stays fast. The output is
every input row, in order, with its cells as read, followed by the columns of ``score_reactions``
(``ok``, ``score``, ``learned_score``, ``oracle_ok``, ``oracle_score``, ``oracle_reasons``,
``error_type``, ``error``); it is written atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from chemnoether._atomic import atomic_write
from chemnoether._cli_checks import check_output_file
from chemnoether.errors import ChemNoetherError


def add_score_reactions_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``score-reactions`` to ``subparsers`` (what ``add_subparsers`` returned)."""
    parser = subparsers.add_parser(
        "score-reactions",
        help="plausibility scores of reaction SMILES in a CSV file (oracle checks + learned score)",
        description=(
            "Score every row: 'score' is 0 when a conservation check fails, else the calibrated probability "
            "that the reaction is real rather than a decoy; rows that cannot be scored say why in 'error'."
        ),
    )
    parser.add_argument("input", help="CSV file with a column of reaction SMILES (reactants>reagents>products)")
    parser.add_argument("--column", default="reaction", help="column holding the reaction SMILES (default: reaction)")
    parser.add_argument("-o", "--output", required=True, help="CSV file to write: the input rows plus the score columns")
    parser.add_argument("--model", default=None, help="scorer checkpoint (default: the one shipped with chemnoether)")
    parser.add_argument("--batch-size", type=_positive_int, default=256, help="reactions scored together (default 256)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any row could not be scored")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=score_reactions_command)
    return parser


def read_reaction_table(path: Path, column: str):
    """The CSV at ``path`` with every cell as text (so the output repeats it exactly)."""
    if not path.exists():
        raise ChemNoetherError(f"input file {path} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise ChemNoetherError(f"cannot read {path} as a CSV file: {err}") from err
    if column not in table.columns:
        raise ChemNoetherError(f"{path} has no column {column!r}; its columns are {list(table.columns)}: pass --column")
    return table


def score_reactions_command(args: argparse.Namespace) -> int:
    """Run ``chemnoether score-reactions``: score, write, and summarise the failures."""
    from chemnoether.reactions.api import COLUMNS, score_reactions  # lazy: keeps e3nn out of `chemnoether --help`

    check_output_file(args.output, "-o")  # before the scoring, not after it
    table = read_reaction_table(Path(args.input), args.column)
    added = [c for c in COLUMNS if c != "input"]
    if args.column in added:
        raise ChemNoetherError(f"the reaction column may not be called {args.column!r}: the output uses that name; rename it")
    start = time.perf_counter()
    result = score_reactions(table[args.column].tolist(), model=args.model, progress=not args.quiet, batch_size=args.batch_size)
    elapsed = time.perf_counter() - start
    replaced = [c for c in added if c in table.columns]
    out = table.drop(columns=replaced)
    for name in added:
        out[name] = result[name].to_numpy()
    path = atomic_write(args.output, lambda tmp: out.to_csv(tmp, index=False))
    n, failed = len(result), int((~result["ok"].astype(bool)).sum())
    print(f"scored {n - failed} of {n} reactions in {elapsed:.1f} s; wrote {path}")
    if replaced:
        print(f"note: input columns {replaced} were replaced by the score columns of the same name", file=sys.stderr)
    if failed:
        errors = result[~result["ok"].astype(bool)]
        print(f"{failed} rows could not be scored: " + ", ".join(f"{k} {v}" for k, v in errors["error_type"].value_counts().items()))
        for message in errors["error"].head(5):
            print(f"  {message}")
    return 1 if (failed and args.strict) or (n and failed == n) else 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value
