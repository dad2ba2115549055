"""Resolve ``backend=`` to a callable with torch.compile's protocol ``backend(gm, example_inputs)``.

* ``"eager"`` — run the captured graph as Python (``gm.forward``): the reference backend.
* any other string — a torch.compile backend by name (``"aot_eager"``, ``"inductor"``...),
  looked up in torch's registry.
* a callable — used as is: anything written for torch.compile plugs in unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

Backend = Callable[[torch.fx.GraphModule, list[Any]], Callable[..., Any]]


def eager(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
    return gm.forward


def lookup_backend(backend: str | Backend) -> Backend:
    if callable(backend):
        return backend
    if backend == "eager":
        return eager
    if isinstance(backend, str):
        from torch._dynamo.backends.registry import list_backends, lookup_backend as torch_lookup

        if backend not in list_backends(exclude_tags=()):
            raise ValueError(f"unknown backend {backend!r}; use 'eager', one of {list_backends(exclude_tags=())}, "
                             "or a callable backend(gm, example_inputs)")
        return torch_lookup(backend)
    raise TypeError(f"backend must be a name or a callable backend(gm, example_inputs), not {type(backend).__name__}")
