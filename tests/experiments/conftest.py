"""The experiments' tests: tiny models on one torch thread."""
import pytest
import torch


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread for these tiny models: on a busy 2-core machine two threads wait on each other (~10× slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
