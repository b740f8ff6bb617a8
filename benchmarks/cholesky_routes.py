"""Float64 Cholesky routes for the GP head's covariance matrices, timed against each other (issue 14, point 6).

The head (``chemnoether.gp.lagged``) factors, without autograd, one freshly written (B, M, M)
symmetric positive-definite matrix per batch of windows, rows = atoms x 32 frames (256-672 for the
recipe's molecules, ``--rows``), padded with identity rows to the order M it is factored at. Every
route below starts from such a C-contiguous matrix that may be overwritten, and ends with a tensor
whose lower triangle is the factor (what ``solve_triangular(upper=False)`` and the diagonal read).
Each row count is timed at two orders: ``conditioning.padded_order(rows)`` (8 more rows at 512 and
640 only, what the ctypes route used) for the reference and every candidate, and
``lagged.factor_order(rows)`` (the next 16 k + 8) for the route the head now takes:

* ``ctypes_mkl_dpotrf`` (the reference, not a candidate): MKL's ``dpotrf_`` inside libtorch called
  through ctypes in place, no copy, the upper triangle left as it was. What ``gp/_lapack.py`` did
  before this change; kept here only to measure against. Skipped (a row saying why) where torch
  was not built with MKL on x86-64 Linux, or the symbol is not found.
* ``torch_cholesky``: ``torch.linalg.cholesky(A)`` (a column-major copy, the factor, ``tril_``).
* ``torch_cholesky_ex``: ``torch.linalg.cholesky_ex(A)``: the same without the error check.
* ``torch_cholesky_ex_out``: ``cholesky_ex(A, out=...)`` into preallocated column-major buffers.
* ``torch_cholesky_ex_aliased``: ``cholesky_ex(A.mT, out=(A.mT, info))``: the output is the input
  itself (a symmetric matrix is its own transpose, and ``A.mT`` is column-major), so torch's copy
  into ``out`` has nothing to do; the factor, then ``tril_``.
* ``scipy_dpotrf``: ``scipy.linalg.lapack.dpotrf`` on the Fortran-ordered view of each matrix,
  ``overwrite_a=1, clean=0``: in place, no copy (SciPy's own LAPACK, usually OpenBLAS).
* ``scipy_cholesky``: ``scipy.linalg.cholesky(overwrite_a=True, check_finite=False)`` on that view.
* ``head: factor_in_place at factor_order``: ``chemnoether.gp.lagged.factor_in_place`` (the aliased
  ``cholesky_ex``, or the copying one where torch refuses the alias) on the matrix padded to
  ``factor_order(rows)``: LAPACK's column-major lower factor is up to 2.5x slower at orders that are
  multiples of 32 (which the head's are), the upper one that the ctypes route ran is not.
* ``torch_cholesky_ex at factor_order``: the copying ``cholesky_ex`` at that order (the head's
  fallback where torch refuses the alias).

Each route is timed over ``--repeats`` calls, the routes interleaved so that load from other
processes spreads over all of them; the ratios use the fastest call of each route (on a shared
machine the least disturbed one; the median is printed beside it); the matrix is rebuilt (copied from a template,
outside the timer) before every call, since the in-place routes destroy it. Printed: milliseconds
per call and each route's time over the reference's (or over the fastest public route when the
reference is unavailable). Run with one thread, as the recipe does::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cholesky_routes.py [--rows 256 384 ...] [--batch 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import statistics
import time
from pathlib import Path

import torch
from _results import mark_skipped, write_results

import chemnoether  # noqa: F401 - before anything that may import dgl
from chemnoether.gp.conditioning import padded_order
from chemnoether.gp.lagged import factor_in_place, factor_order

ROWS = (256, 384, 448, 480, 512, 640, 672)  # 8, 12, 14, 15, 16, 20, 21 atoms x 32 frames
HEAD_ROUTE = "head: factor_in_place at factor_order"
PLAIN_AT_HEAD_ORDER = "torch_cholesky_ex at factor_order"  # what the head's fallback costs
AT_HEAD_ORDER = (HEAD_ROUTE, PLAIN_AT_HEAD_ORDER)


def _mkl_dpotrf():
    """The reference: libtorch's LP64 ``dpotrf_`` through ctypes (raises where it is not there)."""
    if not (torch.backends.mkl.is_available() and platform.system() == "Linux" and platform.machine() == "x86_64"):
        raise RuntimeError("needs torch with MKL on x86-64 Linux (LP64 dpotrf_ inside libtorch_cpu)")
    routine = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")).dpotrf_
    routine.restype = None
    routine.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]

    def factor(matrix: torch.Tensor) -> torch.Tensor:
        order, info = ctypes.c_int(matrix.shape[-1]), ctypes.c_int(0)
        for problem in matrix:
            # a C-contiguous symmetric matrix read column-major is itself: LAPACK's upper factor U is,
            # read row-major, the lower factor L = U^T
            routine(b"U", ctypes.byref(order), ctypes.c_void_p(problem.data_ptr()), ctypes.byref(order), ctypes.byref(info))
            if info.value:
                raise RuntimeError(f"dpotrf info {info.value}")
        return matrix

    return factor


def _torch_out(matrix: torch.Tensor):
    """``cholesky_ex`` with ``out=`` buffers made once per shape (column-major, as LAPACK writes them)."""
    factor = torch.empty_like(matrix).mT  # batch-contiguous Fortran-ordered matrices
    info = torch.empty(matrix.shape[0], dtype=torch.int32)

    def call(a: torch.Tensor) -> torch.Tensor:
        torch.linalg.cholesky_ex(a, out=(factor, info))
        return factor

    return call


def _torch_aliased(a: torch.Tensor) -> torch.Tensor:
    info = torch.empty(a.shape[0], dtype=torch.int32)
    return torch.linalg.cholesky_ex(a.mT, out=(a.mT, info))[0]


def _scipy_dpotrf(a: torch.Tensor) -> torch.Tensor:
    from scipy.linalg import lapack

    for problem in a.numpy():
        # problem.T: the same memory, Fortran-ordered, equal to the (symmetric) matrix; "upper" there
        # is the lower triangle of the C-ordered tensor
        _, info = lapack.dpotrf(problem.T, lower=0, clean=0, overwrite_a=1)
        if info:
            raise RuntimeError(f"dpotrf info {info}")
    return a


def _scipy_cholesky(a: torch.Tensor) -> torch.Tensor:
    import scipy.linalg

    for problem in a.numpy():
        scipy.linalg.cholesky(problem.T, lower=False, overwrite_a=True, check_finite=False)
    return a


def _matrices(batch: int, rows: int, order: int, seed: int) -> torch.Tensor:
    """(B, order, order) well-conditioned SPD matrices (a covariance plus noise) on ``rows`` rows, identity beyond."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, rows, rows + 8, generator=g, dtype=torch.float64) / rows**0.5
    out = torch.eye(order, dtype=torch.float64).repeat(batch, 1, 1)
    out[:, :rows, :rows] = a @ a.mT + 0.05 * torch.eye(rows, dtype=torch.float64)
    return out


def routes(template: torch.Tensor) -> dict:
    """name -> callable(matrix) -> tensor whose lower triangle is the factor; the reference first if it loads."""
    found = {}
    try:
        found["ctypes_mkl_dpotrf"] = _mkl_dpotrf()
    except (RuntimeError, OSError, AttributeError) as err:
        found["ctypes_mkl_dpotrf"] = err
    found["torch_cholesky"] = torch.linalg.cholesky
    found["torch_cholesky_ex"] = lambda a: torch.linalg.cholesky_ex(a)[0]
    found["torch_cholesky_ex_out"] = _torch_out(template)
    found["torch_cholesky_ex_aliased"] = _torch_aliased
    found["scipy_dpotrf"] = _scipy_dpotrf
    found["scipy_cholesky"] = _scipy_cholesky
    return found


def measure(batch: int, rows_: int, repeats: int) -> list[dict]:
    order, head_order = padded_order(rows_), factor_order(rows_)
    template, head_template = _matrices(batch, rows_, order, seed=rows_), _matrices(batch, rows_, head_order, seed=rows_)
    candidates = {**routes(template), HEAD_ROUTE: lambda a: factor_in_place(a)[0], PLAIN_AT_HEAD_ORDER: lambda a: torch.linalg.cholesky_ex(a)[0]}
    rows, times = {}, {}
    for name, route in candidates.items():
        source = head_template if name in AT_HEAD_ORDER else template
        expected = torch.linalg.cholesky(source)
        row = {"route": name, "batch": batch, "rows": rows_, "order": source.shape[-1]}
        if isinstance(route, Exception):
            rows[name] = mark_skipped(row, f"{name} at {order}", route)
            continue
        try:
            got = route(source.clone()).tril()
            error = float((got - expected).abs().max() / expected.abs().max())
            if not error < 1e-10:  # a route that returns a wrong factor is not timed
                raise RuntimeError(f"factor differs from torch.linalg.cholesky by {error:.1e} (relative)")
        except Exception as err:  # noqa: BLE001 - a route that fails is a row, not a crash
            rows[name] = mark_skipped(row, f"{name} at {order}", err)
            continue
        rows[name], times[name] = row, []
    work = {name: (head_template if name in AT_HEAD_ORDER else template).clone() for name in times}
    for _ in range(repeats):  # interleaved: load from other processes falls on every route alike
        for name in times:
            work[name].copy_(head_template if name in AT_HEAD_ORDER else template)
            began = time.perf_counter()
            candidates[name](work[name])
            times[name].append(time.perf_counter() - began)
    reference = "ctypes_mkl_dpotrf" if "ctypes_mkl_dpotrf" in times else None
    for name, samples in times.items():
        rows[name]["ms"] = 1e3 * min(samples)
        rows[name]["median_ms"] = 1e3 * statistics.median(samples)
    base = rows[reference]["ms"] if reference else min(rows[n]["ms"] for n in times)
    for name in times:
        rows[name]["ratio"] = rows[name]["ms"] / base
        rows[name]["over"] = reference or "fastest public route"
    return list(rows.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROWS), help="atoms x frames of the head's covariances")
    parser.add_argument("--batch", type=int, default=1, help="matrices per call (1: the recipe's one window at a time)")
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    all_rows = []
    print("| rows | order | batch | route | ms / call, fastest (median) | ratio of fastest (over) |\n|---|---|---|---|---|---|")
    for rows in args.rows:
        for row in measure(args.batch, rows, args.repeats):
            all_rows.append(row)
            where = f"| {rows} | {row['order']} | {args.batch} | {row['route']} |"
            if "ms" in row:
                print(f"{where} {row['ms']:.3f} ({row['median_ms']:.3f}) | {row['ratio']:.2f} ({row['over']}) |", flush=True)
            else:
                print(f"{where} — | skipped: {row['skipped']} |", flush=True)
    if args.json:
        write_results(args.json, all_rows, "cpu", batch=args.batch, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
