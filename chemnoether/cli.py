"""The ``chemnoether`` command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

# every subcommand's parser is built for any command line (--help included), so its module and the
# libraries it loads are needed anyway: imported here, not lazily
from chemnoether._cli_checks import SIGNAL_EXIT, Terminated, check_output_file, sigterm_raises, signal_name
from chemnoether.errors import ChemNoetherError
from chemnoether.evaluate.cli import add_evaluate_parsers
from chemnoether.featurize.batch import featurize_dataframe
from chemnoether.featurize.io import save_graphs, status_path
from chemnoether.learned_md.cli import add_run_parser
from chemnoether.reactions.cli import add_score_reactions_parser
from chemnoether.simulation.cli import add_generate_parser
from chemnoether.train.cli import add_train_parser


def _read_table(path: Path, column: str):
    """The input rows; a .smi file gives one row per line (blank lines too), so row i is line i + 1."""
    if not path.is_file():
        raise ChemNoetherError(f"input file {path} does not exist (or is a folder); pass a CSV or .smi file")
    try:
        if path.suffix == ".smi":
            table = _read_smi(path, column)
        else:
            table = pd.read_csv(path, dtype={column: "string"}, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ChemNoetherError(f"input file {path} is empty; it needs a header line with a {column!r} column and one row per molecule") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ChemNoetherError(f"cannot read {path} as a text CSV file ({type(err).__name__}: {err}); pass a UTF-8 CSV or .smi file") from None
    if column not in table.columns:
        raise ChemNoetherError(
            f"{path} has no column {column!r}; its columns are {list(table.columns)}: pass --smiles-column"
        )
    if table.empty:
        raise ChemNoetherError(f"input file {path} has a header but no rows: nothing to featurise")
    table[column] = table[column].astype(object)
    return table


def _read_smi(path: Path, column: str):
    # RDKit's .smi layout: SMILES, then an optional name, whitespace separated, no header. A blank
    # line stays a (failed) row so that status row numbers match file lines; trailing ones go.
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise pd.errors.EmptyDataError
    rows = [line.split(maxsplit=1) or [""] for line in lines]
    return pd.DataFrame({column: [r[0] for r in rows], "name": [r[1].strip() if len(r) > 1 else "" for r in rows]})


def _featurize_command(args: argparse.Namespace) -> int:
    out = check_output_file(args.output, "-o")
    check_output_file(status_path(out), "-o (its status table)")
    table = _read_table(Path(args.input), args.smiles_column)
    subgraphs = () if args.subgraphs == "none" else tuple(s for s in args.subgraphs.split(",") if s)
    start = time.perf_counter()
    result = featurize_dataframe(
        table,
        args.smiles_column,
        n_jobs=args.jobs,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
        explicit_hydrogens=args.explicit_hydrogens,
        positions=args.positions,
        seed=args.seed,
        cutoff=args.cutoff,
        rings=not args.no_rings,
        subgraphs=subgraphs,
        unknown_elements=args.unknown_elements,
        metals=args.metals,
        fragments=args.fragments,
    )
    elapsed = time.perf_counter() - start
    out = save_graphs(out, result)
    n, failed = len(result.status), result.num_failed
    print(f"featurised {n - failed} of {n} rows in {elapsed:.1f} s" + (f" ({n / elapsed:.0f} rows/s)" if elapsed >= 0.1 else ""))
    print(f"graphs: {out}\nstatus: {status_path(out)}")
    if failed:
        counts = result.failures()["error_type"].value_counts()
        print(f"{failed} rows failed: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for message in result.failures()["error"].head(5):
            print(f"  {message}")
    return 1 if (failed and args.strict) or failed == n else 0


class _OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the subcommands' parsers are of this class too)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="chemnoether",
        description="Graph neural networks for chemistry on DGL.",
        epilog="Exit codes: 0 done, 1 failed during the work, 2 bad input or usage, 130 / 143 interrupted "
        "(Ctrl-C / SIGTERM). Errors are one line; --debug (or CHEMNOETHER_DEBUG=1) adds the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="print the Python traceback of an error (also CHEMNOETHER_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    feat = commands.add_parser(
        "featurize",
        help="SMILES in a CSV (or .smi) file to DGL graphs plus a per-row status table",
        description="Featurise every row; the status table beside the output says which rows failed and why.",
    )
    feat.add_argument("input", help="CSV file with a SMILES column, or an RDKit .smi file")
    feat.add_argument("--smiles-column", default="smiles", help="column holding the SMILES (default: smiles)")
    feat.add_argument("-o", "--output", required=True, help="graph file to write; the status goes to OUTPUT.status.csv")
    feat.add_argument("--jobs", type=int, default=1, help="worker processes (-1: all cores)")
    feat.add_argument("--chunk-size", type=int, default=512, help="molecules featurised together")
    feat.add_argument("--explicit-hydrogens", action="store_true", help="hydrogens as nodes")
    feat.add_argument("--positions", choices=["conformer", "embed"], default=None, help="3D positions (embed: ETKDG)")
    feat.add_argument("--seed", type=int, default=0, help="seed of the ETKDG embedding")
    feat.add_argument("--cutoff", type=float, default=None, help="radius graph cutoff in Å (needs --positions)")
    feat.add_argument("--no-rings", action="store_true", help="leave out ring nodes")
    feat.add_argument(
        "--subgraphs", default="functional_groups,brics", help="comma list of functional_groups, brics; or none"
    )
    feat.add_argument("--unknown-elements", choices=["error", "other"], default="error")
    feat.add_argument("--metals", choices=["keep", "error"], default="keep")
    feat.add_argument("--fragments", choices=["keep", "largest", "error"], default="keep")
    feat.add_argument("--strict", action="store_true", help="exit with status 1 if any row failed")
    feat.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    feat.set_defaults(run=_featurize_command)

    md = commands.add_parser("md", help="molecular dynamics: generate reference trajectories, run learned MD")
    md_commands = md.add_subparsers(dest="md_command", required=True)
    add_generate_parser(md_commands)
    add_run_parser(md_commands)
    add_train_parser(commands)
    add_evaluate_parsers(commands)
    add_score_reactions_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; every error is one line on stderr and an exit code (see the parser's epilog)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line, not only before the command
    argv = [word for word in argv if word != "--debug"]
    args = build_parser().parse_args(argv)  # bad usage: argparse's one-line message and exit 2
    debug = debug or os.environ.get("CHEMNOETHER_DEBUG", "").strip() not in ("", "0")
    name = " ".join(filter(None, ("chemnoether", args.command, getattr(args, "md_command", None))))
    try:
        with sigterm_raises():
            return args.run(args)
    except ChemNoetherError as err:
        return _report(name, "error", err, err.exit_code, debug, err)
    except KeyboardInterrupt as err:
        return _report(name, "interrupted", f"{signal_name(signal.SIGINT)}; files already written are complete", SIGNAL_EXIT[signal.SIGINT], debug, err)
    except Terminated as err:
        return _report(name, "interrupted", f"{signal_name(signal.SIGTERM)}; files already written are complete", SIGNAL_EXIT[signal.SIGTERM], debug, err)
    except OSError as err:  # a full disk, a file vanished mid-run: the work failed, not the usage
        where = f" {err.filename}" if err.filename else ""
        return _report(name, "error", f"{err.strerror or err}{where}; check the path and free space", 1, debug, err)
    except Exception as err:  # noqa: BLE001 - a bug or a library failure: one line, the traceback on request
        hint = "" if debug else "; rerun with --debug for the traceback"
        return _report(name, "error", f"unexpected {type(err).__name__}: {err}{hint}", 1, debug, err)


def _report(name: str, kind: str, message, code: int, debug: bool, err: BaseException) -> int:
    if debug:
        traceback.print_exception(err)
    text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"{name}: {kind}: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
