"""Shared set-up of the GP head tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread while a GP test runs, then the process's own setting again.

    The heads' small batched solves only lose to thread start-up on a shared machine; set per test
    (not at import) so that the rest of the suite runs as it would alone, whatever the order.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
