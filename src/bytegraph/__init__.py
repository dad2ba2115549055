"""bytegraph: capture PyTorch programs as torch.fx graphs by interpreting CPython bytecode.

    import bytegraph
    model_c = bytegraph.compile(model)              # an nn.Module or a function
    out = model_c(x)                                # first call captures; later calls hit the cache

See DESIGN.md for the architecture; ``python -m bytegraph demo`` for a tour.
"""

from __future__ import annotations

import sys

SUPPORTED_PYTHON = ((3, 11), (3, 12), (3, 13))
if sys.version_info[:2] not in SUPPORTED_PYTHON:
    raise ImportError(
        f"bytegraph supports CPython {', '.join('%d.%d' % v for v in SUPPORTED_PYTHON)}; "
        f"this is Python {sys.version_info[0]}.{sys.version_info[1]}. "
        "Its bytecode interpreter is written per Python version.")

from .api import compile, compiled_autograd, reset  # noqa: E402
from .config import config  # noqa: E402
from .diagnostics.errors import CompileError  # noqa: E402
from .diagnostics.logs import set_logs  # noqa: E402
from .graph.shapes import mark_dynamic, mark_static, maybe_mark_dynamic  # noqa: E402
from .runtime.explain import explain  # noqa: E402

__all__ = ["CompileError", "compile", "compiled_autograd", "config", "explain", "mark_dynamic", "mark_static",
           "maybe_mark_dynamic", "reset", "set_logs"]
