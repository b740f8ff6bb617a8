"""Batch featurization for pipelines: every input row gets a status, nothing is dropped silently.

The result keeps each molecule's arrays and builds graphs from them on demand: ``batched()`` is one
``dgl.batch``-equivalent graph of every featurised row (built in one go, which is what makes batch
featurization fast), ``graphs`` the per-row list (``None`` where a row failed).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import dgl
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from rdkit import Chem, rdBase
from tqdm.auto import tqdm

from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.featurize.assemble import BatchParts, build_batched_graph, build_graph
from chemnoether.featurize.rdkit_graph import (
    mol_options,
    mols_to_batch,
    parse_smiles,
    prepare_mol,
)

STATUS_COLUMNS = ("row", "input", "ok", "error_type", "error")


@dataclass
class FeaturizeResult:
    """Graphs of the rows that featurised, and one status row per input row, in input order.

    ``status`` columns: ``row`` (position in the input), ``input`` (the SMILES, or the molecule's
    SMILES), ``ok``, ``error_type`` and ``error`` (the reason, naming the row and the input).
    """

    status: pd.DataFrame
    batch: BatchParts | None = field(repr=False)  # the featurised rows, in input order

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows that featurised."""
        return self.status["ok"].to_numpy(dtype=bool)

    @property
    def num_failed(self) -> int:
        return int((~self.ok).sum())

    @cached_property
    def graphs(self) -> list[dgl.DGLGraph | None]:
        """One graph per input row; ``None`` where the row failed (see ``status``)."""
        out: list[dgl.DGLGraph | None] = [None] * len(self.status)
        for g, row in enumerate(np.flatnonzero(self.ok)):
            out[row] = build_graph(self.batch.graph_parts(g).copy())
        return out

    def batched(self) -> dgl.DGLGraph:
        """The featurised rows as one batched graph, in input order (failed rows skipped)."""
        if self.batch is None:
            raise ChemNoetherError(f"no row featurised; reasons: {self.failures()['error'].head(5).tolist()}")
        # a copy: in-place edits of the graph must not reach this result's later graphs
        return build_batched_graph(self.batch.copy())

    def failures(self) -> pd.DataFrame:
        """Status rows of the inputs that failed, with their reasons."""
        return self.status[~self.status["ok"]]


@contextmanager
def _gc_paused():
    # Featurising allocates many small, short-lived objects; the cyclic collector's passes over
    # every live graph made long runs about 30% slower, and nothing here creates cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _featurize_chunk(items: Sequence, start: int, kind: str, options: dict):
    """The chunk's featurised rows as one ``BatchParts`` (None if none), and an error (or None) per item."""
    opts = mol_options(options)
    prepared, errors = [], []
    with _gc_paused(), rdBase.BlockLogs():
        for offset, item in enumerate(items):
            try:
                mol = parse_smiles(item) if kind == "smiles" else item
                prepared.append(prepare_mol(mol, opts))
                errors.append(None)
            except _ROW_ERRORS as err:
                prepared.append(None)
                errors.append(_row_error(err, start + offset, item if kind == "smiles" else None))
        ok = [i for i, p in enumerate(prepared) if p is not None]
        batch = None
        if ok:
            try:
                # all molecules of the chunk at once: the fast path
                batch = mols_to_batch([prepared[i] for i in ok], opts)
            except _ROW_ERRORS:
                # some molecule broke the shared pass: find it one by one, so only its row fails
                for i in list(ok):
                    try:
                        mols_to_batch([prepared[i]], opts)
                    except _ROW_ERRORS as err:
                        errors[i] = _row_error(err, start + i, items[i] if kind == "smiles" else None)
                        ok.remove(i)
                batch = mols_to_batch([prepared[i] for i in ok], opts) if ok else None
    return batch, errors


# ValueError/RuntimeError: RDKit's own failures deep inside (kekulisation, embedding, ...)
_ROW_ERRORS = (ChemNoetherError, ValueError, RuntimeError)


def _row_error(err: Exception, row: int, smiles: str | None) -> tuple[str, str]:
    message = str(err)
    if smiles is not None and repr(smiles) not in message:
        message = f"SMILES {smiles!r}: {message}"
    return type(err).__name__, f"row {row}: {message}"


def _display(item, kind: str) -> str:
    if kind == "smiles":
        return item if isinstance(item, str) else repr(item)
    if item is None:
        return "None"

    try:
        return Chem.MolToSmiles(item)
    except Exception:  # noqa: BLE001 - a label for the status table only
        return repr(item)


def _featurize(items: Sequence, kind: str, n_jobs: int, chunk_size: int, progress: bool, options: dict) -> FeaturizeResult:
    items = list(items)
    starts = list(range(0, len(items), chunk_size))
    bar = tqdm(total=len(items), desc="featurize", unit="mol", disable=not progress)
    chunks: Iterable
    if n_jobs == 1:
        chunks = (_featurize_chunk(items[s : s + chunk_size], s, kind, options) for s in starts)
    else:
        # loky workers import chemnoether (and its DGL import fix) before unpickling the task
        parallel = Parallel(n_jobs=n_jobs, return_as="generator")
        chunks = parallel(delayed(_featurize_chunk)(items[s : s + chunk_size], s, kind, options) for s in starts)
    batches: list[BatchParts] = []
    errors: list = []
    with _gc_paused():  # over the whole run: re-enabling between chunks set off full collections
        for chunk_batch, chunk_errors in chunks:
            if chunk_batch is not None:
                batches.append(chunk_batch)
            errors.extend(chunk_errors)
            bar.update(len(chunk_errors))
    bar.close()
    status = pd.DataFrame(
        {
            "row": np.arange(len(items)),
            "input": [_display(x, kind) for x in items],
            "ok": [e is None for e in errors],
            "error_type": [None if e is None else e[0] for e in errors],
            "error": [None if e is None else e[1] for e in errors],
        }
    )
    return FeaturizeResult(status=status, batch=BatchParts.concat(batches) if batches else None)


def featurize_smiles(
    smiles: Iterable[str], *, n_jobs: int = 1, chunk_size: int = 512, progress: bool = False, **options
) -> FeaturizeResult:
    """Featurise SMILES strings; options as for ``mol_to_graph``. ``n_jobs`` > 1 uses processes."""
    mol_options(options)  # a bad option fails here, once, not as an error on every row
    return _featurize(_check_items(smiles, "SMILES strings"), "smiles", _check_jobs(n_jobs), chunk_size, progress, options)


def featurize_mols(mols: Iterable, *, n_jobs: int = 1, chunk_size: int = 512, progress: bool = False, **options) -> FeaturizeResult:
    """Featurise RDKit molecules (``None`` entries become failed rows); options as ``mol_to_graph``."""
    mol_options(options)
    return _featurize(_check_items(mols, "RDKit molecules"), "mol", _check_jobs(n_jobs), chunk_size, progress, options)


def featurize_dataframe(df: pd.DataFrame, column: str, **kwargs) -> FeaturizeResult:
    """Featurise ``df[column]`` (SMILES strings or RDKit molecules); the status keeps ``df``'s index."""
    if column not in df.columns:
        raise KeyError(f"column {column!r} is not in the DataFrame; its columns are {list(df.columns)}")
    # missing cells (None, NaN, pd.NA) become None: failed rows saying "SMILES is None"
    values = [None if _is_missing(v) else v for v in df[column].tolist()]
    is_smiles = all(v is None or isinstance(v, str) for v in values)
    result = featurize_smiles(values, **kwargs) if is_smiles else featurize_mols(values, **kwargs)
    result.status.insert(1, "index", df.index.to_numpy())
    return result


def _is_missing(value) -> bool:
    return value is None or (not isinstance(value, str | Chem.Mol) and bool(pd.isna(value)))


def _check_jobs(n_jobs: int) -> int:
    if n_jobs == -1:
        return os.cpu_count() or 1
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    return n_jobs


def _check_items(items, what: str) -> list:
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ConfigError(f"pass a list (or other iterable) of {what}, not {type(items).__name__} {items!r:.60}")
    return list(items)
