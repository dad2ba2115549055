"""numpy on tensors: NumpyNdarrayVariable and the numpy functions called from traced code.

An ndarray is a tensor in the graph. An input ndarray enters as ``torch.from_numpy(a)``
(builder rule "numpy ndarray", ``NumpyTensorSource``), ``t.numpy()`` reuses ``t``'s node. What
the program does with an ndarray (``a.sum()``, ``a + b``, ``a[1:]``, ``np.sin(a)``,
``np.concatenate([a, b])``) is recorded as one node calling a wrapper below, which views its
tensor arguments as ``torch._numpy.ndarray`` (NumPy's API implemented on tensors), calls
torch._numpy's implementation and returns tensors again: the graph stays a tensor graph that
any backend can compile. Results are NumpyNdarrayVariables again; when one escapes, the
transformed code rebuilds it from the graph's output with ``Tensor.numpy()``.

Invariants: an ndarray tracker never reaches a torch operation as a tensor (``as_graph_arg``
breaks: torch's own functions do not take ndarrays); numpy's random functions are never
traced (torch's generator is not numpy's stream); anything torch._numpy lacks is a graph
break naming it, never a different answer. numpy's own modules and callables are trusted, as
torch's are (DESIGN.md, decision 6): reading ``np.sin`` installs no guard.
"""

from __future__ import annotations

import functools
import math
import operator
import types
from typing import Any

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported, UserCodeError
from ..guards import GuardKind
from ..sources import AttrSource, Source
from ..torch_compat import GuardOnDataDependentSymNode, tnp
from .base import BoundMethodVariable, NotConstant, Tx, VariableTracker, constant_args, pymethod
from .constant import ConstantVariable
from .lists import BaseListVariable
from .ops import BINARY, INPLACE, UNARY
from .symbolic import SliceVariable
from .torch import TorchVariable

try:
    import numpy as np
except ImportError:     # numpy is optional: without it no value is an ndarray
    np = None


def is_ndarray(value: Any) -> bool:
    return np is not None and type(value) is np.ndarray


# -- graph targets: tensors in, torch._numpy in the middle, tensors out ----------------------------
def _as_tnp(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tnp.ndarray(value)
    if type(value) in (list, tuple):
        return type(value)(_as_tnp(v) for v in value)
    return value


def _as_tensor(value: Any) -> Any:
    if isinstance(value, tnp.ndarray):
        return value.tensor
    if isinstance(value, (list, tuple)):       # (a torch.return_types structseq becomes a tuple)
        return (list if isinstance(value, list) else tuple)(_as_tensor(v) for v in value)
    if isinstance(value, tnp.DType) and np is not None:
        return np.dtype(value.name)       # only ever seen at trace time: a constant result
    return value


def numpy_function(name: str, *args: Any, **kwargs: Any) -> Any:
    """``torch._numpy.<name>(*args, **kwargs)`` (``name`` may be dotted: ``linalg.norm``)."""
    fn = functools.reduce(getattr, name.split("."), tnp)
    return _as_tensor(fn(*_as_tnp(args), **_as_tnp(kwargs)))


def ndarray_method(name: str, a: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    """``ndarray.<name>(*args, **kwargs)`` on ``a`` viewed as an ndarray."""
    return _as_tensor(getattr(tnp.ndarray(a), name)(*_as_tnp(args), **_as_tnp(kwargs)))


def ndarray_attribute(a: torch.Tensor, name: str) -> Any:
    """``a.<name>`` for the attributes that are arrays (``T``, ``real``, ``imag``)."""
    return _as_tensor(getattr(tnp.ndarray(a), name))


def ndarray_operator(name: str, *args: Any) -> Any:
    """``operator.<name>(*args)`` (``add``, ``matmul``, ``lt``, ``and``, ``getitem``, ``neg``...) on ndarrays."""
    return _as_tensor(OPERATORS[name](*_as_tnp(args)))


def ndarray_inplace_(name: str, a: torch.Tensor, *args: Any) -> Any:
    """``a.<name>(*args)`` writing into ``a`` (``__iadd__``, ``__setitem__``, ``fill``...).
    The trailing underscore is torch's in-place naming, which ``OutputGraph.mutates`` reads."""
    out = getattr(tnp.ndarray(a), name)(*_as_tnp(args))
    return a if out is None else _as_tensor(out)


# -- rebuilding ndarrays after the graph ------------------------------------------------------------
def tensor_to_ndarray(t: torch.Tensor) -> Any:
    return t.numpy()


def tensor_to_numpy_scalar(t: torch.Tensor) -> Any:
    """A 0-d result that numpy gives as a scalar (``a.sum()`` is an ``np.float64``)."""
    return t.numpy()[()]


OPERATORS = {**BINARY, **UNARY, "getitem": operator.getitem}
# Operations whose 0-d results numpy returns as scalars, not 0-d arrays (ufuncs are too).
SCALAR_RESULTS = frozenset({
    "sum", "prod", "mean", "std", "var", "min", "max", "amin", "amax", "argmin", "argmax", "all", "any",
    "ptp", "median", "average", "dot", "vdot", "inner",
    "trace", "count_nonzero", "norm", "det", "linalg.norm", "linalg.det", "round", "clip",
})
# ndarray methods that write into the array.
INPLACE_METHODS = frozenset({"fill", "sort", "put", "resize", "itemset"})
# Methods that need the data (or print it): graph breaks.
BREAKING_METHODS: dict[str, breaks.BreakKind] = {
    "item": breaks.DATA_DEPENDENT_OP, "tolist": breaks.DATA_DEPENDENT_OP, "__float__": breaks.DATA_DEPENDENT_OP,
    "__int__": breaks.DATA_DEPENDENT_OP, "__index__": breaks.DATA_DEPENDENT_OP, "__complex__": breaks.DATA_DEPENDENT_OP,
    "__bool__": breaks.DATA_DEPENDENT_BRANCH, "__contains__": breaks.DATA_DEPENDENT_OP,
    "__repr__": breaks.PRINT_OR_IO, "__str__": breaks.PRINT_OR_IO, "__format__": breaks.PRINT_OR_IO,
    "tobytes": breaks.DATA_DEPENDENT_OP, "tofile": breaks.PRINT_OR_IO, "dump": breaks.PRINT_OR_IO,
}
# Queries of dtypes, called for real when every argument is a constant.
_FOLDABLE_NAMES = ("dtype", "finfo", "iinfo", "issubdtype", "result_type", "promote_types", "can_cast")
FOLDABLE: frozenset[Any] = frozenset(getattr(np, n) for n in _FOLDABLE_NAMES) if np is not None else frozenset()
_UNARY_DUNDERS = {"__neg__": "neg", "__pos__": "pos", "__abs__": "abs", "__invert__": "invert"}


def numpy_dtype(dtype: torch.dtype) -> Any:
    """The numpy dtype of a tensor's dtype (``TypeError`` for bfloat16 and others numpy lacks)."""
    try:
        return np.dtype(tnp.dtype(dtype).name)
    except (TypeError, KeyError) as e:
        raise TypeError(f"Got unsupported ScalarType {str(dtype).replace('torch.', '')}") from e


@functools.cache
def _load_numpy_defaults() -> None:
    """torch._numpy reads its default dtypes (float64, int64) from torch's config on first use,
    importing it; make that happen here, outside fake-tensor mode."""
    tnp.zeros(0)


def _record(tx: Tx, target: Any, what: str, args: list[VariableTracker],
            kwargs: dict[str, VariableTracker] | None = None) -> VariableTracker:
    """One graph node calling ``target``. An error torch._numpy raises while running it on fake
    tensors is a graph break (the instruction then runs natively, raising the program's own
    error if it is one); most are numpy features torch._numpy lacks."""
    _load_numpy_defaults()
    try:
        return tx.graph.call_function(target, args, kwargs or {})
    except UserCodeError as e:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"torch._numpy cannot run {what}: "
                                                   f"{type(e.original).__name__}: {e.original}") from e


# -- trackers ---------------------------------------------------------------------------------------
class NumpyNdarrayVariable(VariableTracker):
    """A numpy ndarray, held as a tensor in the graph (``self.tensor``).

    ``scalar``: a 0-d result numpy gives as a scalar rather than an array. ``inputs``: the input
    ndarrays (source, was it writeable) whose memory this array may share; a write into it must
    reach them, so it checks (and guards) that they are writeable."""

    identity_matters = True

    def __init__(self, tensor: VariableTracker, scalar: bool = False,
                 inputs: frozenset[tuple[Source, bool]] = frozenset(), source: Source | None = None) -> None:
        super().__init__(source)
        self.tensor = tensor
        self.scalar = scalar
        self.inputs = inputs

    @property
    def fake(self) -> torch.Tensor:
        return self.tensor.fake

    def python_type(self) -> type:
        return np.ndarray

    def as_graph_arg(self) -> tuple[Any, Any]:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"{self.describe()} passed to a torch operation "
                                                    f"(convert it with torch.from_numpy)")

    # -- attributes and methods ------------------------------------------------------------
    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        fake = self.fake
        meta = {"shape": lambda: self._shape(), "ndim": fake.dim, "size": lambda: math.prod(self._shape()),
                "itemsize": fake.element_size, "nbytes": lambda: math.prod(self._shape()) * fake.element_size(),
                "dtype": lambda: numpy_dtype(fake.dtype)}
        if name in meta:
            return ConstantVariable(meta[name]())
        if name in ("T", "real", "imag"):
            return wrap_result(_record(tx, ndarray_attribute, f"ndarray.{name}", [self.tensor, tx.wrap_const(name)]),
                               [self])
        if hasattr(np.ndarray, name) and callable(getattr(np.ndarray, name)):
            return BoundMethodVariable(self, name)
        if hasattr(np.ndarray, name):
            raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"ndarray.{name} (not modelled on tensors)")
        raise UserCodeError(AttributeError(f"'numpy.ndarray' object has no attribute '{name}'"))

    def call_method(self, tx: Tx, name: str, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if name in BREAKING_METHODS:
            raise Unsupported(BREAKING_METHODS[name], f"ndarray.{name}() on {self.describe()}")
        impl = type(self)._methods.get(name)
        if impl is not None:
            return impl(self, tx, *args, **kwargs)
        if name in _UNARY_DUNDERS:
            return self._operator(tx, _UNARY_DUNDERS[name], [self])
        if not callable(getattr(tnp.ndarray, name, None)):
            if not hasattr(np.ndarray, name):
                raise UserCodeError(AttributeError(f"'numpy.ndarray' object has no attribute '{name}'"))
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"ndarray.{name}() is not implemented by torch._numpy")
        _no_out(name, kwargs)
        if name in INPLACE_METHODS:
            self._write(tx, name, args)
            return tx.wrap_const(None)
        vt = _record(tx, ndarray_method, f"ndarray.{name}()",
                     [tx.wrap_const(name), self.tensor, *[graph_value(tx, a) for a in args]],
                     {k: graph_value(tx, v) for k, v in kwargs.items()})
        return wrap_result(vt, [self, *args, *kwargs.values()], scalar=name in SCALAR_RESULTS)

    def _shape(self) -> tuple[int, ...]:
        """The shape as ints. Dimensions are static, except after ``t.numpy()`` of a dynamic
        tensor (specialized here, guarded by the ShapeEnv) or a data-dependent op (a break)."""
        try:
            return tuple(int(d) for d in self.fake.shape)
        except GuardOnDataDependentSymNode:
            raise Unsupported(breaks.DATA_DEPENDENT_OP, f"the shape of {self.describe()} depends on data") from None

    @pymethod("__len__")
    def _len(self, tx: Tx) -> VariableTracker:
        if self.fake.dim() == 0:
            raise UserCodeError(TypeError("len() of unsized object"))
        return tx.wrap_const(self._shape()[0])

    @pymethod("__setitem__")
    def _setitem(self, tx: Tx, key: VariableTracker, value: VariableTracker) -> VariableTracker:
        self._write(tx, "__setitem__", [key, value])
        return tx.wrap_const(None)

    def getitem(self, tx: Tx, key: VariableTracker) -> VariableTracker:
        return self._operator(tx, "getitem", [self, key])

    def unpack(self, tx: Tx) -> list[VariableTracker]:
        if self.fake.dim() == 0:
            raise UserCodeError(TypeError("iteration over a 0-d array"))
        return [self.getitem(tx, tx.wrap_const(i)) for i in range(self._shape()[0])]

    def truth(self, tx: Tx) -> bool:
        raise Unsupported(breaks.DATA_DEPENDENT_BRANCH, f"bool() of {self.describe()}")

    def binary_op(self, tx: Tx, op: str, other: VariableTracker, reflected: bool) -> Any:
        other = other.realize()
        if other.is_tensor:
            raise Unsupported(breaks.UNSUPPORTED_VALUE, f"an operator between {self.describe()} and {other.describe()} "
                                                        f"(mixing ndarrays and tensors is not traced)")
        if not (isinstance(other, (NumpyNdarrayVariable, BaseListVariable)) or other.is_symbolic
                or other.is_constant()):
            if _is_scalar_type(_python_type(other)):
                raise Unsupported(breaks.UNSUPPORTED_VALUE, f"{other.describe()} with {self.describe()} (numpy scalars "
                                                            f"from outside the graph are not traced)")
            return NotImplemented
        if op in INPLACE:
            self._write(tx, f"__{op}__", [other])       # a += b: the same array, written in place
            return self
        return self._operator(tx, op, [other, self] if reflected else [self, other])

    # -- recording ---------------------------------------------------------------------------
    def _operator(self, tx: Tx, name: str, operands: list[VariableTracker]) -> VariableTracker:
        vt = _record(tx, ndarray_operator, f"operator.{name} on ndarrays",
                     [tx.wrap_const(name), *[graph_value(tx, a) for a in operands]])
        return wrap_result(vt, operands, scalar=True)

    def _write(self, tx: Tx, name: str, args: list[VariableTracker]) -> None:
        """``self.<name>(*args)`` in place. A write into an input's memory needs that input to be
        writeable (guarded); a read-only one raises, as numpy does (the frame then runs eagerly)."""
        for source, writeable in self.inputs:
            tx.guard(AttrSource(AttrSource(source, "flags"), "writeable"), GuardKind.EQUALS_MATCH, writeable,
                     "in-place write into a numpy input")
            if not writeable:
                raise UserCodeError(ValueError("assignment destination is read-only"))
        self.tensor = _record(tx, ndarray_inplace_, f"ndarray.{name}()",
                              [tx.wrap_const(name), self.tensor, *[graph_value(tx, a) for a in args]])

    # -- codegen -----------------------------------------------------------------------------
    def reconstruct(self, cg: Any) -> None:
        """Inputs are re-read from their source; other arrays are the graph's tensor, as numpy."""
        if self.source is not None:
            self.source.reconstruct(cg)
            return
        as_scalar = self.scalar and self.fake.dim() == 0
        cg.push_callable(tensor_to_numpy_scalar if as_scalar else tensor_to_ndarray)
        cg.reconstruct(self.tensor)
        cg.call(1)

    def describe(self) -> str:
        where = f" {self.source.name()}" if self.source is not None else ""
        return f"ndarray{where} ({str(self.fake.dtype).replace('torch.', '')}{list(self.fake.shape)})"

    def __repr__(self) -> str:
        return f"NumpyNdarrayVariable({self.tensor!r})"


def _python_type(vt: VariableTracker) -> type | None:
    try:
        return vt.python_type()
    except Unsupported:
        return None


def _no_out(what: str, kwargs: dict[str, VariableTracker]) -> None:
    if "out" in kwargs:
        raise Unsupported(breaks.UNSUPPORTED_CALL, f"{what}(out=...): writing into a given array is not traced")


def _ndarrays(vts: list[VariableTracker]) -> list[NumpyNdarrayVariable]:
    out: list[NumpyNdarrayVariable] = []
    for vt in vts:
        vt = vt.realize()
        if isinstance(vt, NumpyNdarrayVariable):
            out.append(vt)
        elif isinstance(vt, BaseListVariable):
            out.extend(_ndarrays(vt.realized()))
    return out


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two (fake) tensors are views of one storage (fake tensors track this too)."""
    return a.untyped_storage()._cdata == b.untyped_storage()._cdata


def wrap_result(vt: VariableTracker, operands: list[VariableTracker], scalar: bool = False) -> VariableTracker:
    """The result of a recorded numpy call: tensors become ndarrays (sharing the inputs of the
    operands they are views of), through tuples and lists; constants stay constants."""
    if vt.is_tensor:
        inputs = frozenset(i for a in _ndarrays(operands) for i in a.inputs if _shares_memory(vt.fake, a.fake))
        return NumpyNdarrayVariable(vt, scalar, inputs)
    if isinstance(vt, BaseListVariable):
        return vt.new([wrap_result(v, operands, scalar) for v in vt.realized()])
    return vt


def graph_value(tx: Tx, vt: VariableTracker) -> VariableTracker:
    """``vt`` as an argument of a numpy graph node: ndarrays as their tensors, numpy dtypes and
    scalar types as dtype names, numpy scalars as 0-d tensors (they are typed: float32(2) is not 2.0)."""
    vt = vt.realize()
    if isinstance(vt, NumpyNdarrayVariable):
        return vt.tensor
    if vt.is_tensor:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"{vt.describe()} passed to numpy (mixing tensors into numpy "
                                                    f"calls is not traced; use .numpy())")
    if isinstance(vt, BaseListVariable):
        return vt.new([graph_value(tx, v) for v in vt.realized()])
    if vt.is_symbolic or isinstance(vt, SliceVariable):
        return vt
    if not vt.is_constant():
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"{vt.describe()} passed to a numpy function")
    value = vt.as_constant()
    if isinstance(value, np.generic):
        return _constant(tx, value).tensor
    if isinstance(value, np.dtype):
        return tx.wrap_const(value.name)
    if isinstance(value, type) and (issubclass(value, np.generic) or value in (bool, int, float, complex)):
        try:
            return tx.wrap_const(np.dtype(value).name)
        except TypeError:               # an abstract type: np.floating, np.integer...
            return tx.wrap_const(value.__name__)
    if callable(value):
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"{vt.describe()} passed to a numpy function")
    return vt


class NumpyFunctionVariable(VariableTracker):
    """A callable read from a numpy module (``np.sin``, ``np.linalg.norm``, ``np.float32``),
    ``name`` being its path under numpy (``linalg.norm``). Called, it is recorded through
    torch._numpy's function of the same name (``np.float32(2.0)`` too: a 0-d array in the graph,
    a numpy scalar when it escapes); dtype queries of constants are called for real
    (``np.dtype('f4')``, ``np.finfo(a.dtype)``, ``np.issubdtype``)."""

    def __init__(self, fn: Any, name: str) -> None:
        super().__init__(None)
        self.fn = fn
        self.name = name

    def python_type(self) -> type:
        return type(self.fn)

    def as_constant(self) -> Any:
        return self.fn

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if self.name.split(".")[0] == "random":
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"numpy.{self.name}(): numpy's random stream cannot be "
                                                       f"reproduced in the graph")
        if self.fn is np.ndarray:
            raise Unsupported(breaks.UNSUPPORTED_CALL, "numpy.ndarray(...) (uninitialized memory)")
        if self.fn in FOLDABLE:
            try:
                cargs, ckw = constant_args(args, kwargs)
            except NotConstant:
                pass
            else:
                return _fold(tx, self.fn, cargs, ckw)
        try:
            functools.reduce(getattr, self.name.split("."), tnp)
        except AttributeError:
            raise Unsupported(breaks.UNSUPPORTED_CALL, f"numpy.{self.name}() has no torch._numpy implementation") from None
        _no_out(f"numpy.{self.name}", kwargs)
        if self.name == "asarray" and len(args) == 1 and not kwargs and isinstance(args[0].realize(), NumpyNdarrayVariable):
            return args[0].realize()       # the array itself, as numpy returns it
        vt = _record(tx, numpy_function, f"numpy.{self.name}()",
                     [tx.wrap_const(self.name), *[graph_value(tx, a) for a in args]],
                     {k: graph_value(tx, v) for k, v in kwargs.items()})
        scalar = isinstance(self.fn, np.ufunc) or self.name in SCALAR_RESULTS or _is_scalar_type(self.fn)
        return wrap_result(vt, [*args, *kwargs.values()], scalar)

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        try:
            attr = getattr(self.fn, name)
        except AttributeError as e:
            raise UserCodeError(e) from e
        if callable(attr):
            raise Unsupported(breaks.UNSUPPORTED_ATTRIBUTE, f"numpy.{self.name}.{name}")
        return _constant(tx, attr)

    def describe(self) -> str:
        return f"numpy.{self.name}"


def _is_scalar_type(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, np.generic)


def _constant(tx: Tx, value: Any, fresh: bool = False) -> VariableTracker:
    """A value numpy computed at trace time. dtypes are constants. A numpy scalar becomes a 0-d
    array in the graph (scalar=True): as a constant it would reach torch operations, and fx,
    which cannot spell it; ``finfo``/``iinfo`` hand out their scalars the same way."""
    if isinstance(value, np.generic):
        dtype = tnp.dtype(value.dtype.name).torch_dtype
        vt = tx.graph.call_function(torch.scalar_tensor, [tx.wrap_const(value.item())], {"dtype": tx.wrap_const(dtype)})
        return NumpyNdarrayVariable(vt, scalar=True)
    if isinstance(value, (np.finfo, np.iinfo)):
        return NumpyInfoVariable(value)
    if isinstance(value, np.dtype):
        return ConstantVariable(value)
    return tx.wrap_new(value) if fresh else tx.wrap_const(value)


class NumpyInfoVariable(ConstantVariable):
    """``np.finfo(...)`` / ``np.iinfo(...)`` of a constant dtype: its scalars (``eps``, ``max``)
    are numpy scalars, so they are read through ``_constant``."""

    def var_getattr(self, tx: Tx, name: str) -> VariableTracker:
        try:
            return _constant(tx, getattr(self.value, name))
        except AttributeError as e:
            raise UserCodeError(e) from e


def _fold(tx: Tx, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> VariableTracker:
    try:
        result = fn(*args, **kwargs)
    except Exception as e:   # noqa: BLE001 - the program's own error
        raise UserCodeError(e) from e
    return _constant(tx, result, fresh=True)


class TensorFromNumpyVariable(TorchVariable):
    """``torch.from_numpy`` / ``torch.as_tensor`` / ``torch.asarray`` read from the torch module:
    given an ndarray tracker, the tensor it already is in the graph (same memory, as eagerly)."""

    def call_function(self, tx: Tx, args: list[VariableTracker], kwargs: dict[str, VariableTracker]) -> VariableTracker:
        if len(args) == 1 and not kwargs and isinstance(args[0].realize(), NumpyNdarrayVariable):
            return args[0].realize().tensor
        return super().call_function(tx, args, kwargs)


TENSOR_FROM_NUMPY = frozenset({"from_numpy", "as_tensor", "asarray"})


def numpy_module_attr(module: Any, name: str, value: Any) -> VariableTracker | None:
    """The tracker for ``module.name`` when numpy support models it (a numpy callable, torch's
    ndarray-to-tensor functions); None otherwise."""
    mod = getattr(module, "__name__", "")
    if np is not None and (mod == "numpy" or mod.startswith("numpy.")) and callable(value) \
            and not isinstance(value, types.ModuleType):
        path = mod.split(".", 1)[1] + "." + name if "." in mod else name
        return NumpyFunctionVariable(value, path)
    if mod == "torch" and name in TENSOR_FROM_NUMPY and value is getattr(torch, name):
        return TensorFromNumpyVariable(value)
    return None


def tensor_numpy(tx: Tx, t: VariableTracker, force: VariableTracker | None = None) -> VariableTracker:
    """``t.numpy(force=False)``: the ndarray sharing ``t``'s memory (``force``: detached, on the CPU)."""
    fake = t.fake
    if force is not None and force.as_constant():
        t = tx.graph.call_method("detach", [t], {})
        if fake.device.type != "cpu":
            t = tx.graph.call_method("cpu", [t], {})
    elif fake.requires_grad:
        raise UserCodeError(RuntimeError("Can't call numpy() on Tensor that requires grad. "
                                         "Use tensor.detach().numpy() instead."))
    elif fake.device.type != "cpu":
        raise UserCodeError(TypeError(f"can't convert {fake.device.type} device type tensor to numpy. "
                                      f"Use Tensor.cpu() to copy the tensor to host memory first."))
    try:
        numpy_dtype(fake.dtype)
    except TypeError as e:
        raise UserCodeError(e) from e
    return NumpyNdarrayVariable(t)
