"""chemnoether: graph neural networks for chemistry on DGL.

Importing the package makes ``import dgl`` work on a current torch (see ``_dgl_compat``); where
chemnoether is installed, a start-up hook does the same before an ``import dgl`` that comes first.
"""

from chemnoether._dgl_compat import ensure_dgl_importable

ensure_dgl_importable()

__version__ = "0.1.0"

__all__ = ["__version__"]
