"""The diagram's layout: the grouped IR (compiler/groups.py) placed top to bottom as plain shapes
(rectangles, texts, paths, joins) in pixels, which svg.py and png.py draw alike.

Every element is centred on one vertical axis, so the flow is one straight line; a frame (a block
call, an expanded repeat, a residual) insets what it holds. A residual's skip path leaves the axis
above its frame, runs down a lane beside it and joins the body's output in a `+` below it. The
branches of a `concat` or `add` stand side by side in columns of their frame, each on an axis of
its own: the flow forks under the frame's label into every column and the columns' outputs meet
at the merge box below the frame. A column is as wide as its widest box needs (`_least`), and
the canvas widens to hold them.
Coordinates are integers, so the SVG text is the same on every machine.

Collapsing (the default): a repeat of two or more copies is one stacked box, `repeat 3 × { dense
1024 relu | dropout 0.3 | batchnorm }`, and a run of equal consecutive parts (the same calls on
the same shapes, written out instead of repeated) is one box `4 × dense 64 relu`. So a model of
hundreds of layers written with `repeat` stays a few boxes tall; `expand` draws every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler.groups import Group, Layer, Residual
from ..compiler.groups import Join as Branches
from ..compiler.ir import IR
from ..compiler.summary import byte_size, call_text
from ..diagnostics import example_shape, shape_source
from .collapse import Stack, collapsed, detail, fit, wrap

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
COLUMN_GAP = GAP  # between the columns of branches
FORK = 14  # under a branches frame's label: where the flow forks into the columns
COLUMN_MIN = 160  # the least width of a box in a column
COLUMN_CHARS = 16  # a box in a column has room for this many characters of its call a line


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


# --- placing -------------------------------------------------------------------------------------


def _inset(part) -> int:
    """How much wider than a box the widest nesting in `part` is."""
    if isinstance(part, Group):
        return 2 * PAD + max((_inset(p) for c in part.copies for p in c), default=0)
    if isinstance(part, Residual):
        return 2 * (PAD + LANE) + max((_inset(p) for p in part.body), default=0)
    if isinstance(part, Branches):
        return max(_least(part) - MIN_BOX, 2 * PAD)
    return 0


def _box_least(text: str, sub: str, ident: str) -> int:
    """The width a box needs for its detail line and a few words of its call a line."""
    call = min(len(text), COLUMN_CHARS) * char_width(FONT) + 2 * len(ident) * char_width(SMALL)
    return int(max(COLUMN_MIN, len(sub) * char_width(SMALL), call) + 2 * TEXT_PAD + 1)


def _least(part) -> int:
    """The least width that `part` can be drawn in when it stands in a column."""
    if isinstance(part, Stack):
        ids = f"{part.nodes[0].id}–{part.nodes[-1].id}"
        return _box_least(part.text, detail(list(part.nodes), part.each), ids)
    if isinstance(part, Layer):
        n = part.node
        return _box_least(call_text(n, keywords=True), detail([n]), n.id)
    if isinstance(part, Branches):
        columns = [_column_least(b) for b in part.branches]
        n = part.node
        merge = _box_least(f"{n.op} → {example_shape(n.output_shape)}", detail([n]), n.id)
        return max(2 * PAD + sum(columns) + COLUMN_GAP * (len(columns) - 1), merge)
    if isinstance(part, Residual):
        return 2 * (PAD + LANE) + _column_least(part.body)
    return 2 * PAD + max(_column_least(c) for c in part.copies)


def _column_least(parts) -> int:
    return max((_least(p) for p in parts), default=COLUMN_MIN)


def columns(part: Branches, x0: int, x1: int) -> list[tuple[int, int]]:
    """The branches' columns (left, right) in [x0, x1], each as wide as it needs and the room
    left shared in proportion."""
    least = [_column_least(b) for b in part.branches]
    room = x1 - x0 - COLUMN_GAP * (len(least) - 1)
    widths = [w * room // sum(least) for w in least]
    out, left = [], x0
    for w in widths:
        out.append((left, left + w))
        left += w + COLUMN_GAP
    return out


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
        # Side by side: every column reads the join's input (the fork), the merge box below the
        # frame reads every column's output.
        n = part.node
        how = "summed" if n.op == "add" else "joined on the features"
        label = f"{n.op} {n.id}: {len(n.branches)} branches of the same input, {how}"
        ends: list[tuple[int, int]] = []
        bottom = self.frame(label, "block", x0, x1, lambda a, b: self.columns(part, a, b, ends))
        meet = bottom + GAP // 2
        for cx, flow in ends:
            self.shapes.append(Path(((cx, flow), (cx, meet), (self.cx, meet)), "flow", False))
        self.flow = meet
        self.node_box(
            f"{n.op} → {example_shape(n.output_shape)}", detail([n]), x0, x1, "layer", n.id
        )

    def columns(self, part: Branches, x0: int, x1: int, ends: list) -> None:
        """Each branch in its column from the same top; `ends` gets each column's (axis, flow)."""
        axis, flow = self.cx, self.flow
        fork = self.y + FORK // 2
        top = self.y + FORK
        lowest = top
        for a, b in columns(part, x0, x1):
            self.cx, self.y = (a + b) // 2, top
            self.shapes.append(Path(((axis, flow), (axis, fork), (self.cx, fork)), "flow", False))
            self.flow = fork
            self.parts(part.branches[len(ends)], a, b)
            ends.append((self.cx, self.flow))
            lowest = max(lowest, self.y)
        self.cx, self.y = axis, lowest

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
