"""Test-suite configuration: GPU tests are skipped on machines without CUDA."""

import pytest
import torch

import chemnoether  # noqa: F401 - must precede any `import dgl` (DGL import fix)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
