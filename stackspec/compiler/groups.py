"""The IR's nodes grouped as the spec writes them: repeats and block calls, for the diagram.

The IR expands `repeat` and block calls (LANGUAGE.md §8), and a node's source position is that
of its layer inside the repeat's or the block's body, the same for every copy: positions alone
cannot tell where one copy ends or which call a layer came from. So the grouping is recovered by
resolving the syntax tree again with a Resolver that notes, for each repeat and block call, the
items it expanded to. Resolution is deterministic and the IR's nodes are its items one to one
(a residual's body and a join's branches nested alike), so each noted item is matched with its
node. Only a valid spec is grouped (the IR exists); its second resolution costs what `check`
costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Diagnostics
from ..grammar import syntax as s
from ..limits import DEFAULT, Limits
from .ir import IR, Node
from .resolve import JoinCall, ResidualCall, Resolver


@dataclass(frozen=True)
class Layer:
    node: Node


@dataclass(frozen=True)
class Residual:
    node: Node
    body: tuple[Part, ...]


@dataclass(frozen=True)
class Join:
    """A concat or add node and the parts of each of its branches."""

    node: Node
    branches: tuple[tuple[Part, ...], ...]


@dataclass(frozen=True)
class Group:
    """A repeat (`label` "repeat 3", one entry of `copies` per copy) or a block call (`label` the
    call with its values, `hidden 512 rate=0.3`; one copy)."""

    kind: str  # "repeat" | "block"
    label: str
    copies: tuple[tuple[Part, ...], ...]

    def nodes(self) -> list[Node]:
        return [n for copy in self.copies for n in top_nodes(copy)]


Part = Layer | Residual | Join | Group


def top_nodes(parts) -> list[Node]:
    """The nodes of `parts` at their own level (a residual is one node), in order."""
    out = []
    for p in parts:
        out.extend(p.nodes() if isinstance(p, Group) else [p.node])
    return out


@dataclass(frozen=True, eq=False)  # told apart by identity: `repeat 1 { repeat 1 { ... } }`
class _Noted:
    kind: str
    label: str
    items: tuple  # the expanded items, every copy in order
    count: int  # copies


class _NotingResolver(Resolver):
    """A Resolver that notes what each repeat and block call expanded to."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.noted: list[_Noted] = []

    def _repeat(self, st: s.Repeat, env, depth, context):
        out = super()._repeat(st, env, depth, context)
        count = self.value(st.count, env).value
        self.noted.append(_Noted("repeat", f"repeat {count}", tuple(out), count))
        return out

    def _call(self, c: s.Call, env, depth, context):
        out = super()._call(c, env, depth, context)
        if c.name in self.blocks:
            r = self._resolved_call(c, env)
            words = [
                c.name,
                *(v.text for v in r.args),
                *(f"{k.name}={k.value.text}" for k in r.kwargs),
            ]
            self.noted.append(_Noted("block", " ".join(words), tuple(out), 1))
        return out


def parts(
    program: s.Program,
    ir: IR,
    overrides: dict[str, str] | None = None,
    limits: Limits = DEFAULT,
) -> tuple[Part, ...]:
    """The IR's nodes as Layer, Residual and Group parts, nested as the spec writes them.
    `program`, `overrides` and `limits` are those that made `ir`."""
    resolver = _NotingResolver(program, Diagnostics(""), overrides, limits)
    resolved = resolver.resolve()
    # Outermost first at each starting item: longer first, and for equal lengths (`repeat 1 {
    # hidden 4 }`) the one noted later, since a resolver notes the inner one when it returns.
    starts: dict[int, list[_Noted]] = {}
    for noted in sorted(reversed(resolver.noted), key=lambda n: -len(n.items)):
        if noted.items:
            starts.setdefault(id(noted.items[0]), []).append(noted)
    return _parts(resolved.items, ir.nodes, starts, None)


def _parts(items, nodes, starts, inside: _Noted | None) -> tuple[Part, ...]:
    """`inside`: the group whose first copy these items begin; only groups within it start at
    the first item."""
    assert len(items) == len(nodes), "the IR's nodes are the resolved items one to one"
    out: list[Part] = []
    i = 0
    while i < len(items):
        here = starts.get(id(items[i]), [])
        if i == 0 and inside is not None:
            here = here[here.index(inside) + 1 :]
        if here:
            g = here[0]
            size = len(g.items) // g.count
            copies = tuple(
                _parts(
                    items[i + k * size : i + (k + 1) * size],
                    nodes[i + k * size : i + (k + 1) * size],
                    starts,
                    g if k == 0 else None,
                )
                for k in range(g.count)
            )
            out.append(Group(g.kind, g.label, copies))
            i += len(g.items)
        elif isinstance(items[i], ResidualCall):
            node = nodes[i]
            out.append(Residual(node, _parts(items[i].body, node.body, starts, None)))
            i += 1
        elif isinstance(items[i], JoinCall):
            node, branches = nodes[i], items[i].branches
            inner = zip(branches, node.branches, strict=True)
            out.append(Join(node, tuple(_parts(b, n, starts, None) for b, n in inner)))
            i += 1
        else:
            out.append(Layer(nodes[i]))
            i += 1
    return tuple(out)
