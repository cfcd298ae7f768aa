"""The validated IR (LANGUAGE.md §8): plain frozen data that every backend compiles from."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import field, replace

from ..diagnostics import Span
from ..layers import Weight
from ..records import record

# Version 2 added `concat` and `add` nodes, which hold `branches` (LANGUAGE.md §13). An IR without
# them is exactly version 1's (LANGUAGE.md §8 promises version 1 for such specs), so it says 1:
# the number changes only for a reader that must know about branches.
FORMAT, VERSION, VERSION_WITHOUT_BRANCHES = "stackspec-ir", 2, 1

# §6: the final activation that each of these losses takes over. A model ending in it outputs
# probabilities, and the loss reads the values before it through a fused, stable log-softmax or
# log-sigmoid (Keras's from_logits=False, without the clipping), so the activation is applied
# once, by the model, and never squashed twice.
FUSED_ACTIVATIONS = {"crossentropy": "softmax", "bce": "sigmoid"}


def final_activation(node: Node) -> str:
    """The activation a node ends in: dense/conv2d's argument, an activation layer's own name;
    anything else is its op."""
    if node.op in ("dense", "conv2d"):
        return node.params["activation"]
    return node.op


@record
class Node:
    """One layer of the IR; a residual holds its body, a concat or add its branches (each a
    tuple of nodes, numbered inside: `6.0.2` is the third layer of node 6's first branch)."""

    id: str
    op: str
    params: dict
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    line: int
    column: int
    weights: dict[str, Weight] = field(default_factory=dict)  # trainable, in key order
    state: dict[str, Weight] = field(default_factory=dict)  # non-trainable
    body: tuple[Node, ...] = ()
    branches: tuple[tuple[Node, ...], ...] = ()

    def children(self) -> tuple[Node, ...]:
        """The nodes inside this one, in execution order: the body, then branch after branch."""
        return self.body + tuple(n for branch in self.branches for n in branch)

    def name_span(self) -> Span:
        """The layer's name where the spec writes it: where a diagnostic about the node goes."""
        return Span(self.line, self.column, self.line, self.column + len(self.op))

    def keys(self) -> dict[str, str]:
        """name -> weight-file key (`{id}.{name}`) of each tensor, trainable then state."""
        return {name: f"{self.id}.{name}" for name in (*self.weights, *self.state)}

    @property
    def param_count(self) -> int:
        own = sum(math.prod(w.shape) for w in self.weights.values())
        return own + sum(n.param_count for n in self.children())

    @property
    def state_count(self) -> int:
        own = sum(math.prod(w.shape) for w in self.state.values())
        return own + sum(n.state_count for n in self.children())

    def to_json(self) -> dict:
        d = {
            "id": self.id,
            "op": self.op,
            "params": {k: _jsonable(v) for k, v in self.params.items()},
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "param_count": self.param_count,
            "state_count": self.state_count,
            "source": {"line": self.line, "column": self.column},
        }
        if self.op == "residual":
            d["body"] = [n.to_json() for n in self.body]
        if self.branches:
            d["branches"] = [[n.to_json() for n in branch] for branch in self.branches]
        return d


@record
class IR:
    """The validated model: input shape, nodes, train settings and the data section (None
    without one; LANGUAGE.md §11)."""

    input: tuple[int, ...]
    nodes: tuple[Node, ...]
    train: dict
    data: dict | None = None

    @property
    def param_count(self) -> int:
        return sum(n.param_count for n in self.nodes)

    @property
    def state_count(self) -> int:
        return sum(n.state_count for n in self.nodes)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.nodes[-1].output_shape if self.nodes else self.input

    def fused_activation(self) -> str | None:
        """`softmax` or `sigmoid` when the final layer ends in the activation that the loss takes
        over (FUSED_ACTIVATIONS), else None (the outputs are then the logits themselves)."""
        wanted = FUSED_ACTIVATIONS.get(self.train["loss"]["name"])
        if wanted is None or not self.nodes or final_activation(self.nodes[-1]) != wanted:
            return None
        return wanted

    def logit_nodes(self) -> tuple[Node, ...]:
        """The nodes computing what the loss reads: all of them, but without a fused final
        activation (an activation layer left out, dense/conv2d's activation made linear). Its
        weight-file keys are the model's, so a backend runs these on the same tensors."""
        if self.fused_activation() is None:
            return self.nodes
        *rest, last = self.nodes
        if last.op not in ("dense", "conv2d"):
            return tuple(rest)
        return (*rest, replace(last, params={**last.params, "activation": "linear"}))

    def walk(self) -> Iterator[Node]:
        """Every node, residual bodies and branches included, in execution order (a residual
        before its body, a join before its branches, the first branch first)."""
        stack = list(reversed(self.nodes))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))

    def tensors(self) -> dict[str, Weight]:
        """Every weight-file entry `{node_id}.{name}` -> its Weight, trainable and state."""
        out = {}
        for node in self.walk():
            tensors = {**node.weights, **node.state}
            for name, key in node.keys().items():
                out[key] = tensors[name]
        return out

    def has_branches(self) -> bool:
        return any(node.branches for node in self.walk())

    def to_json(self) -> dict:
        out = {
            "format": FORMAT,
            "version": VERSION if self.has_branches() else VERSION_WITHOUT_BRANCHES,
            "input": list(self.input),
            "nodes": [n.to_json() for n in self.nodes],
            "train": _jsonable(self.train),
        }
        if self.data is not None:  # specs without a data section print what they always did
            out["data"] = _jsonable(self.data)
        return {**out, "param_count": self.param_count, "state_count": self.state_count}

    def dumps(self) -> str:
        import json  # here, not at the top: `stackspec check` never needs it and starts faster

        return json.dumps(self.to_json(), indent=2)

    def model_hash(self) -> str:
        """A hash of what decides the weights' meaning: layers, params and shapes, not training
        settings or source positions, so a reformatted spec or a new learning rate keeps it."""
        layers = [
            {k: v for k, v in n.to_json().items() if k not in ("source", "body", "branches")}
            for n in self.walk()
        ]
        import hashlib
        import json

        blob = json.dumps({"input": list(self.input), "layers": layers}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v
