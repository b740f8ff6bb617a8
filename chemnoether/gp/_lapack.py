"""LAPACK's float64 Cholesky (``dpotrf``) in place on a CPU tensor, without ``torch.linalg``'s copies.

``torch.linalg.cholesky_ex`` copies its input to a column-major buffer, factors it and then zeroes
the other triangle with ``tril_``: for the GP head's 384-672-row matrices the copy and the
``tril_`` cost 0.3-0.9 ms, about as much as the factorisation itself below 520 rows. Here the
matrix the caller has just built (and will not read again) is factored where it lies, and its
upper triangle is left as it was: a triangular solve with ``upper=False`` and the diagonal are all
that read the factor. The routine is the one torch itself calls (the MKL in the x86-64 wheels,
whose LP64 symbols ``libtorch_cpu`` exports; used only with MKL on x86-64 Linux), found once and
checked against ``torch.linalg.cholesky`` on a small matrix; elsewhere, or where it is not found or
disagrees, ``factor_in_place`` falls back to ``torch.linalg.cholesky_ex``. SciPy's ``dpotrf``
(OpenBLAS) would avoid ``ctypes`` but ran 1.7-1.9x slower than MKL here at 384-672 rows.
"""

from __future__ import annotations

import ctypes
import functools
import platform
from pathlib import Path

import torch
from torch import Tensor


@functools.cache
def _dpotrf():
    """The LP64 ``dpotrf_`` torch links, or None (not found, or it fails the check)."""
    # only where that symbol is known to be MKL's LP64 routine (torch's x86-64 Linux wheels): a
    # routine of another integer width would be called with the wrong argument types
    if not (torch.backends.mkl.is_available() and platform.system() == "Linux" and platform.machine() == "x86_64"):
        return None
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        routine = ctypes.CDLL(str(library)).dpotrf_  # already loaded by torch: only a handle
    except (OSError, AttributeError):
        return None
    routine.restype = None
    routine.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    with torch.inference_mode(False):
        g = torch.Generator().manual_seed(0)
        a = torch.randn(40, 45, generator=g, dtype=torch.float64)
        matrix = a @ a.T + torch.eye(40, dtype=torch.float64)
        mine = matrix.clone()
        info = _call(routine, mine)
        if info != 0 or not torch.allclose(mine.tril(), torch.linalg.cholesky(matrix), rtol=1e-12, atol=1e-12):
            return None
    return routine


def _call(routine, matrix: Tensor) -> int:
    order, info = ctypes.c_int(matrix.shape[-1]), ctypes.c_int(0)
    # a C-contiguous symmetric matrix is its own Fortran transpose: LAPACK's "U" factor U (A = U^T U,
    # column-major) is, read row-major, the lower factor L = U^T
    routine(b"U", ctypes.byref(order), ctypes.c_void_p(matrix.data_ptr()), ctypes.byref(order), ctypes.byref(info))
    return info.value


def factor_in_place(matrix: Tensor) -> tuple[Tensor, Tensor]:
    """``(factor, info)`` of a batch (B, M, M) of symmetric float64 matrices: ``factor``'s lower
    triangle is the Cholesky factor L (its upper triangle is undefined: read it with ``tril`` or
    ``solve_triangular(upper=False)``); ``info`` (B,) is LAPACK's (0: positive definite; k > 0: the
    leading minor of order k is not). On a contiguous CPU batch the factor is ``matrix`` itself,
    overwritten (where ``info`` is not 0 too: rebuild the matrix before trying again)."""
    routine = _dpotrf() if matrix.device.type == "cpu" and matrix.dtype == torch.float64 and matrix.is_contiguous() else None
    if routine is None:
        return torch.linalg.cholesky_ex(matrix)
    info = torch.tensor([_call(routine, problem) for problem in matrix], dtype=torch.int32)
    return matrix, info
