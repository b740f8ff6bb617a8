"""Make ``import dgl`` work with PyPI's DGL 2.1.0 on a torch newer than it was built for.

``dgl.dataloading`` imports ``dgl.distributed``, which imports ``dgl.graphbolt``, whose import
loads ``libgraphbolt_pytorch_<torch version>.so``; PyPI's wheel only ships that library for torch
2.0.0 - 2.2.1 and raises ``FileNotFoundError`` otherwise. Graphbolt (DGL's giant-graph sampler) is
not used here, so when its library is missing an empty placeholder module stands in for it and
everything else in DGL works. This module is the only place that does so.

Import order does not matter where chemnoether is installed: ``import chemnoether`` runs
``ensure_dgl_importable``, and so does the start-up hook ``chemnoether_dgl_hook`` (installed as
``chemnoether-dgl.pth`` by setup.py) at the first ``import dgl`` of any interpreter of the
environment, spawned workers included. Without the hook (a checkout that was not installed, or
``CHEMNOETHER_DGL_HOOK=0``), ``import chemnoether`` must come before ``import dgl``; an ``import
dgl`` that failed is repaired by a later ``import chemnoether``. No public route fixes DGL itself on
a torch it was not built for: the one index here serves torchdata 0.11 only (no ``datapipes``), and
with ``datapipes`` graphbolt's import goes on to need pydantic and then the missing library.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import types

import torch

logger = logging.getLogger("chemnoether")

PLACEHOLDER_ATTR = "__chemnoether_placeholder__"


def _graphbolt_library_path() -> str | None:
    """Path where DGL will look for graphbolt for the running torch, or None without DGL."""
    spec = importlib.util.find_spec("dgl")
    if spec is None or not spec.submodule_search_locations:
        return None

    version = torch.__version__.split("+", maxsplit=1)[0]
    root = list(spec.submodule_search_locations)[0]
    return os.path.join(root, "graphbolt", f"libgraphbolt_pytorch_{version}.so")


def graphbolt_needs_placeholder() -> bool:
    """True when the installed DGL has no graphbolt library for the running torch."""
    if not sys.platform.startswith("linux"):
        return False
    path = _graphbolt_library_path()
    return path is not None and not os.path.exists(path)


def ensure_dgl_importable() -> bool:
    """Register the graphbolt placeholder if needed; returns True when it was registered now.

    Must run before the first ``import dgl`` in the process: ``import chemnoether`` and the
    start-up hook (``chemnoether_dgl_hook``) call it.
    """
    if "dgl" in sys.modules or "dgl.graphbolt" in sys.modules:
        return False
    needed = graphbolt_needs_placeholder()
    # looking DGL up goes through the start-up hook's finder, which calls this function: when that
    # inner call has registered the placeholder, this one has nothing left to do
    if not needed or "dgl.graphbolt" in sys.modules:
        return False
    placeholder = types.ModuleType("dgl.graphbolt")
    placeholder.__doc__ = "Placeholder registered by chemnoether: graphbolt is not available."
    setattr(placeholder, PLACEHOLDER_ATTR, True)
    sys.modules["dgl.graphbolt"] = placeholder
    logger.info(
        "chemnoether: DGL's graphbolt has no library for this torch; "
        "registered an empty dgl.graphbolt (sampling of giant graphs is unavailable, the rest of DGL works)."
    )
    return True
