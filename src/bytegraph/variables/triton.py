"""Triton kernels launched from traced code: one graph node per launch, no graph break.

``kernel[grid](*args, **kwargs)`` and ``kernel.run(*args, grid=grid, warmup=False, **kwargs)``
for a ``triton.jit`` kernel, wrapped by ``triton.autotune`` and ``triton.heuristics`` in any
order, become one node. The launch is resolved at trace time, as torch.compile resolves it:

* arguments are bound to the kernel's parameter names; tensors and symbolic ints are graph
  values, everything else (constexprs, launch options, constant ints) is a constant of the
  node, guarded by value where it came from;
* the grid is a tuple, or a callable of the meta-parameters traced once per autotuner config
  (``meta`` = the arguments, the config's kwargs and the heuristics' values), so it may use
  symbolic sizes;
* the node knows which tensors the kernel may write, so every backend keeps in-place
  semantics (AOTAutograd functionalizes the node; ``OutputGraph.mutated_inputs`` sees it).

How the node is built depends on the innermost kernel's class (``LAUNCHERS``):

* ``JITFunction`` (a compiled GPU kernel): torch's own higher-order op
  ``triton_kernel_wrapper_mutation``, what torch.compile records, so Inductor compiles the
  kernel into its output code (autotuning among the configs itself).
* ``InterpretedFunction`` (``TRITON_INTERPRET=1``: Triton's interpreter on CPU tensors):
  Inductor does not know that class, so the launch is ``torch.ops.bytegraph.triton_launch``,
  a custom op whose schema marks the tensors the kernel may write (found from the kernel's
  source, conservatively) and which launches the user's own kernel object at run time, so
  heuristics and autotuning run as in eager. Its registry is keyed by content (kernel source,
  argument names, constants), so a graph cached by Inductor in another process finds the
  same kernel.

Triton is imported only when a program uses it (``is_triton_kernel`` looks at sys.modules).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
from typing import Any, Callable

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..sources import AttrSource, ItemSource
from .base import NotConstant, Tx, VariableTracker, pymethod
from .dicts import DictVariable


def is_triton_kernel(value: Any) -> bool:
    """A Triton kernel object (jit, interpreted, autotuned or with heuristics); False without
    importing Triton when the program never did."""
    jit = sys.modules.get("triton.runtime.jit")
    return jit is not None and isinstance(value, jit.KernelInterface)


def kernel_layers(kernel: Any) -> tuple[list[Any], Any]:
    """The wrappers (autotuner, heuristics) from the outside in, and the kernel they wrap."""
    from triton.runtime.autotuner import Autotuner, Heuristics

    layers = []
    while isinstance(kernel, (Autotuner, Heuristics)):
        layers.append(kernel)
        kernel = kernel.fn
    return layers, kernel


class TritonKernelVariable(VariableTracker):
    """A Triton kernel object, and (after ``kernel[grid]``) the grid it is launched on."""

    def __init__(self, kernel: Any, grid: VariableTracker | None = None, source: Any = None) -> None:
        super().__init__(source)
        self.kernel = kernel
        self.grid = grid

    def python_type(self) -> type:
        return type(self.kernel)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        if self.grid is not None:
            raise Unsupported(breaks.UNSUPPORTED_CALL, "a Triton kernel indexed twice (kernel[grid][grid])")
        return TritonKernelVariable(self.kernel, key, self.source)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in type(self)._methods:
            return super().var_getattr(tx, name)
        if not hasattr(self.kernel, name):
            raise UserCodeError(AttributeError(f"'{type(self.kernel).__name__}' object has no attribute '{name}'"))
        value = getattr(self.kernel, name)
        return tx.wrap(value, AttrSource(self.source, name)) if self.source is not None else tx.wrap_const(value)

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if self.grid is None:
            raise Unsupported(breaks.UNSUPPORTED_CALL, "a Triton kernel called without a grid (use kernel[grid](...))")
        return launch(tx, self, self.grid, args, kwargs)

    @pymethod("run")
    def _run(self, tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
        """``kernel.run(*args, grid=grid, warmup=False, **kwargs)``: the same launch."""
        grid = kwargs.pop("grid", None)
        warmup = kwargs.pop("warmup", None)
        if grid is None:
            raise Unsupported(breaks.UNSUPPORTED_CALL, "Triton kernel.run() without a grid")
        if warmup is not None and warmup.truth(tx):
            raise Unsupported(breaks.UNSUPPORTED_CALL, "Triton kernel.run(warmup=True) (compiles without launching)")
        return launch(tx, self, grid, list(args), kwargs)

    def describe(self) -> str:
        return f"Triton kernel {_kernel_name(self.kernel)}"


def is_tensor_descriptor_class(value: Any) -> bool:
    module = sys.modules.get("triton.tools.tensor_descriptor")
    return module is not None and value is module.TensorDescriptor


def is_tensor_descriptor(value: Any) -> bool:
    module = sys.modules.get("triton.tools.tensor_descriptor")
    return module is not None and type(value) is module.TensorDescriptor


class TensorDescriptorVariable(VariableTracker):
    """A Triton tensor descriptor (``TensorDescriptor.from_tensor(x, block_shape)``, the TMA
    descriptors of Hopper and newer): the tensor it describes and its block shape. A launch
    passes the tensor, and the descriptor is rebuilt from it where the kernel runs (torch's op
    takes it as ``tma_descriptor_metadata``), so the graph holds only tensors."""

    def __init__(self, tensor: VariableTracker, block_shape: tuple[int, ...], padding: str = "zero",
                 round_f32_to_tf32: bool = False, source: Any = None) -> None:
        super().__init__(source)
        self.tensor = tensor
        self.block_shape = block_shape
        self.options = (padding, round_f32_to_tf32)

    def python_type(self) -> type:
        return sys.modules["triton.tools.tensor_descriptor"].TensorDescriptor

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        fields = {"base": lambda: self.tensor, "block_shape": lambda: tx.wrap_const(list(self.block_shape)),
                  "padding": lambda: tx.wrap_const(self.options[0]),
                  "round_f32_to_tf32": lambda: tx.wrap_const(self.options[1]),
                  "shape": lambda: self.tensor.var_getattr(tx, "shape"),
                  "strides": lambda: self.tensor.call_method(tx, "stride", [], {})}
        if name in fields:
            return fields[name]()
        raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"{name} of a Triton tensor descriptor")

    def reconstruct(self, cg: Any) -> None:
        """A descriptor that outlives the trace: made again from its tensor."""
        if self.source is not None:
            return super().reconstruct(cg)
        cg.push_callable(self.python_type().from_tensor)
        cg.reconstruct(self.tensor)
        cg.load_const(list(self.block_shape))
        cg.load_const(self.options[0])
        cg.load_const(self.options[1])
        cg.call(4)


def make_tensor_descriptor(tx: Tx, tensor: VariableTracker, block_shape: VariableTracker,
                           padding: VariableTracker | None = None,
                           round_f32_to_tf32: VariableTracker | None = None) -> TensorDescriptorVariable:
    """``TensorDescriptor.from_tensor(tensor, block_shape, padding, round_f32_to_tf32)`` while tracing."""
    tensor = tensor.realize()
    if not tensor.is_tensor:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"a Triton tensor descriptor of {tensor.describe()}")
    try:
        shape = tuple(int(vt.realize().as_constant()) for vt in block_shape.realize().unpack(tx))
        options = (padding.as_constant() if padding is not None else "zero",
                   bool(round_f32_to_tf32.as_constant()) if round_f32_to_tf32 is not None else False)
    except NotConstant:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, "a Triton tensor descriptor whose block shape is not constant") from None
    return TensorDescriptorVariable(tensor, shape, *options)


class TensorDescriptorClassVariable(VariableTracker):
    """The ``TensorDescriptor`` class: ``from_tensor`` (and the constructor, with the tensor's own
    shape and strides) make a TensorDescriptorVariable."""

    def __init__(self, cls: type, source: Any = None) -> None:
        super().__init__(source)
        self.cls = cls

    def python_type(self) -> type:
        return type

    def as_constant(self) -> Any:
        return self.cls

    @pymethod("from_tensor")
    def _from_tensor(self, tx: Tx, *args: VariableTracker, **kwargs: VariableTracker) -> VariableTracker:
        return make_tensor_descriptor(tx, *args, **kwargs)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        if name in type(self)._methods:
            return super().var_getattr(tx, name)
        return tx.wrap_const(getattr(self.cls, name))

    def describe(self) -> str:
        return "the Triton TensorDescriptor class"


def descriptor_from_source(tx: Tx, value: Any, source: Any) -> TensorDescriptorVariable:
    """A descriptor made outside the trace: its tensor and block shape, read (and guarded)
    through the source; its shape and strides must be the tensor's own."""
    tensor = tx.wrap(value.base, AttrSource(source, "base")).realize()
    fields = {name: tx.wrap(getattr(value, name), AttrSource(source, name)).realize()
              for name in ("block_shape", "padding", "round_f32_to_tf32", "shape", "strides")}
    if [int(d) for d in value.shape] != list(value.base.shape) or \
            [int(d) for d in value.strides] != list(value.base.stride()):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, "a Triton tensor descriptor whose shape or strides are not its tensor's")
    for name in ("shape", "strides"):
        for vt in fields[name].unpack(tx):
            vt.realize().as_constant()
    vt = make_tensor_descriptor(tx, tensor, fields["block_shape"], fields["padding"], fields["round_f32_to_tf32"])
    vt.source = source
    return vt


# -- resolving a launch ----------------------------------------------------------------------

def launch(tx: Tx, kvt: TritonKernelVariable, grid: VariableTracker, args: list[VariableTracker],
           kwargs: dict[str, VariableTracker]) -> VariableTracker:
    layers, base = kernel_layers(kvt.kernel)
    launcher = next((lau for cls, lau in _launchers() if isinstance(base, cls)), None)
    if launcher is None:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"a Triton kernel of class {type(base).__qualname__}")
    bound = _bind(base, args, kwargs)
    constexprs = _constexpr_names(base)
    values: dict[str, VariableTracker] = {}       # graph values: tensors and symbolic numbers
    constants: dict[str, Any] = {}
    descriptors: dict[str, TensorDescriptorVariable] = {}
    for name, vt in bound.items():
        vt = vt.realize()
        if isinstance(vt, TensorDescriptorVariable):
            descriptors[name] = vt
            values[name] = vt.tensor
        elif vt.is_tensor:
            values[name] = vt
        elif vt.is_symbolic and name not in constexprs:
            values[name] = vt
        else:
            try:
                constants[name] = vt.as_constant()    # a symbolic constexpr is specialized (guarded)
            except NotConstant:
                raise Unsupported(breaks.UNSUPPORTED_VALUE,
                                  f"argument {name!r} of {kvt.describe()} is {vt.describe()}") from None
    _guard_configs(tx, kvt, layers)
    grids = [_grid_for(tx, grid, layers, bound, config) for config in _configs(layers)]
    launcher(tx, kvt.kernel, layers, base, values, constants, grids, descriptors)
    return tx.wrap_const(None)


def _bind(base: Any, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> dict[str, VariableTracker]:
    names = list(base.arg_names)
    if len(args) > len(names):
        raise UserCodeError(TypeError(f"{_kernel_name(base)}() takes {len(names)} arguments, {len(args)} given"))
    bound = dict(zip(names, args))
    for name, vt in kwargs.items():
        if name in bound:
            raise UserCodeError(TypeError(f"{_kernel_name(base)}() got multiple values for argument '{name}'"))
        bound[name] = vt
    return bound


def _constexpr_names(base: Any) -> frozenset[str]:
    """Parameters annotated ``tl.constexpr`` (also as a string, under ``from __future__ import
    annotations``)."""
    import triton.language as tl

    params = inspect.signature(base.fn).parameters
    return frozenset(n for n, p in params.items()
                     if p.annotation is tl.constexpr or (isinstance(p.annotation, str) and
                                                         p.annotation.split(".")[-1] == "constexpr"))


def _configs(layers: list[Any]) -> list[Any]:
    from triton.runtime.autotuner import Autotuner

    tuners = [layer for layer in layers if isinstance(layer, Autotuner)]
    if len(tuners) > 1:
        raise Unsupported(breaks.UNSUPPORTED_CALL, "a Triton kernel with two @triton.autotune decorators")
    return list(tuners[0].configs) if tuners else [None]


def _guard_configs(tx: Tx, kvt: TritonKernelVariable, layers: list[Any]) -> None:
    """The autotuner's configs are part of the launch: guarded by value (each config's kwargs
    and launch options), reached through the kernel's source."""
    from triton.runtime.autotuner import Autotuner

    if kvt.source is None:
        return
    src = kvt.source
    for layer in layers:
        if isinstance(layer, Autotuner):
            configs = tx.wrap(layer.configs, AttrSource(src, "configs")).realize()
            for i, config in enumerate(layer.configs):
                csrc = ItemSource(AttrSource(src, "configs"), i)
                kw = tx.wrap(config.kwargs, AttrSource(csrc, "kwargs")).realize()
                kw.keys()
                for key in config.kwargs:
                    kw.value(key).as_constant()
                for option in ("num_warps", "num_stages", "num_ctas"):
                    if hasattr(config, option):
                        tx.wrap(getattr(config, option), AttrSource(csrc, option)).realize()
            configs.unpack(tx)
        if layer is not kvt.kernel:
            src = AttrSource(src, "fn")


def _grid_for(tx: Tx, grid: VariableTracker, layers: list[Any], bound: dict[str, VariableTracker],
              config: Any) -> tuple[Any, ...]:
    """The grid for one config: the tuple given, or the grid callable traced on the meta-parameters
    (the arguments, the config's kwargs, and the values of the heuristics outside and inside)."""
    grid = grid.realize()
    if grid.python_type() in (tuple, list):
        items = grid.unpack(tx)
    else:
        meta = dict(bound)
        if config is not None:
            meta.update({k: tx.wrap_const(v) for k, v in config.kwargs.items()})
        for layer in layers:
            for name, fn in getattr(layer, "values", {}).items():      # a Heuristics layer
                value = tx.call(tx.wrap_const(fn), [DictVariable(meta)], {})
                meta[name] = value
        items = tx.call(grid, [DictVariable(meta)], {}).realize().unpack(tx)
    if not 1 <= len(items) <= 3:
        raise UserCodeError(ValueError(f"a Triton grid has 1 to 3 dimensions, got {len(items)}"))
    out = []
    for vt in items:
        vt = vt.realize()
        out.append(vt if vt.is_symbolic else vt.as_constant())
    return (*out, *([1] * (3 - len(out))))


# -- the nodes -----------------------------------------------------------------------------

def _hop_launch(tx: Tx, kernel: Any, layers: list[Any], base: Any, values: dict[str, VariableTracker],
                constants: dict[str, Any], grids: list[tuple[Any, ...]],
                descriptors: dict[str, TensorDescriptorVariable]) -> None:
    """torch's ``triton_kernel_wrapper_mutation`` (compiled GPU kernels): what torch.compile
    emits, so Inductor compiles the kernel itself. Heuristics outside the autotuner are
    evaluated now and passed as constants (the op takes a jit kernel or an autotuner)."""
    from ..torch_compat import (
        create_tma_stable_metadata,
        kernel_side_table,
        triton_kernel_wrapper_mutation,
    )
    from triton.runtime.autotuner import Heuristics

    while isinstance(kernel, Heuristics):
        for name, fn in kernel.values.items():
            value = tx.call(tx.wrap_const(fn), [DictVariable({**values, **{k: tx.wrap_const(v)
                                                                           for k, v in constants.items()}})], {})
            constants[name] = value.as_constant()
        kernel = kernel.fn
    if any(isinstance(layer, Heuristics) for layer in kernel_layers(kernel)[0]):
        raise Unsupported(breaks.UNSUPPORTED_CALL, "@triton.heuristics inside @triton.autotune on a compiled kernel")
    tx.graph.call_function(triton_kernel_wrapper_mutation, [], {
        "kernel_idx": kernel_side_table.add_kernel(kernel),
        "constant_args_idx": kernel_side_table.add_constant_args(constants),
        "grid": grids, "kwargs": values,
        "tma_descriptor_metadata": {n: create_tma_stable_metadata(list(d.block_shape)) for n, d in descriptors.items()}})
    if any(d.options != ("zero", False) for d in descriptors.values()):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, "a Triton tensor descriptor with padding or tf32 rounding options")


def _interpreted_launch(tx: Tx, kernel: Any, layers: list[Any], base: Any, values: dict[str, VariableTracker],
                        constants: dict[str, Any], grids: list[tuple[Any, ...]],
                        descriptors: dict[str, TensorDescriptorVariable]) -> None:
    """``torch.ops.bytegraph.triton_launch`` (Triton's interpreter): the user's kernel object is
    launched at run time; tensors the kernel may write are the op's mutated argument."""
    written_names = written_arguments(base, [n for n, vt in values.items() if vt.is_tensor])
    tensors = [n for n, vt in values.items() if vt.is_tensor]
    written = [n for n in tensors if n in written_names]
    read = [n for n in tensors if n not in written_names]
    numbers = [n for n, vt in values.items() if not vt.is_tensor]
    configs = _configs(layers)
    specs = {n: (d.block_shape, *d.options) for n, d in descriptors.items()}
    key = _register(kernel, base, written, read, numbers, constants, configs, specs)
    flat = [d for g in grids for d in g]
    tx.graph.call_function(_launch_op(), [[values[n] for n in written], [values[n] for n in read],
                                          [values[n] for n in numbers], key, flat], {})


def _launchers() -> list[tuple[type, Callable[..., None]]]:
    """The node a launch becomes, by the class of the innermost kernel (see the module doc)."""
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    return [(InterpretedFunction, _interpreted_launch), (JITFunction, _hop_launch)]


# -- which tensors a kernel may write ------------------------------------------------------------

_STORES = frozenset({"store", "atomic_add", "atomic_and", "atomic_cas", "atomic_max", "atomic_min", "atomic_or",
                     "atomic_xchg", "atomic_xor"})
_PURE = frozenset({"load", "arange", "program_id", "num_programs", "zeros", "full", "cdiv", "where", "maximum",
                   "minimum", "sum", "max", "min", "exp", "log", "sqrt", "abs", "dot", "broadcast_to", "reshape",
                   "expand_dims", "multiple_of", "max_contiguous", "static_assert", "device_assert", "cast",
                   "sigmoid", "softmax", "argmax", "argmin", "cumsum", "fma", "erf", "sin", "cos", "rsqrt",
                   "static_range", "range", "split", "join", "permute", "trans", "view", "ravel", "clamp"})


def written_arguments(base: Any, tensor_names: list[str]) -> frozenset[str]:
    """The tensor parameters a kernel may write: those a pointer passed to ``tl.store`` (or an
    atomic) is computed from. Conservative: a pointer passed to any other call than a known
    pure ``tl`` function, or source that cannot be read, counts as written."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(base.fn)))
    except (OSError, TypeError, SyntaxError):
        return frozenset(tensor_names)
    derived = {n: {n} for n in tensor_names}          # local name -> the parameters it is computed from
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None else []
            if not targets:
                continue
            sources = _params_in(node.value, derived)
            for t in targets:
                for name in (n.id for n in ast.walk(t) if isinstance(n, ast.Name)):
                    if not sources <= derived.get(name, set()):
                        derived[name] = derived.get(name, set()) | sources
                        changed = True
    written: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fname = _call_name(node)
        if fname in _STORES and isinstance(node.func, ast.Attribute) and _params_in(node.func.value, derived):
            written |= _params_in(node.func.value, derived)          # desc.store(offsets, value)
        elif fname in _STORES:
            pointer = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "pointer"), None)
            written |= _params_in(pointer, derived) if pointer is not None else set(tensor_names)
        elif fname not in _PURE:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                written |= _params_in(arg, derived)
    return frozenset(written)


# tl functions whose result is data, never a pointer: a value loaded through x_ptr does not point into x
_VALUES = frozenset({"load", "sum", "max", "min", "argmax", "argmin", "dot", "exp", "log", "sqrt", "rsqrt", "abs",
                     "sigmoid", "softmax", "cumsum", "erf", "sin", "cos", "fma", "program_id", "num_programs",
                     "arange", "zeros", "full"})


def _params_in(expr: ast.AST, derived: dict[str, set[str]]) -> set[str]:
    """The tensor parameters a pointer-valued expression may point into."""
    if isinstance(expr, ast.Call) and _call_name(expr) in _VALUES:
        return set()
    if isinstance(expr, ast.Name):
        return set(derived.get(expr.id, set()))
    return set().union(*(_params_in(child, derived) for child in ast.iter_child_nodes(expr)))


def _call_name(node: ast.Call) -> str:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


# -- the custom op of interpreted launches ---------------------------------------------------------

_REGISTRY: dict[str, tuple[Any, ...]] = {}     # key -> (kernel, names..., constants, configs, descriptors)
_OP: Any = None


def _register(kernel: Any, base: Any, written: list[str], read: list[str], numbers: list[str],
              constants: dict[str, Any], configs: list[Any], descriptors: dict[str, tuple[Any, ...]]) -> str:
    """A key that names this launch by content, so a graph cached by Inductor in another process
    (whose registry was filled by tracing the same program) finds the same kernel."""
    try:
        source = inspect.getsource(base.fn)
    except (OSError, TypeError):
        source = f"{id(base)}"
    what = repr((_kernel_name(kernel), [type(layer).__name__ for layer in kernel_layers(kernel)[0]], source,
                 written, read, numbers, sorted(constants.items(), key=lambda kv: kv[0]),
                 [None if c is None else (sorted(c.kwargs.items()), c.num_warps) for c in configs],
                 sorted(descriptors.items())))
    key = hashlib.sha256(what.encode()).hexdigest()[:32]
    _REGISTRY[key] = (kernel, written, read, numbers, constants, configs, descriptors)
    return key


def _launch_op() -> Any:
    """``torch.ops.bytegraph.triton_launch``, defined on first use."""
    global _OP
    if _OP is None:
        @torch.library.custom_op("bytegraph::triton_launch", mutates_args=("written",))
        def triton_launch(written: list[torch.Tensor], read: list[torch.Tensor], numbers: list[int],
                          key: str, grids: list[int]) -> None:
            kernel, w_names, r_names, n_names, constants, configs, descriptors = _REGISTRY[key]
            given = {**dict(zip(w_names, written)), **dict(zip(r_names, read)), **dict(zip(n_names, numbers)),
                     **constants}
            if descriptors:
                from triton.tools.tensor_descriptor import TensorDescriptor

                for name, (block_shape, padding, round_tf32) in descriptors.items():
                    given[name] = TensorDescriptor.from_tensor(given[name], list(block_shape), padding, round_tf32)
            by_config = [tuple(grids[i:i + 3]) for i in range(0, len(grids), 3)]
            grid = by_config[0] if len(by_config) == 1 else _grid_chooser(configs, by_config)
            _, base = kernel_layers(kernel)
            positional = []
            for name in base.arg_names:         # positionally where possible: Triton's pre/post hooks
                if name not in given:           # read the arguments by position
                    break
                positional.append(given.pop(name))
            kernel[grid](*positional, **given)

        @triton_launch.register_fake
        def _(written: list[torch.Tensor], read: list[torch.Tensor], numbers: list[int], key: str,
              grids: list[int]) -> None:
            return None

        _OP = torch.ops.bytegraph.triton_launch.default
    return _OP


def _grid_chooser(configs: list[Any], grids: list[tuple[int, ...]]) -> Callable[[dict[str, Any]], tuple[int, ...]]:
    """The grid of the config the autotuner picked at run time, told by its kwargs."""
    def grid(meta: dict[str, Any]) -> tuple[int, ...]:
        for config, g in zip(configs, grids):
            if all(meta.get(k) == v for k, v in config.kwargs.items()):
                return g
        raise AssertionError(f"no traced grid for the config {meta}")
    return grid


def _kernel_name(kernel: Any) -> str:
    _, base = kernel_layers(kernel) if is_triton_kernel(kernel) else ([], kernel)
    fn = getattr(base, "fn", base)
    return getattr(fn, "__qualname__", type(kernel).__name__)


def launch_writes(node: torch.fx.Node) -> list[Any]:
    """The arguments a launch node may write into (for ``OutputGraph.mutated_inputs``)."""
    if node.target is _OP and _OP is not None:
        return list(node.args[0])
    if getattr(node.target, "__name__", None) == "triton_kernel_wrapper_mutation":
        return [v for v in node.kwargs["kwargs"].values() if isinstance(v, torch.fx.Node)]
    return []
