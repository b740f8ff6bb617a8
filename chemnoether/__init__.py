"""chemnoether: graph neural networks for chemistry on DGL.

Importing the package makes ``import dgl`` work on a current torch (see ``_dgl_compat``): import
chemnoether before dgl (after torch is fine), in worker processes too. After an ``import dgl``
that failed, ``import chemnoether`` still repairs it for the rest of the session.
"""

from chemnoether._dgl_compat import ensure_dgl_importable

ensure_dgl_importable()

__version__ = "0.1.0"

__all__ = ["__version__"]
