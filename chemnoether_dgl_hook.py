"""Start-up hook that makes ``import dgl`` work without importing chemnoether first.

chemnoether installs ``chemnoether-dgl.pth`` next to this module in site-packages; Python runs its
one line, ``install()``, at the start of every interpreter of the environment, spawned workers
included. ``install`` only puts a finder at the front of ``sys.meta_path``: this module imports
nothing but ``sys`` and ``os`` (already loaded by ``site``), because it costs every Python of the
environment, and it never raises, because a broken hook must not break them. The finder acts once,
at the first import of top-level ``dgl``: it removes itself, runs chemnoether's own fix
(``chemnoether._dgl_compat.ensure_dgl_importable``, which does nothing where DGL has its graphbolt
library or DGL is absent) and returns None, so the normal finders load DGL.

Set ``CHEMNOETHER_DGL_HOOK=0`` to turn the hook off (``import chemnoether`` first then still works).
See docs/design.md, "DGL on a current torch".
"""

import os
import sys

DISABLE_ENV = "CHEMNOETHER_DGL_HOOK"


class DglFirstImportFinder:
    """``sys.meta_path`` entry that runs ``prepare`` before the first ``import dgl``, then steps aside.

    It never returns a spec: DGL is always loaded by the finders behind it.
    """

    def __init__(self, prepare, meta_path: list):
        self._prepare = prepare
        self._meta_path = meta_path
        self.done = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "dgl" or self.done:
            return None
        self.done = True
        # leave before preparing: the fix looks DGL up with importlib.util.find_spec("dgl"),
        # which would come back here
        self.remove()
        try:
            self._prepare()
        except ImportError as error:
            # chemnoether itself is gone (a stale .pth): DGL imports as if the hook did not exist
            _log("debug", "chemnoether_dgl_hook: chemnoether is not importable (%s); importing dgl unchanged", error)
        except Exception:  # noqa: BLE001 - the user's `import dgl` must go on to DGL's own error, not ours
            _log(
                "warning",
                "chemnoether_dgl_hook: preparing `import dgl` failed; if DGL then fails in graphbolt, "
                "`import chemnoether` before dgl, or reinstall chemnoether",
                exc_info=True,
            )
        return None

    def remove(self) -> None:
        """Take this finder off the meta path (no error when it is not there)."""
        if self in self._meta_path:
            self._meta_path.remove(self)


def _ensure_dgl_importable() -> None:
    # imported here, at the first `import dgl`, never at start-up: chemnoether's __init__ is light
    # (it imports only _dgl_compat) and the fix imports torch only when DGL is installed
    from chemnoether._dgl_compat import ensure_dgl_importable  # noqa: PLC0415

    ensure_dgl_importable()


def _log(level: str, message: str, *args, **kwargs) -> None:
    import logging  # noqa: PLC0415 - logging costs milliseconds; only a failure pays for it

    getattr(logging.getLogger("chemnoether"), level)(message, *args, **kwargs)


def install(meta_path: list | None = None, prepare=None) -> DglFirstImportFinder | None:
    """Put the finder on ``meta_path`` (default ``sys.meta_path``); returns it, or None when it is not needed.

    Not needed: turned off with ``CHEMNOETHER_DGL_HOOK=0``, DGL already imported, or a finder of
    this kind already installed. Never raises (it runs at interpreter start-up).
    """
    try:
        meta_path = sys.meta_path if meta_path is None else meta_path
        if os.environ.get(DISABLE_ENV, "1") == "0" or "dgl" in sys.modules:
            return None
        if any(isinstance(finder, DglFirstImportFinder) for finder in meta_path):
            return None
        finder = DglFirstImportFinder(prepare or _ensure_dgl_importable, meta_path)
        meta_path.insert(0, finder)
        return finder
    except Exception:  # noqa: BLE001 - see the module docstring: start-up must not fail
        try:
            _log("debug", "chemnoether_dgl_hook: not installed", exc_info=True)
        except Exception:  # noqa: BLE001
            pass
        return None
