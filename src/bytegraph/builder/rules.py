"""The ordered rule list that turns a Python value into a tracker. First match wins.

Read it top to bottom: the order is the specification. Each rule names what it matches,
the tracker it builds, the guards it installs on the value's source, and (in its
docstring) why it sits where it does. docs/builder.md is generated from this list.

A rule's ``wrap(b, value)`` gets the builder ``b``: ``b.source`` (None when the value was
created during tracing), ``b.guard(kind, payload)`` (a no-op without a source) and
``b.child(value, source)`` (a lazily built item or attribute).
"""

from __future__ import annotations

import collections
import contextvars
import dataclasses
import functools
import types
import weakref
from typing import TYPE_CHECKING, Any, Callable

import torch

from ..diagnostics import breaks
from ..diagnostics.errors import Unsupported
from ..graph.shapes import dims_policy, is_marked_static, number_is_dynamic
from ..guards import GuardKind, TensorSpec
from torch.utils.hooks import RemovableHandle

from ..sources import (BuiltinItemSource, DictKeySource, DictValueSource, InstanceAttrSource, IteratorStateSource,
                       ReduceSource, WeakRefCallSource, iterator_position)
from ..codegen.resume import CELL_PREFIX
from ..sources import AttrSource, ItemSource, LocalSource, NumpyTensorSource, is_source_key, ndarray_as_tensor
from ..variables.base import BoundMethodVariable, LazyVariableTracker, VariableTracker
from ..variables.builtins import BuiltinVariable, is_builtin
from ..variables.constant import ConstantVariable, is_literal
from ..variables.contextvar import ContextVarVariable
from ..variables.ctx import AutocastVariable, ExceptionVariable, InferenceModeVariable
from ..variables.dicts import DictVariable, SetVariable, hash_key
from ..variables.functions import (
    existing_cell,
    LruCacheVariable,
    PartialVariable,
    UserFunctionVariable,
    UserMethodVariable,
    WeakRefVariable,
)
from ..variables.lists import BaseListVariable, DequeVariable, IteratorVariable, ListVariable, TupleVariable
from ..variables.getters import GETTER_TYPES, GetterVariable, getter_parts
from ..variables.iterators import ExternalGeneratorVariable
from ..variables.functorch import transformed_function, transformed_name
from ..variables.higher_order import HigherOrderVariable, higher_order_rule, is_higher_order
from ..variables.module_hooks import BackwardHookClassVariable, is_backward_hook_class
from ..variables.nn_module import NNModuleVariable
from ..variables.numpy import NumpyNdarrayVariable, is_ndarray
from ..variables.torch import TorchVariable, is_torch_callable
from ..variables.triton import (
    TensorDescriptorClassVariable,
    TritonKernelVariable,
    descriptor_from_source,
    is_tensor_descriptor,
    is_tensor_descriptor_class,
    is_triton_kernel,
)
from ..variables.user_defined import (
    PythonModuleVariable,
    UserDefinedClassVariable,
    UserDefinedObjectVariable,
    container_base,
)

if TYPE_CHECKING:
    from .builder import VariableBuilder

K = GuardKind


@dataclasses.dataclass(frozen=True, slots=True)
class WrapRule:
    name: str
    match: Callable[[Any], bool]
    wrap: Callable[["VariableBuilder", Any], VariableTracker]
    guards: tuple[GuardKind, ...]
    tracks_identity: bool = False    # one tracker per object: mutable containers, tensors, objects

    def holds_state(self, value: Any) -> bool:
        """Does ``value`` have state of its own, so that a copy rebuilt from what the trace saw
        would not be the same thing? Objects one tracker per object stands for, except tuples
        (immutable: rebuilt from their items, each decided on its own)."""
        return self.tracks_identity and not isinstance(value, tuple)

    @property
    def doc(self) -> str:
        return (self.wrap.__doc__ or "").strip()


def is_plain_tensor(value: Any) -> bool:
    return type(value) in (torch.Tensor, torch.nn.Parameter)


def unreadable_history(value: torch.Tensor) -> str | None:
    """Why autograd refuses to read ``value``'s history, or None. A view made under ``no_grad``
    whose base was then written in place has a history autograd forbids reading (its
    ``grad_fn`` raises); eager code can still pass it around, but faking it as a graph input
    would raise inside the compiler. Such a tensor is left to eager Python: a break at its
    first read, the program's own error (if any) raised there by torch itself."""
    if not (value.requires_grad and value._is_view()):
        return None
    try:
        value.grad_fn
    except RuntimeError as e:
        return f"autograd forbids reading this tensor's history: {str(e).split('.')[0]}"
    return None


def wrap_tensor(b: "VariableBuilder", value: torch.Tensor) -> VariableTracker:
    """Plain tensors and Parameters become graph inputs, placeholders named after their
    source, with a fake tensor of the same metadata. Dimensions are static on the first
    capture and become symbolic once they vary (automatic dynamic, ``mark_dynamic``);
    parameters and buffers stay static. First, because everything below would misread a
    tensor (it is an object with attributes and a length)."""
    if b.source is None:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, "a real tensor created outside the graph while tracing")
    if (problem := unreadable_history(value)) is not None:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, problem)
    state, module_state = b.tx.capture.frame_state, b.source.is_module_state()
    dims = dims_policy(state, b.source, value, module_state)
    base = value._base           # converted with the view: the same policy, by its own source
    base_dims = dims_policy(state, AttrSource(b.source, "_base"), base, module_state) if base is not None else None
    vt = b.tx.graph.add_tensor_input(b.source, value, dims, base_dims)
    b.guard(K.TENSOR_MATCH, TensorSpec.of(value, vt.fake))
    return vt


def is_tensor_subclass(value: Any) -> bool:
    return isinstance(value, torch.Tensor)


def wrap_backward_hook_class(b: "VariableBuilder", value: Any) -> VariableTracker:
    """``torch.utils.hooks.BackwardHook``, which ``Module._call_impl`` makes for a module with full
    backward hooks: calling it makes a tracker whose ``setup_input_hook``/``setup_output_hook``
    put the module call's hook points in the graph (variables/module_hooks.py). Before "class":
    a class is otherwise called as user code."""
    b.guard(K.ID_MATCH, value)
    return BackwardHookClassVariable(b.source)


def wrap_tensor_subclass(b: "VariableBuilder", value: torch.Tensor) -> VariableTracker:
    """Tensor subclasses other than Parameter (``__torch_function__`` overrides, wrapper
    subclasses) are not traced yet: a graph break with the reason, never a wrong answer."""
    raise Unsupported(breaks.UNSUPPORTED_VALUE, f"tensor subclass {type(value).__qualname__} is not supported yet")


def wrap_ndarray(b: "VariableBuilder", value: Any) -> VariableTracker:
    """numpy ndarrays are graph inputs as tensors (``torch.from_numpy``, on a copy when read-only),
    guarded by type and by TENSOR_MATCH on that tensor (dtype, shape, strides: every new shape
    recompiles); numpy calls on them are recorded through torch._numpy (variables/numpy.py).
    Next to the tensor rules, its kin: no rule in between matches an ndarray, and "user object"
    would trace it as an opaque object. Arrays torch cannot view (negative strides, object or
    string dtypes) break, guarded on dtype and strides so that only such arrays run eagerly."""
    if b.source is None:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, "a real numpy array created outside the graph while tracing")
    b.guard(K.TYPE_MATCH, type(value))
    try:
        tensor = ndarray_as_tensor(value)
    except (TypeError, ValueError) as e:
        for attr in ("dtype", "strides"):
            b.tx.guard(AttrSource(b.source, attr), K.EQUALS_MATCH, getattr(value, attr), f"builder rule '{b.rule.name}'")
        raise Unsupported(breaks.UNSUPPORTED_VALUE, f"a numpy array torch cannot view: {e}") from None
    source = NumpyTensorSource(b.source)
    vt = b.tx.graph.add_tensor_input(source, tensor)
    b.tx.guard(source, K.TENSOR_MATCH, TensorSpec.of(tensor, vt.fake), f"builder rule '{b.rule.name}'")
    return NumpyNdarrayVariable(vt, inputs=frozenset({(b.source, bool(value.flags.writeable))}))


def wrap_slice(b: "VariableBuilder", value: slice) -> VariableTracker:
    """A slice of constants: a constant, but unhashable before Python 3.12, so it cannot be an
    EQUALS_MATCH payload; guarded by type, and each bound by its own rule. Before "literal"."""
    b.guard(K.TYPE_MATCH, slice)
    for part in ("start", "stop", "step"):
        b.child(getattr(value, part), part, attr=True).realize()
    return ConstantVariable(value)


def wrap_literal(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Immutable values known at trace time (int, float, bool, str, None, dtype, device,
    torch.Size, enum members, regex patterns...) are folded into the graph and guarded by
    type and value. An int reached from an argument or a global (not through an nn.Module or a
    function's defaults) or a float that has varied between captures becomes a graph input instead, guarded by type (and by
    the ShapeEnv, or by the conditions the program tested): a symbolic number, or, for a
    float and a backend that takes floats only as tensors, a 0-d float64 tensor input
    (variables/floats.py). A torch.Size argument with such an item becomes a tuple of its
    items, guarded by type and length. Numbers read through an object passed to
    ``mark_static`` stay constants."""
    state = b.tx.capture.frame_state
    if b.source is not None and number_is_dynamic(state, b.source, value, _is_module_source(b), _is_static_source(b)):
        if type(value) is float and state.floats == "tensor":
            vt = b.tx.graph.add_float_input(b.source, value)
        else:
            vt = b.tx.graph.add_number_input(b.source, value)
        if not vt.is_constant():
            b.guard(K.TYPE_MATCH, type(value))
            return vt
    if b.source is not None and type(value) is torch.Size:
        items = [b.child(v, i) for i, v in enumerate(value)]
        state, is_module = b.tx.capture.frame_state, _is_module_source(b)
        if any([number_is_dynamic(state, vt.source, v, is_module) for vt, v in zip(items, value)]):  # records each
            b.guard(K.TYPE_MATCH, torch.Size)
            b.guard(K.SEQUENCE_LENGTH, len(value))
            return TupleVariable(items, py_type=torch.Size)
    b.guard(K.EQUALS_MATCH, value)
    return ConstantVariable(value)


def _is_static_source(b: "VariableBuilder") -> Callable[[Any], bool]:
    """Does a source name an object passed to ``mark_static`` (its numbers stay constants)?"""
    def marked(source: Any) -> bool:
        vt = b.tx.capture.by_source.get(source)
        return isinstance(vt, UserDefinedObjectVariable) and is_marked_static(vt.value)
    return marked


def _is_module_source(b: "VariableBuilder") -> Callable[[Any], bool]:
    """Does a source name an nn.Module (its ints are configuration: they stay static)?"""
    return lambda source: isinstance(b.tx.capture.by_source.get(source), NNModuleVariable)


def is_namedtuple(value: Any) -> bool:
    t = type(value)
    return isinstance(value, tuple) and t is not tuple and (hasattr(t, "_fields") or hasattr(t, "n_fields"))


def wrap_namedtuple(b: "VariableBuilder", value: tuple) -> VariableTracker:
    """Named tuples and structseqs (torch.return_types). Before "sequence": they are tuples
    too, but keep their type and read fields by name. Items are wrapped lazily."""
    b.guard(K.TYPE_MATCH, type(value))
    b.guard(K.SEQUENCE_LENGTH, len(value))
    return TupleVariable([b.child(v, i) for i, v in enumerate(value)], py_type=type(value))


def is_list_or_tuple(value: Any) -> bool:
    return type(value) in (list, tuple)


def wrap_listlike(b: "VariableBuilder", value: list | tuple) -> VariableTracker:
    """Exact lists and tuples: type and length are guarded; each item is wrapped (and
    guarded) only when the code reads it. A list's length is guarded when the code first
    reads the list: one the code only appends to is not, and is written back by extending it."""
    b.guard(K.TYPE_MATCH, type(value))
    items = [b.child(v, i) for i, v in enumerate(value)]
    if type(value) is tuple or b.source is None:
        b.guard(K.SEQUENCE_LENGTH, len(value))
        return TupleVariable(items) if type(value) is tuple else ListVariable(items)
    # a list's length is guarded when the trace first reads the list (not by appends alone)
    lst = ListVariable(items)
    tx, source, n, reason = b.tx, b.source, len(value), f"builder rule '{b.rule.name}'"
    lst.leave_length_unread(lambda: tx.guard(source, K.SEQUENCE_LENGTH, n, reason))
    return lst


def is_literal_key_dict(value: Any) -> bool:
    return type(value) in (dict, collections.OrderedDict) and all(is_source_key(k) for k in value)


def wrap_dict(b: "VariableBuilder", value: dict) -> VariableTracker:
    """Dicts and OrderedDicts whose keys can be spelled in a source (``is_source_key``: str, int,
    float, tuples, enum members...): type guarded; values wrapped lazily
    under ``d[key]``; keys guarded as the code uses them (one key's presence for ``in``, the
    ordered key list, DICT_KEYS, once the whole set matters: len, iteration, ==)."""
    b.guard(K.TYPE_MATCH, type(value))
    return DictVariable({k: b.child(v, k) for k, v in value.items()}, type(value), b.source,
                        key_guards=b.key_guards())


def is_object_key_dict(value: Any) -> bool:
    """(dicts with constant keys matched "dict" already; a defaultdict with them is "defaultdict")"""
    return type(value) in (dict, collections.OrderedDict) or \
        type(value) is collections.defaultdict and not all(is_source_key(k) for k in value)


def wrap_object_key_dict(b: "VariableBuilder", value: dict) -> VariableTracker:
    """Dicts with other keys (modules, tensors, objects, members of a local enum...; an
    optimizer's ``state``, a defaultdict keyed by parameters): type and size are guarded, each
    key is wrapped (and guarded by its own rule) as ``list(d)[i]`` and each value lazily as
    ``list(d.values())[i]``, so the key order is part of the guard. After "dict"."""
    b.guard(K.TYPE_MATCH, type(value))
    b.guard(K.SEQUENCE_LENGTH, len(value))
    factory = b.child(value.default_factory, "default_factory", attr=True) \
        if type(value) is collections.defaultdict else None
    d = DictVariable({}, type(value), b.source, default_factory=factory)
    for i, (k, v) in enumerate(value.items()):
        key_vt = b.tx.wrap(k, DictKeySource(b.source, i)) if b.source is not None else b.sourceless(k)
        value_vt = (LazyVariableTracker(v, DictValueSource(b.source, i), b.tx.capture.build) if b.source is not None
                    else b.sourceless(v))
        d._items[hash_key(b.tx, key_vt, d._items)] = value_vt
    return d


ITERATOR_TYPES = (type(iter(())), type(iter(range(0))), type(iter([])))


def wrap_iterator(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Iterators over a tuple, range or list: what they will still produce is read, without
    advancing them, through ``it.__reduce__()`` (sequence and position are guarded by their
    own rules). Advancing one is a mutation of an object from outside the frame."""
    b.guard(K.TYPE_MATCH, type(value))
    (seq,), position = value.__reduce__()[1], iterator_position(value)
    if b.source is None:
        return IteratorVariable([b.sourceless(v) for v in list(seq)[position:]], type(value))
    tx, source = b.tx, b.source

    def read() -> list[VariableTracker]:          # when first advanced (not when only passed on)
        seq_vt = tx.wrap(seq, IteratorStateSource(source, 0))
        pos = tx.wrap(position, IteratorStateSource(source, 1)).as_constant()
        items = seq_vt._items if isinstance(seq_vt, BaseListVariable) else seq_vt.unpack(tx)   # stay lazy
        return list(items[pos:])

    it = IteratorVariable([], type(value), source=source)
    it._pending = read
    return it


def wrap_deque(b: "VariableBuilder", value: collections.deque) -> VariableTracker:
    """collections.deque: like a list (type and length guarded, items lazy); ``maxlen`` is
    part of the value and guarded too."""
    b.guard(K.TYPE_MATCH, collections.deque)
    b.guard(K.SEQUENCE_LENGTH, len(value))
    maxlen = b.child(value.maxlen, "maxlen", attr=True).realize().as_constant()
    return DequeVariable([b.child(v, i) for i, v in enumerate(value)], b.source, maxlen)


def is_special_dict(value: Any) -> bool:
    return type(value) in (collections.defaultdict, types.MappingProxyType) and all(is_source_key(k) for k in value)


def wrap_special_dict(b: "VariableBuilder", value: Any) -> VariableTracker:
    """defaultdict (its ``default_factory`` wrapped as an attribute) and mappingproxy (a
    read-only view): keys guarded lazily like a dict's, values lazy."""
    b.guard(K.TYPE_MATCH, type(value))
    factory = b.child(value.default_factory, "default_factory", attr=True) if type(value) is collections.defaultdict else None
    return DictVariable({k: b.child(v, k) for k, v in value.items()}, type(value), b.source,
                        default_factory=factory, key_guards=b.key_guards())


def wrap_partial(b: "VariableBuilder", value: functools.partial) -> VariableTracker:
    """functools.partial: type guarded; ``func``, ``args`` and ``keywords`` wrapped as
    attributes (so each is guarded by its own rule when the partial is called)."""
    b.guard(K.TYPE_MATCH, type(value))
    func = b.child(value.func, "func", attr=True)
    args_src = b.child(value.args, "args", attr=True).realize()
    kw_src = b.child(value.keywords, "keywords", attr=True).realize()
    return PartialVariable(func, args_src.unpack(b.tx), {k: kw_src.value(k) for k in kw_src.keys()}, b.source)


def wrap_weakref(b: "VariableBuilder", value: weakref.ref) -> VariableTracker:
    """weakref.ref: type guarded; the referent is read through ``ref()`` when called (and
    guarded then, including "it died": None)."""
    b.guard(K.TYPE_MATCH, type(value))
    referent = (LazyVariableTracker(value(), WeakRefCallSource(b.source), b.tx.capture.build)
                if b.source is not None else b.sourceless(value()))
    return WeakRefVariable(referent, b.source)


def wrap_contextvar(b: "VariableBuilder", value: contextvars.ContextVar) -> VariableTracker:
    """``contextvars.ContextVar``: guarded by identity (the variable is the key into the
    context); its value is read, and guarded by its own rule, through ``var.get()`` when the
    code first reads it. ``set``/``reset`` are side effects (variables/contextvar.py)."""
    b.guard_id(value)
    return ContextVarVariable(value, b.source)


def wrap_removable_handle(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Hook handles (``RemovableHandle``) from outside the frame (a resume function gets the one a
    hook registered at a graph break returned): passed around as they are, rebuilt from their
    source; ``remove()`` would change the model while tracing: a graph break at the call."""
    from ..variables.tensor import HookHandleVariable

    return HookHandleVariable(b.source)


def is_literal_set(value: Any) -> bool:
    return type(value) is set and all(is_literal(v) for v in value)


def wrap_literal_set(b: "VariableBuilder", value: set) -> VariableTracker:
    """Sets of constants, guarded by type and contents. (A frozenset of constants is
    immutable: "literal" catches it first.)"""
    b.guard(K.TYPE_MATCH, set)
    b.guard(K.EQUALS_MATCH, frozenset(value))
    return SetVariable({v: ConstantVariable(v) for v in value}, set)


def is_object_set(value: Any) -> bool:
    return type(value) is set and all(is_literal(v) or isinstance(type(v).__hash__, types.FunctionType) for v in value)


def wrap_object_set(b: "VariableBuilder", value: set) -> VariableTracker:
    """Sets of objects whose class defines ``__hash__`` in Python (constants may be mixed in):
    type and size are guarded and each element is wrapped (and guarded by its own rule) as
    ``list(s)[i]``, the set's iteration order; all at once, since membership needs every
    element's hash. ``__hash__``/``__eq__`` are traced, so equal new objects hit the cache.
    Sets of objects hashed by identity are not taken (a miss, ``k in s`` False, would need a
    guard that ``k`` is none of the elements, which the identity map does not give): they
    stay with "user object". After "set of literals"."""
    b.guard(K.TYPE_MATCH, set)
    b.guard(K.SEQUENCE_LENGTH, len(value))
    s = SetVariable({}, set, b.source)
    for i, v in enumerate(value):
        vt = b.tx.wrap(v, DictKeySource(b.source, i)) if b.source is not None else b.sourceless(v)
        s._items.setdefault(hash_key(b.tx, vt, s._items), vt)
    return s


def is_bytegraph_compiled(value: Any) -> bool:
    return isinstance(getattr(type(value), "__bytegraph_unwrap__", None), str)


def wrap_bytegraph_compiled(b: "VariableBuilder", value: Any) -> VariableTracker:
    """A function or module that was itself compiled with bytegraph, called from traced code:
    traced as the original it wraps (read through the wrapper), so the caller's graph
    includes it. Before "nn.Module": a compiled module is a module whose call is opaque."""
    b.guard(K.TYPE_MATCH, type(value))
    attr = type(value).__bytegraph_unwrap__
    inner = value.__dict__[attr]
    if b.source is None:
        return b.sourceless(inner)
    return b.tx.wrap(inner, InstanceAttrSource.of_object(b.source, attr))


def is_module(value: Any) -> bool:
    return isinstance(value, torch.nn.Module)


def wrap_module(b: "VariableBuilder", value: torch.nn.Module) -> VariableTracker:
    """nn.Modules are traced as objects (type-guarded); parameters, buffers and submodules
    are read through ``_parameters``/``_buffers``/``_modules`` as they are used. Before
    "user object", which would send attribute reads through Module.__getattr__."""
    b.guard(K.TYPE_MATCH, type(value))
    return NNModuleVariable(value, b.source, snapshot=b.source is None)


def wrap_higher_order(b: "VariableBuilder", value: Any) -> VariableTracker:
    """torch callables that take functions (``torch.cond``, ``torch.func.vmap``, ``checkpoint``, the
    flex_attention op...: the table in variables/higher_order.py): calling one traces its function
    arguments into subgraphs and records one node. Before "torch callable" (``checkpoint`` is one of
    torch's run-eagerly wrappers) and "python function" (most are Python functions, whose code must
    never be inlined)."""
    b.guard_id(value)
    return HigherOrderVariable(value, higher_order_rule(value), b.source)


def wrap_torch_callable(b: "VariableBuilder", value: Any) -> VariableTracker:
    """torch functions, Tensor methods and ops go into the graph. Before "python function":
    torch.nn.functional's functions are Python functions we record, not inline."""
    b.guard_id(value)
    return TorchVariable(value, b.source)


def is_transformed_function(value: Any) -> bool:
    return isinstance(value, types.FunctionType) and transformed_name(value) is not None


def wrap_transformed_function(b: "VariableBuilder", value: types.FunctionType) -> VariableTracker:
    """A function ``torch.func.vmap/grad/grad_and_value/jacrev/jacfwd`` returned before the trace
    (``per_sample_grads = vmap(grad(loss))`` at module level): calling it is one node, as if the
    transform were applied in the trace. Guarded by its code object; the function it transforms and
    the options are read from its closure cells (each guarded by its own rule). Before "python
    function", which would inline torch's wrapper."""
    b.guard(K.CLOSURE_MATCH, value.__code__)
    cells = {}
    for i, (var, cell) in enumerate(zip(value.__code__.co_freevars, value.__closure__ or ())):
        if b.source is None:
            cells[var] = b.tx.wrap_const(cell.cell_contents)
        else:
            cells[var] = b.tx.wrap(cell.cell_contents, AttrSource(ItemSource(AttrSource(b.source, "__closure__"), i),
                                                                 "cell_contents"))
    return transformed_function(transformed_name(value), cells)


def wrap_function(b: "VariableBuilder", value: types.FunctionType) -> VariableTracker:
    """Python functions are inlined when called; guarded by their code object, so a closure
    re-created by the same ``def`` on every call still hits the cache."""
    b.guard(K.CLOSURE_MATCH, value.__code__)
    return UserFunctionVariable(value, b.source)


def wrap_bound_method(b: "VariableBuilder", value: types.MethodType) -> VariableTracker:
    """A bound method: its function and its ``self`` are wrapped through ``__func__`` and
    ``__self__``, each guarded by its own rule."""
    fn = b.child(value.__func__, "__func__", attr=True).realize()
    obj = b.child(value.__self__, "__self__", attr=True).realize()
    return UserMethodVariable(fn, obj, b.source)


_CONTAINER_TYPES = (list, dict, set, collections.deque)


def is_container_method(value: Any) -> bool:
    return type(value) is types.BuiltinMethodType and type(value.__self__) in _CONTAINER_TYPES


def wrap_container_method(b: "VariableBuilder", value: Any) -> VariableTracker:
    """A bound method of a list, dict, set or deque kept as a value (``stack.callback(acc.append,
    ...)`` keeps ``acc.append`` in a closure): the container is wrapped through ``__self__`` by
    its own rule and the method's name is guarded, so calling it is the container's method,
    as ``acc.append(...)`` written out is."""
    obj = b.child(value.__self__, "__self__", attr=True).realize()
    b.child(value.__name__, "__name__", attr=True).realize()       # a literal: guarded by value
    return BoundMethodVariable(obj, value.__name__)


def wrap_builtin(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Builtins (len, isinstance, range, int...) and operator/math functions, modelled by
    handlers keyed by the builtin itself. Guarded by identity (a global may shadow them)."""
    b.guard_id(value)
    return BuiltinVariable(value, b.source)


def wrap_python_module(b: "VariableBuilder", value: types.ModuleType) -> VariableTracker:
    """Python modules (torch, math, a user's module): attribute reads go to the module."""
    b.guard_id(value)
    return PythonModuleVariable(value, b.source)


def wrap_class(b: "VariableBuilder", value: type) -> VariableTracker:
    """Classes and other type objects: guarded by identity. After "torch callable" and
    "builtin", which claim the classes they model (torch.Size, int, list...)."""
    b.guard_id(value)
    return UserDefinedClassVariable(value, b.source)


def wrap_operator_getter(b: "VariableBuilder", value: Any) -> VariableTracker:
    """``operator.itemgetter`` / ``attrgetter`` / ``methodcaller`` objects: immutable, so what
    they were made from (read through ``__reduce__()``, each part guarded by its own rule) is
    all they are; calling one is traced as the subscripts, attribute reads or method call it
    stands for. Before "user object", which cannot see inside a C object."""
    b.guard(K.TYPE_MATCH, type(value))
    kind, args, kwargs = getter_parts(value)
    if b.source is None:
        return GetterVariable(kind, [b.child(a, i) for i, a in enumerate(args)],
                              {k: b.child(v, k) for k, v in kwargs.items()})
    ctor, reduced_args = b.tx.wrap(value.__reduce__(), ReduceSource(b.source)).unpack(b.tx)[:2]
    args_vts = [vt.realize() for vt in reduced_args.realize().unpack(b.tx)]
    ctor = ctor.realize()
    if isinstance(ctor, PartialVariable):        # methodcaller(name, *args, **kwargs)
        return GetterVariable(kind, [*(a.realize() for a in ctor.args), *args_vts],
                              {k: v.realize() for k, v in ctor.keywords.items()}, b.source)
    return GetterVariable(kind, args_vts, {}, b.source)


def is_lru_cache(value: Any) -> bool:
    return type(value) is type(functools.lru_cache(lambda: None)) and hasattr(value, "__wrapped__")


def wrap_lru_cache(b: "VariableBuilder", value: Any) -> VariableTracker:
    """A ``functools.lru_cache`` function. Called with constants, it is called for real at
    trace time (a cached function is pure by contract: its result is what every call sees);
    otherwise the function it caches is traced. Before "user object"."""
    b.guard(K.TYPE_MATCH, type(value))
    return LruCacheVariable(value, b.child(value.__wrapped__, "__wrapped__", attr=True), b.source)


def wrap_cell(b: "VariableBuilder", value: types.CellType) -> VariableTracker:
    """A closure cell passed to a resume function (the original frame's cell, shared with
    the closures made before the break): its contents are read and guarded at
    ``<cell>.cell_contents``; writes are side effects on the real cell."""
    b.guard(K.TYPE_MATCH, types.CellType)
    name = b.source.local.removeprefix(CELL_PREFIX) if isinstance(b.source, LocalSource) else "cell"
    return existing_cell(b.tx.capture, value, AttrSource(b.source, "cell_contents") if b.source else None, name)


# torch's context managers the graph records, by the attributes that say what they do
_CONTEXT_MANAGER_STATE = {
    torch.amp.autocast: ("device", "fast_dtype", "_enabled", "_cache_enabled"),
    torch.inference_mode: ("mode",),
}


def is_graph_context_manager(value: Any) -> bool:
    return type(value) in _CONTEXT_MANAGER_STATE


def wrap_graph_context_manager(b: "VariableBuilder", value: Any) -> VariableTracker:
    """A ``torch.autocast`` / ``torch.inference_mode`` object made outside the trace (the one a
    resume function re-enters after a break split its block): the same tracker as one made
    while tracing, guarded on its arguments."""
    b.guard(K.TYPE_MATCH, type(value))
    state = tuple(getattr(value, attr) for attr in _CONTEXT_MANAGER_STATE[type(value)])
    if b.source is not None:
        for attr, v in zip(_CONTEXT_MANAGER_STATE[type(value)], state):
            b.tx.guard(AttrSource(b.source, attr), K.EQUALS_MATCH, v, f"builder rule '{b.rule.name}'")
    if type(value) is torch.inference_mode:
        return InferenceModeVariable(*state)
    return AutocastVariable(state, type(value))


def wrap_external_generator(b: "VariableBuilder", value: types.GeneratorType) -> VariableTracker:
    """A generator object from outside the trace: advancing it breaks (its code runs natively)."""
    b.guard(K.TYPE_MATCH, types.GeneratorType)
    return ExternalGeneratorVariable(b.source)


# exception classes whose str() depends on ``args`` alone (OSError's reads errno/filename...)
_ARGS_ONLY_STR = (BaseException.__str__, KeyError.__str__)


def wrap_exception(b: "VariableBuilder", value: BaseException) -> VariableTracker:
    """Exception objects (raised or caught while tracing, or passed in): type-guarded; their
    attributes are guarded where read (``e.args``: its length, then the items used). Folding
    the whole object (``str(e)``) guards each of ``args`` by value; it is not folded (str()
    runs natively) when its arguments are not constants or its str() reads more than them
    (exceptions cannot be weakly referenced, so an identity guard could match a new object at
    a dead one's address)."""
    b.guard(K.TYPE_MATCH, type(value))
    vt = ExceptionVariable(value)
    if b.source is not None:
        tx, source = b.tx, b.source
        if all(is_literal(a) for a in value.args) and type(value).__str__ in _ARGS_ONLY_STR \
                and type(value).__repr__ is BaseException.__repr__:
            def guard_args() -> None:            # each item by type and value (1, 1.0 and True differ)
                for item in tx.wrap(value.args, AttrSource(source, "args")).unpack(tx):
                    item.realize()
            vt.fold_guard = guard_args
        else:
            vt.unfoldable = True
    return vt


def wrap_user_defined(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Any other object: type-guarded; attributes are read (and guarded) as used. An instance
    of a dict or list subclass also carries its items (lazily, like a dict's or a list's).
    The catch-all: it stays last."""
    b.guard(K.TYPE_MATCH, type(value))
    base = container_base(type(value))
    contents = None
    if base in (dict, collections.OrderedDict):
        if not all(is_source_key(k) for k in base.keys(value)):
            raise Unsupported(breaks.UNSUPPORTED_VALUE, f"a {type(value).__qualname__} (dict subclass) with non-constant keys")
        contents = DictVariable({k: _content(b, value, dict, k, v) for k, v in base.items(value)}, base, b.source,
                                key_guards=b.key_guards())
    elif base is list:
        b.guard(K.SEQUENCE_LENGTH, len(value))
        contents = ListVariable([_content(b, value, list, i, v) for i, v in enumerate(list.__iter__(value))], b.source)
    # no source: a call at trace time made it (SourcelessBuilder(fresh=True)); rebuilt as a copy
    return UserDefinedObjectVariable(value, b.source, contents, snapshot=b.source is None)


def wrap_triton_kernel(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Triton kernels (``@triton.jit``, also under ``TRITON_INTERPRET=1``, and ``@triton.autotune`` /
    ``@triton.heuristics`` wrappers in any order): ``kernel[grid](...)`` and ``kernel.run(...)``
    are one graph node each (variables/triton.py). Guarded by identity; an autotuner's configs
    by value when the kernel is launched. Before "user object", which would trace Triton's own
    launcher."""
    b.guard_id(value)
    return TritonKernelVariable(value, source=b.source)


def wrap_tensor_descriptor_class(b: "VariableBuilder", value: Any) -> VariableTracker:
    """Triton's ``TensorDescriptor`` class: ``from_tensor`` makes a descriptor tracker (the tensor
    and its block shape). Before "class"."""
    b.guard_id(value)
    return TensorDescriptorClassVariable(value, b.source)


def wrap_tensor_descriptor(b: "VariableBuilder", value: Any) -> VariableTracker:
    """A Triton ``TensorDescriptor`` made outside the trace: its tensor (a graph input) and block
    shape, guarded through ``.base`` and by value; rebuilt from the tensor where the kernel runs.
    Before "user object"."""
    b.guard(K.TYPE_MATCH, type(value))
    if b.source is None:
        raise Unsupported(breaks.UNSUPPORTED_VALUE, "a Triton tensor descriptor made outside the trace")
    return descriptor_from_source(b.tx, value, b.source)


def _content(b: "VariableBuilder", obj: Any, container: type, key: Any, value: Any) -> VariableTracker:
    """An item of a dict/list subclass instance: ``obj[key]``, or, when the class overrides
    ``__getitem__`` (whose call at guard time could do anything), ``dict.__getitem__(obj, key)``."""
    if b.source is None or type(obj).__getitem__ is container.__getitem__:
        return b.child(value, key)
    return LazyVariableTracker(value, BuiltinItemSource(b.source, key, container), b.tx.capture.build)


def _always(value: Any) -> bool:
    return True


RULES: list[WrapRule] = [                   # first match wins; read top to bottom
    WrapRule("tensor", is_plain_tensor, wrap_tensor, (K.TENSOR_MATCH,), tracks_identity=True),
    WrapRule("tensor subclass", is_tensor_subclass, wrap_tensor_subclass, ()),
    WrapRule("numpy ndarray", is_ndarray, wrap_ndarray, (K.TYPE_MATCH, K.TENSOR_MATCH), tracks_identity=True),
    WrapRule("slice", lambda v: type(v) is slice and is_literal(v), wrap_slice, (K.TYPE_MATCH,)),
    WrapRule("literal", is_literal, wrap_literal, (K.EQUALS_MATCH,)),
    WrapRule("namedtuple", is_namedtuple, wrap_namedtuple, (K.TYPE_MATCH, K.SEQUENCE_LENGTH), tracks_identity=True),
    WrapRule("list or tuple", is_list_or_tuple, wrap_listlike, (K.TYPE_MATCH, K.SEQUENCE_LENGTH), tracks_identity=True),
    WrapRule("dict", is_literal_key_dict, wrap_dict, (K.TYPE_MATCH,), tracks_identity=True),
    WrapRule("dict with object keys", is_object_key_dict, wrap_object_key_dict, (K.TYPE_MATCH, K.SEQUENCE_LENGTH),
             tracks_identity=True),
    WrapRule("range, tuple or list iterator", lambda v: type(v) in ITERATOR_TYPES, wrap_iterator, (K.TYPE_MATCH,),
             tracks_identity=True),
    WrapRule("set of literals", is_literal_set, wrap_literal_set, (K.TYPE_MATCH, K.EQUALS_MATCH), tracks_identity=True),
    WrapRule("set of objects", is_object_set, wrap_object_set, (K.TYPE_MATCH, K.SEQUENCE_LENGTH), tracks_identity=True),
    WrapRule("deque", lambda v: type(v) is collections.deque, wrap_deque, (K.TYPE_MATCH, K.SEQUENCE_LENGTH),
             tracks_identity=True),
    WrapRule("defaultdict or mappingproxy", is_special_dict, wrap_special_dict, (K.TYPE_MATCH,),
             tracks_identity=True),
    WrapRule("functools.partial", lambda v: type(v) is functools.partial, wrap_partial, (K.TYPE_MATCH,)),
    WrapRule("weakref", lambda v: type(v) is weakref.ref, wrap_weakref, (K.TYPE_MATCH,)),
    WrapRule("contextvars.ContextVar", lambda v: type(v) is contextvars.ContextVar, wrap_contextvar, (K.ID_MATCH,),
             tracks_identity=True),
    WrapRule("hook handle", lambda v: isinstance(v, RemovableHandle), wrap_removable_handle, ()),
    WrapRule("compiled by bytegraph", is_bytegraph_compiled, wrap_bytegraph_compiled, (K.TYPE_MATCH,)),
    WrapRule("nn.Module", is_module, wrap_module, (K.TYPE_MATCH,), tracks_identity=True),
    WrapRule("torch autocast or inference_mode", is_graph_context_manager, wrap_graph_context_manager,
             (K.TYPE_MATCH, K.EQUALS_MATCH)),
    WrapRule("higher-order op", is_higher_order, wrap_higher_order, (K.ID_MATCH,)),
    WrapRule("torch callable", is_torch_callable, wrap_torch_callable, (K.ID_MATCH,)),
    WrapRule("torch.func transformed function", is_transformed_function, wrap_transformed_function,
             (K.CLOSURE_MATCH,)),
    WrapRule("python function", lambda v: isinstance(v, types.FunctionType), wrap_function, (K.CLOSURE_MATCH,)),
    WrapRule("bound method", lambda v: isinstance(v, types.MethodType), wrap_bound_method, ()),
    WrapRule("container method", is_container_method, wrap_container_method, (K.EQUALS_MATCH,)),
    WrapRule("builtin", is_builtin, wrap_builtin, (K.ID_MATCH,)),
    WrapRule("python module", lambda v: isinstance(v, types.ModuleType), wrap_python_module, (K.ID_MATCH,)),
    WrapRule("triton tensor descriptor class", is_tensor_descriptor_class, wrap_tensor_descriptor_class,
             (K.ID_MATCH,)),
    WrapRule("module backward hook class", is_backward_hook_class, wrap_backward_hook_class, (K.ID_MATCH,)),
    WrapRule("class", lambda v: isinstance(v, type), wrap_class, (K.ID_MATCH,)),
    WrapRule("lru_cache wrapper", is_lru_cache, wrap_lru_cache, (K.TYPE_MATCH,)),
    WrapRule("operator getter", lambda v: type(v) in GETTER_TYPES, wrap_operator_getter, (K.TYPE_MATCH,)),
    WrapRule("generator object", lambda v: type(v) is types.GeneratorType, wrap_external_generator, (K.TYPE_MATCH,),
             tracks_identity=True),
    WrapRule("exception", lambda v: isinstance(v, BaseException), wrap_exception, (K.TYPE_MATCH,)),
    WrapRule("closure cell", lambda v: type(v) is types.CellType, wrap_cell, (K.TYPE_MATCH,)),
    WrapRule("triton kernel", is_triton_kernel, wrap_triton_kernel, (K.ID_MATCH,)),
    WrapRule("triton tensor descriptor", is_tensor_descriptor, wrap_tensor_descriptor, (K.TYPE_MATCH,)),
    WrapRule("user object", _always, wrap_user_defined, (K.TYPE_MATCH,), tracks_identity=True),
]


def select_rule(value: Any) -> WrapRule:
    for rule in RULES:
        if rule.match(value):
            return rule
    raise AssertionError("the catch-all rule matches everything")
