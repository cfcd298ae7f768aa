"""`stackspec draw`: the grouping recovered from the syntax tree, the layout (collapsed and
expanded), golden SVG files, the PNG, and the command line's files and errors.

Golden files: tests/golden/NAME.svg is what `stackspec draw specs/NAME.stack -o NAME.svg`
writes (run from the repository root). After an intended change of the drawing, regenerate them
with `STACKSPEC_UPDATE_GOLDEN=1 python -m pytest tests/test_diagram.py`, and look at them.
"""

from __future__ import annotations

import os
import struct

import pytest
from click.testing import CliRunner
from conftest import ROOT

import stackspec
from stackspec.cli import main
from stackspec.compiler.groups import Group, Layer, Residual, parts
from stackspec.diagram import draw
from stackspec.diagram.layout import Rect, Text, layout

GOLDEN = ROOT / "tests" / "golden"
UPDATE = bool(os.environ.get("STACKSPEC_UPDATE_GOLDEN"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 121 layers: repeats of a block, residuals in a repeat, and a run written out line by line.
LONG = (
    "block unit(w) {\n  dense w relu\n  dropout 0.1\n}\n"
    "input 16\ndense 64 relu\n"
    "repeat 25 {\n  unit 64\n  layernorm\n}\n"
    "repeat 10 {\n  residual {\n    dense 64 gelu\n    dense 64\n  }\n}\n"
    + "dense 64 relu\n" * 14
    + "dense 1\n"
)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def boxes(drawing) -> list[Rect]:
    """The layer boxes and stacked boxes (not the cards behind a stack, nor frames)."""
    return [s for s in drawing.shapes if isinstance(s, Rect) and s.kind in ("layer", "stack")]


def texts(drawing, kind: str) -> list[str]:
    return [s.text for s in drawing.shapes if isinstance(s, Text) and s.kind == kind]


# --- grouping ------------------------------------------------------------------------------------


def test_parts_recover_blocks_and_repeats_with_their_values():
    text = (
        "let n = 2\nblock h(u, act=relu) { repeat n { dense u act } }\ninput 3\n"
        "repeat 1 { repeat 1 { h 4 } }\nrepeat 2 { h 5 act=tanh | relu }\ndense 1\n"
    )
    spec = stackspec.parse(text, overrides={"n": "3"})
    got = parts(spec.program, spec.ir, {"n": "3"})
    outer, twice, last = got
    assert outer.label == "repeat 1" and outer.copies[0][0].label == "repeat 1"
    block = outer.copies[0][0].copies[0][0]
    assert (block.kind, block.label) == ("block", "h 4")
    assert block.copies[0][0].label == "repeat 3"  # the --set value, not the written one
    assert [len(c) for c in block.copies[0][0].copies] == [1, 1, 1]
    assert twice.label == "repeat 2" and len(twice.copies) == 2
    second = twice.copies[1]
    assert second[0].label == "h 5 act=tanh" and isinstance(second[1], Layer)
    assert [n.id for n in twice.nodes()] == [str(i) for i in range(3, 11)]
    assert isinstance(last, Layer) and last.node.id == "11"


def test_parts_keep_residual_bodies():
    spec = stackspec.load(ROOT / "specs" / "residual_mlp.stack")
    first, repeat, *_ = parts(spec.program, spec.ir)
    assert isinstance(first, Layer) and isinstance(repeat, Group)
    residuals = [copy[0] for copy in repeat.copies]
    assert all(isinstance(r, Residual) for r in residuals)
    assert [p.node.id for p in residuals[1].body] == ["2.0", "2.1", "2.2", "2.3"]


# --- layout --------------------------------------------------------------------------------------


def test_a_repeat_collapses_into_one_labelled_box():
    spec = stackspec.load(ROOT / "specs" / "red_wine.stack")
    drawing = layout(spec.ir, parts(spec.program, spec.ir))
    assert "repeat 3 × { dense 1024 relu | dropout 0.3 | batchnorm }" in texts(drawing, "call")
    assert len(boxes(drawing)) == 2
    # The first copy reads 11 features, the others 1024: no "(3 × ...)" for unequal copies.
    assert texts(drawing, "detail")[0] == "out (1024) · 2,117,632 params · 6,144 state"
    expanded = layout(spec.ir, parts(spec.program, spec.ir), expand=True)
    assert len(boxes(expanded)) == 10


def test_a_model_of_120_layers_collapses_and_expands():
    spec = stackspec.parse(LONG)
    layers = list(spec.ir.walk())
    assert len(layers) == 121
    grouped = parts(spec.program, spec.ir)
    collapsed = layout(spec.ir, grouped)
    calls = texts(collapsed, "call")
    assert len(boxes(collapsed)) == 5 < len(layers)
    assert "repeat 25 × { unit 64 | layernorm }" in calls
    assert "repeat 10 × { residual { dense 64 gelu | dense 64 } }" in calls
    assert "14 × dense 64 relu" in calls
    assert "out (64) · 107,200 params (25 × 4,288)" in texts(collapsed, "detail")
    expanded = layout(spec.ir, grouped, expand=True)
    frames = [s for s in expanded.shapes if isinstance(s, Rect) and s.kind == "residual"]
    # Every layer is a box, and every residual a frame around its body's boxes.
    assert len(boxes(expanded)) + len(frames) == len(layers)
    assert len(boxes(expanded)) == sum(1 for n in layers if n.op != "residual")


def test_deep_nesting_widens_the_canvas():
    body = "dense 4"
    for _ in range(20):
        body = f"residual {{ {body} }}"
    spec = stackspec.parse(f"input 4\n{body}\n")
    drawing = layout(spec.ir, parts(spec.program, spec.ir))
    assert drawing.width > 640
    assert min(b.w for b in boxes(drawing)) >= 280


# --- files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["red_wine", "tiny_resnet"])
def test_golden_svg(name, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / f"{name}.svg"
    result = run("draw", f"specs/{name}.stack", "-o", out)
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"{name}.svg"
    if UPDATE:
        golden.write_bytes(out.read_bytes())
    assert golden.exists(), f"run STACKSPEC_UPDATE_GOLDEN=1 to create {golden.name}"
    assert out.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8")
    if name == "red_wine":  # README's picture, made by the same command
        assert (ROOT / "docs" / "red_wine_model.svg").read_bytes() == out.read_bytes()


def test_svg_is_the_same_bytes_every_time():
    spec = stackspec.load(ROOT / "specs" / "tiny_resnet.stack")
    first = draw(spec, "svg")
    assert first == draw(spec, "svg")
    assert first.startswith(b"<?xml") and b"<svg" in first


def test_png_is_written(tmp_path):
    out = tmp_path / "model.png"
    result = run("draw", ROOT / "specs" / "tiny_resnet.stack", "-o", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == 2 * 640 and 1000 < height < 4000
    assert 20_000 < len(data) < 2_000_000


def test_draw_without_output_writes_svg_to_stdout():
    result = run("draw", ROOT / "specs" / "red_wine.stack", "--set", "x=1")
    assert result.exit_code == 1  # an unknown --set name is the spec's error
    result = run("draw", ROOT / "specs" / "wine_blocks.stack", "--set", "width=64")
    assert result.exit_code == 0
    assert "block hidden 64 rate=0.3" in result.stdout


def test_an_unknown_extension_is_a_usage_error(tmp_path):
    result = run("draw", ROOT / "specs" / "red_wine.stack", "-o", tmp_path / "model.jpg")
    assert result.exit_code == 2 and "'.jpg'" in result.output
    assert not (tmp_path / "model.jpg").exists()


def test_a_bad_spec_leaves_the_output_untouched(tmp_path):
    spec = tmp_path / "bad.stack"
    spec.write_text("input 4\ndense1 3\n")
    out = tmp_path / "model.svg"
    out.write_text("before")
    result = run("draw", spec, "-o", out)
    assert result.exit_code == 1 and "unknown layer 'dense1'" in result.output
    assert out.read_text() == "before"
    assert run("draw", spec, "-o", spec).exit_code == 2  # never over its input


def boxes_by_id(drawing) -> dict[str, Rect]:
    """Each layer box by the node id written in its corner."""
    ids = [s for s in drawing.shapes if isinstance(s, Text) and s.kind == "id"]
    return {
        t.text: next(b for b in boxes(drawing) if (b.x + 6, b.y + 13) == (t.x, t.y)) for t in ids
    }


def overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def inside(a: Rect, b: Rect) -> bool:
    return b.x <= a.x and a.x + a.w <= b.x + b.w and b.y <= a.y and a.y + a.h <= b.y + b.h


def test_branches_stand_side_by_side_and_meet_at_the_merge_box():
    spec = stackspec.load(ROOT / "specs" / "inception_digits.stack")
    drawing = layout(spec.ir, parts(spec.program, spec.ir), expand=True)
    labels = texts(drawing, "label")
    assert "concat 1: 4 branches of the same input, joined on the features" in " ".join(labels)
    calls = texts(drawing, "call")
    assert "concat → (16x8x8)" in calls and "concat → (32x4x4)" in calls
    assert len(boxes(drawing)) == len(list(spec.ir.walk()))  # one box a node
    by_id = boxes_by_id(drawing)
    for join in ("1", "4"):
        firsts = [by_id[f"{join}.{i}.0"] for i in range(4)]
        assert len({b.y for b in firsts}) == 1  # the same vertical band
        assert [b.x for b in firsts] == sorted({b.x for b in firsts})  # left to right
        for i, first in enumerate(firsts):  # a branch's boxes stay in its column
            column = [b for k, b in by_id.items() if k.startswith(f"{join}.{i}.")]
            assert {(b.x, b.w) for b in column} == {(first.x, first.w)}
        merge = by_id[join]
        lowest = max(b.y + b.h for k, b in by_id.items() if k.startswith(f"{join}."))
        assert merge.y > lowest
        assert merge.x <= firsts[0].x and firsts[-1].x + firsts[-1].w <= merge.x + merge.w
    # No two boxes overlap; frames hold boxes or stand apart, never cut one.
    shown = boxes(drawing)
    assert not [(a, b) for i, a in enumerate(shown) for b in shown[i + 1 :] if overlap(a, b)]
    frames = [s for s in drawing.shapes if isinstance(s, Rect) and s.kind in ("block", "residual")]
    for f in frames:
        for b in shown:
            assert inside(b, f) or not overlap(b, f)
    assert all(b.x >= 0 and b.x + b.w <= drawing.width for b in shown)


def test_nested_branches_and_residuals_in_columns_do_not_overlap():
    text = """input 6x8
add {
  branch {
    dense 8 relu
    residual { layernorm | dense 8 }
  }
  branch {
    concat {
      branch { dense 4 }
      branch { dense 2 | dense 4 tanh }
    }
  }
  branch { linear }
}
"""
    spec = stackspec.parse(text)
    drawing = layout(spec.ir, parts(spec.program, spec.ir))
    by_id = boxes_by_id(drawing)
    assert by_id["0.0.0"].y == by_id["0.2.0"].y and by_id["0.0.0"].x < by_id["0.2.0"].x
    assert by_id["0.1.0.0.0"].y == by_id["0.1.0.1.0"].y
    rects = [s for s in drawing.shapes if isinstance(s, Rect) and s.kind != "card"]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert inside(a, b) or inside(b, a) or not overlap(a, b), (a, b)
    assert draw(spec, "svg").startswith(b"<?xml") and draw(spec, "png")[:8] == PNG_SIGNATURE
