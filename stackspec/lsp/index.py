"""Where each name of a spec is defined and used, read off the syntax tree once per compile.

The resolver's own rule (LANGUAGE.md §3) decides what a name means: inside a block, its
parameters first, then the `let` constants; a call names a block or a layer; in `train { }`
values see the constants, in `data { }` names are column names and mean nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Span
from ..grammar import syntax as s

# What an occurrence names. `layer`, `setting` and `kwarg` occurrences are only looked up
# (hover, completion); the others also have definitions and references.
LET, BLOCK, PARAM, LAYER, SETTING, KWARG = "let", "block", "param", "layer", "setting", "kwarg"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One name in the text: what it names, where, and whether this is its definition."""

    kind: str
    name: str
    span: Span
    definition: bool = False
    scope: str = ""  # the block whose parameter this is (kind PARAM)
    call: s.Call | None = None  # the call it names (LAYER, BLOCK use, SETTING) or belongs to
    section: str = ""  # "train" or "data" for SETTING and their KWARGs
    within: str = ""  # the block whose body holds this use of a name

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.scope, self.name


@dataclass
class Index:
    """Every occurrence, by line and by what it names."""

    by_line: dict[int, list[Occurrence]] = field(default_factory=dict)
    refs: dict[tuple[str, str, str], list[Occurrence]] = field(default_factory=dict)
    lets: dict[str, s.Let] = field(default_factory=dict)
    blocks: dict[str, s.Block] = field(default_factory=dict)
    calls: list[s.Call] = field(default_factory=list)  # layer and block calls, in order
    sections: list[tuple[str, s.Train | s.Data]] = field(default_factory=list)
    # A `repeat`'s or `residual`'s keyword -> its `{`, where the totals of its body are shown.
    headers: dict[Span, Span] = field(default_factory=dict)

    def add(self, occ: Occurrence) -> None:
        self.by_line.setdefault(occ.span.line, []).append(occ)
        if occ.kind in (LET, BLOCK, PARAM):
            self.refs.setdefault(occ.key, []).append(occ)

    def at(self, line: int, column: int) -> Occurrence | None:
        """The occurrence under (line, column); the column just past a name still counts, as an
        editor's cursor sits there after typing it."""
        for occ in self.by_line.get(line, ()):
            sp = occ.span
            if sp.line == line and sp.column <= column <= sp.end_column:
                return occ
        return None


def build(program: s.Program) -> Index:
    index = Index()
    for st in program.stmts:
        if isinstance(st, s.Let):
            index.lets.setdefault(st.name, st)
        elif isinstance(st, s.Block):
            index.blocks.setdefault(st.name, st)
    _Walker(index).stmts(program.stmts, None)
    return index


class _Walker:
    def __init__(self, index: Index):
        self.index = index

    def stmts(self, stmts, block: s.Block | None) -> None:
        for st in stmts:
            self.stmt(st, block)

    def stmt(self, st: s.Stmt, block: s.Block | None) -> None:
        add = self.index.add
        if isinstance(st, s.Call):
            self.call(st, block)
        elif isinstance(st, s.Let):
            add(Occurrence(LET, st.name, st.span, definition=True))
            self.value(st.value, None)
        elif isinstance(st, s.Block):
            add(Occurrence(BLOCK, st.name, st.span, definition=True))
            for p in st.params:
                add(Occurrence(PARAM, p.name, p.span, definition=True, scope=st.name))
                if p.default is not None:
                    self.value(p.default, None)  # defaults see the constants only
            self.stmts(st.body.stmts, st)
        elif isinstance(st, s.Input):
            self.value(st.shape, None)
        elif isinstance(st, s.Repeat):
            self.index.headers[st.span] = st.body.open
            self.value(st.count, block)
            self.stmts(st.body.stmts, block)
        elif isinstance(st, (s.Residual, s.Join, s.Branch)):
            self.index.headers[st.span] = st.body.open
            self.stmts(st.body.stmts, block)
        elif isinstance(st, (s.Train, s.Data)):
            section = "train" if isinstance(st, s.Train) else "data"
            self.index.sections.append((section, st))
            for inner in st.body.stmts:
                if isinstance(inner, s.Call):
                    self.setting(inner, section)

    def call(self, c: s.Call, block: s.Block | None) -> None:
        target = self.index.blocks.get(c.name)
        self.index.calls.append(c)
        if target is not None:
            self.index.add(Occurrence(BLOCK, c.name, c.span, call=c))
        else:
            self.index.add(Occurrence(LAYER, c.name, c.span, call=c))
        for kw in c.kwargs:
            if target is not None and any(p.name == kw.name for p in target.params):
                self.index.add(Occurrence(PARAM, kw.name, kw.span, scope=target.name, call=c))
            else:
                self.index.add(Occurrence(KWARG, kw.name, kw.span, call=c))
        for v in (*c.args, *(kw.value for kw in c.kwargs)):
            self.value(v, block)

    def setting(self, c: s.Call, section: str) -> None:
        self.index.add(Occurrence(SETTING, c.name, c.span, call=c, section=section))
        for kw in c.kwargs:
            self.index.add(Occurrence(KWARG, kw.name, kw.span, call=c, section=section))
        if section == "train":  # names in `data { }` are columns, never constants
            for v in (*c.args, *(kw.value for kw in c.kwargs)):
                self.value(v, None)

    def value(self, v: s.Value, block: s.Block | None) -> None:
        if v.kind == "list":
            for item in v.value:
                self.value(item, block)
        elif v.kind == "name":
            if block is not None and any(p.name == v.text for p in block.params):
                self.index.add(Occurrence(PARAM, v.text, v.span, scope=block.name))
            elif v.text in self.index.lets:
                within = block.name if block is not None else ""
                self.index.add(Occurrence(LET, v.text, v.span, within=within))
