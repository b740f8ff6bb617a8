"""The exception hierarchy: every error the package raises on purpose is a ChemNoetherError.

Messages name the offending input (the SMILES, the file, the frame, the key) and what to do.
``exit_code`` is what the ``chemnoether`` command exits with: 2 for bad input or usage (found
before or while reading it), 1 for a failure during the work itself.
"""

from __future__ import annotations


class ChemNoetherError(Exception):
    """Base class of every error raised by chemnoether on purpose."""

    exit_code = 2


class InvalidMoleculeError(ChemNoetherError, ValueError):
    """A molecule could not be parsed, sanitised or featurised."""


class InvalidStructureError(ChemNoetherError, ValueError):
    """An atomic structure (ASE Atoms) is unusable: no atoms, NaN coordinates, isolated atoms..."""


class UnsupportedElementError(InvalidMoleculeError, InvalidStructureError):
    """An element outside the featurizer's vocabulary (or refused by option, e.g. metals)."""


class MissingConformerError(InvalidMoleculeError):
    """3D positions were required but the molecule has no conformer and embedding was not asked."""


class EmbeddingError(InvalidMoleculeError):
    """RDKit's ETKDG could not embed a conformer."""


class GraphFormatError(ChemNoetherError, ValueError):
    """A graph lacks a key, or a key has the wrong shape, for the operation asked."""


class TrajectoryFormatError(ChemNoetherError, ValueError):
    """A trajectory file is missing a field, has inconsistent shapes, or an unknown layout."""


class ConfigError(ChemNoetherError, ValueError):
    """An option is invalid: a function's keyword, a recipe entry or a command-line flag."""


class SplitOverlapError(ChemNoetherError, ValueError):
    """Windows of two splits share frames (or come closer than the required gap)."""


class SimulationError(ChemNoetherError):
    """A simulation became unstable (energy blow-up, non-finite forces, failed SCC)."""

    exit_code = 1


class NonFiniteLossError(ChemNoetherError, FloatingPointError):
    """The training loss (or gradient norm) became NaN or infinite; names the step and the batch."""

    exit_code = 1


class CheckpointError(ChemNoetherError, ValueError):
    """A checkpoint is unreadable, not plain data, or does not fit the model asked for."""
