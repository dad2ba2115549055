import pytest
import torch

import bytegraph
from bytegraph.testing import CompileCounter


@pytest.fixture(autouse=True)
def _fresh_state():
    torch.manual_seed(0)
    yield
    bytegraph.reset()


@pytest.fixture
def counter() -> CompileCounter:
    return CompileCounter()
