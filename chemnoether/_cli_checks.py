"""What every command shares: checks of outputs and options before any work starts, and signals.

A path that cannot be written is found out in a millisecond, not after an hour of featurising or
training; each check raises a ``ConfigError`` naming the option, the path and the fix. Ctrl-C
and SIGTERM end a command with exit code 130 / 143 and one line saying what was kept.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chemnoether.errors import ConfigError

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report it


class Terminated(BaseException):
    """SIGTERM arrived; a BaseException like KeyboardInterrupt, so ``except Exception`` lets it pass."""


def signal_name(signum: int) -> str:
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name


def interrupted_exit(command: str, signum: int, kept: str) -> int:
    """Say on one line that ``command`` was interrupted and what was ``kept``; the exit code."""
    print(f"chemnoether {command}: interrupted: {signal_name(signum)}; {kept}", file=sys.stderr)
    return SIGNAL_EXIT[signum]


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` can be written as a file: not a folder, under folders that exist or can be made."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; pass a file path, e.g. {path / 'out'}")
    _check_creatable_under(path, option)
    return path


def check_output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` can be used (or made) as a folder that files are written into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder; pass a folder path (it is created if missing)")
    if path.is_dir():
        _check_writable(path, option, path)
    else:
        _check_creatable_under(path, option)
    return path


def check_ase_format(name: str, option: str = "--format") -> str:
    """``name`` is a format ``ase.io.write`` can write."""
    from ase.io.formats import ioformats  # lazy: keeps ASE out of `import chemnoether._cli_checks`

    writable = sorted(key for key, fmt in ioformats.items() if fmt.can_write)
    if name not in writable:
        close = [key for key in writable if key.startswith(name[:3])] or ["extxyz", "xyz", "traj"]
        raise ConfigError(f"{option} {name!r} is not a format ase.io can write; try one of {', '.join(close[:6])}")
    return name


def whole_number(minimum: int):
    """An argparse ``type``: a whole number >= ``minimum``, with one message for every bad value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"whole number >= {minimum}"  # what argparse prints for a failed conversion
    return parse


def positive_number(text: str) -> float:
    """An argparse ``type``: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises ``Terminated`` (atomic writes then clean up, like for Ctrl-C)."""

    def handler(signum, frame):
        raise Terminated(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_creatable_under(path: Path, option: str) -> None:
    # the nearest folder that exists is where the missing ones (and the file) would be made
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is a file, so nothing can be created under it; choose another path")
    _check_writable(ancestor, option, path)


def _check_writable(folder: Path, option: str, path: Path) -> None:
    # a real probe: os.access says yes to root even on read-only or virtual file systems (/sys)
    try:
        fd, probe = tempfile.mkstemp(prefix=".chemnoether-probe.", dir=folder)
    except OSError as err:
        raise ConfigError(
            f"{option} {path}: cannot write in {folder} ({err.strerror or err}); choose a path in a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(probe)
