"""One compile of one version of a document, and what the requests read from it.

A document is compiled once per change (server.py debounces the changes), never per request:
every feature reads the Analysis of the latest compiled version. Tables that only some requests
need (the layers at each position, the inlay hints) are built on first use and kept with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler.ir import Node
from ..compiler.pipeline import Compiled, compile_source
from ..diagnostics import Span, source_lines
from ..grammar.parser import paused_gc
from . import index as idx


@dataclass
class Analysis:
    version: int | None
    text: str
    lines: list[str]
    compiled: Compiled
    index: idx.Index | None  # None when the text does not parse
    cache: dict = field(default_factory=dict)

    @property
    def ir(self):
        return self.compiled.ir

    def walk(self) -> list[Node]:
        """The IR's nodes in execution order (a residual before its body), the order the
        expansions' ranges count in."""
        if "walk" not in self.cache:
            self.cache["walk"] = list(self.ir.walk()) if self.ir is not None else []
        return self.cache["walk"]

    def nodes_at(self) -> dict[tuple[int, int], list[Node]]:
        """(line, column) of a layer's name in the text -> the IR nodes written there: one, or
        one per copy when a `repeat` or several block calls expand it."""
        if "nodes_at" not in self.cache:
            out: dict[tuple[int, int], list[Node]] = {}
            for node in self.walk():
                out.setdefault((node.line, node.column), []).append(node)
            self.cache["nodes_at"] = out
        return self.cache["nodes_at"]

    def expansions(self) -> dict[Span, list[list[Node]]]:
        """A `repeat`'s or block call's span -> the layers of each of its expansions (several
        when it is itself inside a repeat or a block), a residual's or a join's the same for
        what it holds."""
        if "expansions" not in self.cache:
            walk = self.walk()
            out: dict[Span, list[list[Node]]] = {}
            for span, first, end in self.compiled.expansions:
                out.setdefault(span, []).append(walk[first:end])
            for i, node in enumerate(walk):
                if node.op == "residual" or node.branches:
                    size = sum(1 for _ in _descendants(node))
                    span = Span(node.line, node.column, node.line, node.column + len(node.op))
                    out.setdefault(span, []).append(walk[i : i + 1 + size])
            self.cache["expansions"] = out
        return self.cache["expansions"]


def _descendants(node: Node):
    for child in node.children():
        yield child
        yield from _descendants(child)


def analyze(text: str, version: int | None = None, file: str = "<spec>") -> Analysis:
    """Compile, index the names, and build the tables every request reads (off the request
    path: server.py runs this on its compile thread)."""
    compiled = compile_source(text, file)
    # Many small objects and no cycles, as in compile_source: the collector would only rescan.
    with paused_gc():
        index = idx.build(compiled.program) if compiled.program is not None else None
        a = Analysis(version, text, source_lines(text), compiled, index)
        a.nodes_at()
        a.expansions()
    return a


def leaves(nodes: list[Node]):
    """The layers among `nodes` that hold their own tensors (a residual's count is its body's,
    which the list already holds)."""
    return (n for n in nodes if not n.children())
