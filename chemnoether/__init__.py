"""chemnoether: graph neural networks for chemistry on DGL.

Importing the package first makes ``import dgl`` work on a current torch (see ``_dgl_compat``);
import chemnoether before dgl, in worker processes too.
"""

from chemnoether._dgl_compat import ensure_dgl_importable

ensure_dgl_importable()

__version__ = "0.1.0"

__all__ = ["__version__"]
