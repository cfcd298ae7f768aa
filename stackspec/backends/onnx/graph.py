"""The ONNX graph of an IR: a small builder that layer functions add ops to, the composition of
the nodes (dispatch by registry key), and the model around the graph.

Names, so that Netron and error messages point back at the spec: every ONNX node and the value
it produces are named `{node_id}/{OpType}` (`3/Gemm`, `3/Relu`; `5.1/Add` inside residual 5),
and a tensor of the weight file keeps its key as its initializer's name (`3.weight`), in the §8
layout. Constants that a layer needs besides its tensors are named `{node_id}/{what}`.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ...layers import ACTIVATIONS, STRUCTURAL, activation_params
from ...version import __version__
from . import IR_VERSION, OPSET
from .layers import FUNCTIONS

INPUT, OUTPUT, BATCH = "input", "output", "N"


class Graph:
    """The ops, initializers and value shapes of a graph being built. `scope` is the id of the
    IR node whose ops are being added."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list = []
        self.initializers: dict[str, object] = {}
        self.shapes: list = []
        self.scope = ""
        self._used: set[str] = set()

    def op(self, op_type: str, *inputs: str, **attributes) -> str:
        """Add one op; returns the name of its (single) output. An absent optional input is
        `""`, as ONNX spells it; trailing ones are left out (onnxruntime 1.30 crashes on
        LayerNormalization with an empty-named bias)."""
        name = self._fresh(f"{self.scope}/{op_type}")
        given = list(inputs)
        while given and not given[-1]:
            given.pop()
        self.nodes.append(helper.make_node(op_type, given, [name], name, **attributes))
        return name

    def op_outputs(self, op_type: str, count: int, *inputs: str, **attributes) -> list[str]:
        """An op with `count` outputs (LSTM's Y and Y_h); their names."""
        base = self._fresh(f"{self.scope}/{op_type}")
        names = [base] + [self._fresh(f"{base}_out{i}") for i in range(1, count)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, base, **attributes))
        return names

    def tensor(self, node, name: str) -> str | None:
        """The initializer of the node's weight-file tensor `name`, or None if the node has no
        such tensor (bias=false, affine=false)."""
        key = node.keys().get(name)
        if key is None:
            return None
        if key not in self.initializers:
            value = np.asarray(self.weights[key], dtype=np.float32)
            self.initializers[key] = numpy_helper.from_array(value, key)
        return key

    def const(self, what: str, value) -> str:
        """A float32 constant of this scope (an int64 one for shapes: pass an int64 array)."""
        array = np.asarray(value)
        if array.dtype != np.int64:
            array = array.astype(np.float32)
        name = self._fresh(f"{self.scope}/{what}")
        self.initializers[name] = numpy_helper.from_array(array, name)
        return name

    def per_channel(self, name: str, ndim: int) -> str:
        """A (C) vector broadcast against an (N, C, H, W) batch as (C, 1, 1); itself for (N, F)
        and (N, T, F), whose features are last."""
        if ndim != 4:
            return name
        shape = self.const("channel_shape", np.array([-1, 1, 1], dtype=np.int64))
        return self.op("Reshape", name, shape)

    def shape(self, value: str, shape: tuple[int, ...]) -> None:
        """Record a value's per-example shape (the IR's), for viewers and the checker."""
        self.shapes.append(value_info(value, shape))

    def _fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name


def value_info(name: str, shape: tuple[int, ...]):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH, *shape])


# --- composition -------------------------------------------------------------------------------


def add_nodes(g: Graph, nodes, x: str) -> str:
    """The nodes run in order on the value `x`; returns the name of the last one's output."""
    for node in nodes:
        x = add_node(g, node, x)
    return x


def add_node(g: Graph, node, x: str) -> str:
    """One IR node: its own function, then dense/conv2d's activation (with the registry's
    defaults for the activation's arguments, as every backend reads them)."""
    outer, g.scope = g.scope, node.id
    fn = function(node.op)
    if node.op in ACTIVATIONS:
        y = fn(g, x, **node.params)
    elif node.op in STRUCTURAL:
        y = fn(g, node, x, add_nodes)
    else:
        y = fn(g, node, x)
    act = node.params.get("activation", "linear")
    if act != "linear":
        y = function(act)(g, y, **activation_params(act))
    g.shape(y, node.output_shape)
    g.scope = outer
    return y


def function(op: str):
    try:
        return FUNCTIONS[op]
    except KeyError:
        raise NotImplementedError(f"the ONNX exporter has no layer '{op}'") from None


# --- the model ---------------------------------------------------------------------------------


def build_model(ir, weights: dict[str, np.ndarray], source: str = ""):
    """The ModelProto of `ir` (see the package's onnx_model)."""
    missing = [k for k in ir.tensors() if k not in weights]
    if missing:
        raise ValueError(f"weights do not match the model: missing {missing}")
    g = Graph(weights)
    y = add_nodes(g, ir.nodes, INPUT)
    _name_output(g, y)
    graph = helper.make_graph(
        g.nodes,
        "stackspec",
        [value_info(INPUT, ir.input)],
        [value_info(OUTPUT, ir.output_shape)],
        initializer=list(g.initializers.values()),
        value_info=[v for v in g.shapes if v.name != OUTPUT],
        doc_string=f"stackspec model{f' of {source}' if source else ''}, evaluation mode",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="stackspec",
        producer_version=__version__,
        ir_version=IR_VERSION,
    )
    helper.set_model_props(
        model,
        {"stackspec_version": __version__, "ir_hash": ir.model_hash(), "spec": source},
    )
    return model


def _name_output(g: Graph, y: str) -> None:
    """Rename the last value to `output`, or copy the input there if no op computed it."""
    if y == INPUT:
        g.nodes.append(helper.make_node("Identity", [INPUT], [OUTPUT], "output/Identity"))
        return
    for node in g.nodes:  # the last value: produced once, consumed by no op
        node.output[:] = [OUTPUT if o == y else o for o in node.output]
    for info in g.shapes:
        if info.name == y:
            info.name = OUTPUT
