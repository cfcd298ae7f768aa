"""The diagram's layout: the grouped IR (compiler/groups.py) placed top to bottom as plain shapes
(rectangles, texts, paths, joins) in pixels, which svg.py and png.py draw alike.

Every element is centred on one vertical axis, so the flow is one straight line; a frame (a block
call, an expanded repeat, a residual) insets what it holds. A residual's skip path leaves the axis
above its frame, runs down a lane beside it and joins the body's output in a `+` below it.
Coordinates are integers, so the SVG text is the same on every machine.

Collapsing (the default): a repeat of two or more copies is one stacked box, `repeat 3 × { dense
1024 relu | dropout 0.3 | batchnorm }`, and a run of equal consecutive parts (the same calls on
the same shapes, written out instead of repeated) is one box `4 × dense 64 relu`. So a model of
hundreds of layers written with `repeat` stays a few boxes tall; `expand` draws every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler.groups import Group, Layer, Part, Residual, top_nodes
from ..compiler.groups import Join as Branches
from ..compiler.ir import IR, Node
from ..compiler.summary import byte_size, call_text
from ..diagnostics import example_shape, shape_source

WIDTH, MARGIN = 640, 20  # the canvas's least width; deep nesting widens it
MIN_BOX = 280  # the least width of a box, however deep it is nested
GAP = 22  # between elements: room for an arrow
PAD = 14  # a frame's inset on each side
LANE = 12  # beside a residual's frame, where its skip path runs
FRAME_TOP, FRAME_BOTTOM = 22, 10
FONT, SMALL = 13, 11  # px, monospace
LINE, SMALL_LINE = 17, 15
TEXT_PAD = 12
JOIN_R = 8
STACK_OFFSET = 4  # the cards behind a stacked box
MAX_TITLE_LINES = 4


def char_width(size: int) -> float:
    return 0.6 * size  # monospace advance (DejaVu Sans Mono: 0.602 em)


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int
    kind: str  # input | layer | stack | card | block | repeat | residual


@dataclass(frozen=True)
class Text:
    x: int
    y: int  # the baseline
    text: str
    kind: str  # title | call | detail | id | label | total
    anchor: str = "middle"  # start | middle | end


@dataclass(frozen=True)
class Path:
    points: tuple[tuple[int, int], ...]
    kind: str  # flow | skip | copy (a dotted line between a repeat's copies)
    arrow: bool = True


@dataclass(frozen=True)
class Join:
    """The `+` where a residual's skip path meets its body's output (r > 0), or the dot where
    the skip path leaves the flow (r == 0)."""

    x: int
    y: int
    r: int


Shape = Rect | Text | Path | Join


@dataclass
class Drawing:
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)


# --- what a part says --------------------------------------------------------------------------


def signature(part: Part):
    """Equal for parts that compute the same thing on the same shapes: a run of them collapses."""
    if isinstance(part, Layer):
        n = part.node
        return ("layer", call_text(n, keywords=True), n.input_shape, n.output_shape)
    if isinstance(part, Residual):
        return ("residual", part.node.input_shape, tuple(signature(p) for p in part.body))
    if isinstance(part, Branches):
        inner = tuple(tuple(signature(p) for p in b) for b in part.branches)
        return (part.node.op, part.node.input_shape, inner)
    return (part.kind, part.label, tuple(tuple(signature(p) for p in c) for c in part.copies))


def text_of(part: Part) -> str:
    """A part as one line of spec-like text, its body in braces."""
    if isinstance(part, Layer):
        return call_text(part.node, keywords=True)
    if isinstance(part, Residual):
        return f"residual {{ {body_text(part.body)} }}"
    if isinstance(part, Branches):
        inner = " ".join(f"branch {{ {body_text(b)} }}" for b in part.branches)
        return f"{part.node.op} {{ {inner} }}"
    if part.kind == "block":
        return part.label
    return f"{part.label} × {{ {body_text(part.copies[0])} }}"


def body_text(parts) -> str:
    return " | ".join(text_of(p) for p in parts)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}"


def detail(nodes: list[Node], each: tuple[int, ...] = ()) -> str:
    """`out (1024) · 11,264 params · 2,048 state`, summed over `nodes`; with `each`, the
    parameters of each copy, `(3 × 4,288)` when they are equal."""
    params = sum(n.param_count for n in nodes)
    state = sum(n.state_count for n in nodes)
    words = [f"out {example_shape(nodes[-1].output_shape)}", _count(params, "params")]
    if len(each) > 1 and params and len(set(each)) == 1:
        words[-1] += f" ({len(each)} × {each[0]:,})"
    if state:
        words.append(_count(state, "state"))
    return " · ".join(words)


def wrap(text: str, chars: int, max_lines: int = MAX_TITLE_LINES) -> list[str]:
    """`text` in lines of at most `chars`, broken at spaces; an overlong end becomes `…`."""
    lines: list[str] = []
    for word in text.split(" "):
        while len(word) > chars:  # a word longer than a line (a long name) is cut
            lines.append(word[:chars])
            word = word[chars:]
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars - 1] + "…"
    return lines


def fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def _params(nodes) -> int:
    return sum(n.param_count for n in nodes)


# --- collapsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """Parts drawn as one stacked box: a collapsed repeat, or a run of equal parts."""

    text: str
    nodes: tuple[Node, ...]
    each: tuple[int, ...]  # the parameters of each copy


def collapsed(parts) -> list:
    """`parts` with repeats and runs of equal parts made Stacks, frames' insides collapsed."""
    out: list = []
    i = 0
    while i < len(parts):
        part, run = parts[i], 1
        while i + run < len(parts) and signature(parts[i + run]) == signature(part):
            run += 1
        nodes = tuple(n for p in parts[i : i + run] for n in top_nodes([p]))
        if run > 1:
            each = tuple(_params(top_nodes([p])) for p in parts[i : i + run])
            out.append(Stack(f"{run} × {text_of(part)}", nodes, each))
        elif isinstance(part, Group) and part.kind == "repeat" and len(part.copies) > 1:
            each = tuple(_params(top_nodes(c)) for c in part.copies)
            out.append(Stack(text_of(part), nodes, each))
        elif isinstance(part, Group):
            out.append(Group(part.kind, part.label, tuple(collapsed(c) for c in part.copies)))
        elif isinstance(part, Residual):
            out.append(Residual(part.node, tuple(collapsed(part.body))))
        elif isinstance(part, Branches):
            out.append(Branches(part.node, tuple(tuple(collapsed(b)) for b in part.branches)))
        else:
            out.append(part)
        i += run
    return out


# --- placing -------------------------------------------------------------------------------------


def _inset(part) -> int:
    """How much wider than a box the widest nesting in `part` is."""
    if isinstance(part, Group):
        return 2 * PAD + max((_inset(p) for c in part.copies for p in c), default=0)
    if isinstance(part, Residual):
        return 2 * (PAD + LANE) + max((_inset(p) for p in part.body), default=0)
    if isinstance(part, Branches):
        return 2 * PAD + max((_inset(p) for b in part.branches for p in b), default=0)
    return 0


class _Placer:
    def __init__(self, width: int):
        self.shapes: list[Shape] = []
        self.cx = width // 2
        self.y = MARGIN  # the top of the next element
        self.flow = MARGIN  # where the flow is on the axis: the bottom of the last box

    def arrow_to(self, y: int) -> None:
        self.shapes.append(Path(((self.cx, self.flow), (self.cx, y)), "flow"))

    def box(self, lines: list[str], sub: str, x0: int, x1: int, kind: str, ident: str = ""):
        h = 2 * (TEXT_PAD - 4) + LINE * len(lines) + (SMALL_LINE if sub else 0)
        top = self.y
        if kind == "stack":
            for k in (2, 1):  # the cards behind: a stack of copies
                o = k * STACK_OFFSET
                self.shapes.append(Rect(x0 + o, top + o, x1 - x0, h, "card"))
        if self.flow != top:
            self.arrow_to(top)
        self.shapes.append(Rect(x0, top, x1 - x0, h, kind))
        if ident:
            self.shapes.append(Text(x0 + 6, top + SMALL + 2, ident, "id", "start"))
        y = top + TEXT_PAD - 4
        for line in lines:
            y += LINE
            self.shapes.append(Text(self.cx, y - 4, line, "call"))
        if sub:
            self.shapes.append(Text(self.cx, y + SMALL_LINE - 4, sub, "detail"))
        extra = 2 * STACK_OFFSET if kind == "stack" else 0
        self.flow = top + h
        self.y = top + h + extra + GAP

    def node_box(self, text: str, sub: str, x0: int, x1: int, kind: str, ident: str = ""):
        # Centred lines keep clear of the id in the corner on both sides.
        room = x1 - x0 - 2 * TEXT_PAD - 2 * int(len(ident) * char_width(SMALL))
        chars = int(room / char_width(FONT))
        self.box(wrap(text, max(chars, 8)), sub, x0, x1, kind, ident)

    def frame(self, label: str, kind: str, x0: int, x1: int, fill) -> int:
        """A frame around what `fill(x0, x1)` places; returns its bottom."""
        top, at = self.y, len(self.shapes)
        # In the frame's left half, clear of the axis; a long label takes more lines.
        label_lines = wrap(label, int((self.cx - x0 - 16) / char_width(SMALL)), 3)
        self.y = top + FRAME_TOP + (len(label_lines) - 1) * SMALL_LINE
        fill(x0 + PAD, x1 - PAD)
        bottom = self.y - GAP + FRAME_BOTTOM
        # Under what it holds: inserted where the frame began.
        self.shapes[at:at] = [
            Rect(x0, top, x1 - x0, bottom - top, kind),
            *(
                Text(x0 + 8, top + SMALL + 4 + k * SMALL_LINE, line, "label", "start")
                for k, line in enumerate(label_lines)
            ),
        ]
        self.y = bottom + GAP
        return bottom

    def parts(self, parts, x0: int, x1: int) -> None:
        for part in parts:
            self.part(part, x0, x1)

    def part(self, part, x0: int, x1: int) -> None:
        if isinstance(part, Stack):
            ids = f"{part.nodes[0].id}–{part.nodes[-1].id}"
            sub = detail(list(part.nodes), part.each)
            self.node_box(part.text, sub, x0, x1, "stack", ids)
        elif isinstance(part, Layer):
            n = part.node
            self.node_box(call_text(n, keywords=True), detail([n]), x0, x1, "layer", n.id)
        elif isinstance(part, Residual):
            self.residual(part, x0, x1)
        elif isinstance(part, Branches):
            self.join(part, x0, x1)
        elif part.kind == "block":
            self.frame(
                f"block {part.label}",
                "block",
                x0,
                x1,
                lambda a, b: self.parts(part.copies[0], a, b),
            )
        else:
            self.frame(part.label, "repeat", x0, x1, lambda a, b: self.copies(part.copies, a, b))

    def copies(self, copies, x0: int, x1: int) -> None:
        for k, copy in enumerate(copies):
            if k:  # a dotted line between copies, across the frame
                y = self.y - GAP // 2
                self.shapes.append(Path(((x0 - PAD + 4, y), (x1 + PAD - 4, y)), "copy", False))
            self.parts(copy, x0, x1)

    def join(self, part: Branches, x0: int, x1: int) -> None:
        # The branches are drawn one under another, split by dotted lines as a repeat's
        # copies are; each reads the join's input (the label says so), not the one before.
        n = part.node
        how = "summed" if n.op == "add" else "joined on the features"
        label = f"{n.op} {n.id}: {len(n.branches)} branches of the same input, {how}"
        self.frame(label, "block", x0, x1, lambda a, b: self.copies(part.branches, a, b))
        self.node_box(
            f"{n.op} → {example_shape(n.output_shape)}", detail([n]), x0, x1, "layer", n.id
        )

    def residual(self, part: Residual, x0: int, x1: int) -> None:
        top = self.y
        split = top - GAP // 2
        lane = x1 - LANE // 2
        bottom = self.frame(
            f"residual {part.node.id}: x + body(x)",
            "residual",
            x0 + LANE,
            x1 - LANE,
            lambda a, b: self.parts(part.body, a, b),
        )
        join = bottom + GAP // 2 + JOIN_R
        self.arrow_to(join - JOIN_R)
        path = ((self.cx, split), (lane, split), (lane, join), (self.cx + JOIN_R, join))
        self.shapes += [Join(self.cx, split, 0), Path(path, "skip"), Join(self.cx, join, JOIN_R)]
        self.flow = join + JOIN_R
        self.y = join + JOIN_R + GAP


def layout(ir: IR, parts, title: str = "", expand: bool = False) -> Drawing:
    """The drawing of `ir`, whose nodes `parts` groups (compiler.groups.parts)."""
    shown = list(parts) if expand else collapsed(parts)
    width = max(WIDTH, 2 * MARGIN + MIN_BOX + max((_inset(p) for p in shown), default=0))
    p = _Placer(width)
    x0, x1 = MARGIN, width - MARGIN
    if title:
        p.shapes.append(
            Text(MARGIN, MARGIN + FONT, fit(title, int((x1 - x0) / 8)), "title", "start")
        )
        p.y = p.flow = MARGIN + FONT + 12
    inner = (x0 + width // 6, x1 - width // 6)
    p.box([f"input {shape_source(ir.input)}"], "", *inner, "input")
    p.parts(shown, x0, x1)
    total = ir.param_count + ir.state_count
    layers = sum(1 for _ in ir.walk())
    lines = [
        f"{layers:,} layers · {ir.param_count:,} params · {ir.state_count:,} state",
        f"weight memory {byte_size(total)} (float32) · output {example_shape(ir.output_shape)}",
    ]
    y = p.y
    for line in lines:
        y += LINE
        p.shapes.append(Text(MARGIN, y - 4, line, "total", "start"))
    return Drawing(width, y + MARGIN, p.shapes)
