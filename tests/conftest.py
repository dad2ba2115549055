import os

# Triton kernels in the tests run through Triton's interpreter on CPU tensors (tests/capture/test_triton.py).
# It must be set before anything imports triton (Inductor does), or triton.language's own jit
# functions (tl.sum...) are compiled kernels that the interpreter cannot call.
if os.environ.get("BYTEGRAPH_TEST_DEVICE", "cpu") == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

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
