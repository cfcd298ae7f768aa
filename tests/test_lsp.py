"""`stackspec lsp` end to end: one server process over stdio for the whole module, driven by
pygls's LanguageClient (tests/lsp_client.py); skipped without the `lsp` extra."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("pygls", reason="the language server needs pip install 'stackspec[lsp]'")

from lsp_client import ROOT, Session  # noqa: E402
from lsprotocol import types as t  # noqa: E402

from stackspec.compiler.fmt import format_source  # noqa: E402
from stackspec.compiler.pipeline import compile_source  # noqa: E402

RED_WINE = (ROOT / "specs/red_wine.stack").read_text()
BLOCKS = (ROOT / "specs/wine_blocks.stack").read_text()


@pytest.fixture(scope="module")
def lsp():
    session = Session()
    yield session
    session.stop()


def uri(name: str) -> str:
    return f"file:///nowhere/{name}.stack"


def doc(name: str) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri(name))


def opened(lsp: Session, name: str, text: str) -> list[t.Diagnostic]:
    lsp.open(uri(name), text)
    return lsp.wait_diagnostics(uri(name), 1)


def rng(a: int, b: int, c: int, d: int) -> t.Range:
    return t.Range(t.Position(a, b), t.Position(c, d))


def at(line: int, character: int) -> t.Position:
    return t.Position(line, character)


# --- diagnostics ---------------------------------------------------------------------------

BAD = """input 4
data {
  target "😀é" bogus=1
}
dense1 8 relu
dense 1 bias=2
"""


def test_diagnostics_match_check_with_utf16_columns_and_follow_edits(lsp):
    got = opened(lsp, "bad", BAD)
    expected = compile_source(BAD).diags.sorted()
    assert [d.code for d in got] == [d.code for d in expected] == ["E202", "E201", "E204"]
    # `bogus` is the 15th character of its line; the emoji before it is two UTF-16 units.
    assert got[0].range == rng(2, 15, 2, 20)
    assert got[1].range == rng(4, 0, 4, 6)
    assert got[1].severity == t.DiagnosticSeverity.Error and got[1].source == "stackspec"
    assert "did you mean 'dense'?" in got[1].message
    assert got[2].range == rng(5, 13, 5, 14)
    # An edit of one line (incremental sync) fixes the name.
    lsp.change(uri("bad"), 2, "dense", rng(4, 0, 4, 6))
    got = lsp.wait_diagnostics(uri("bad"), 2)
    assert [d.code for d in got] == ["E202", "E204"]
    assert got[1].range == rng(5, 13, 5, 14)
    lsp.change(uri("bad"), 3, RED_WINE)
    assert not lsp.wait_diagnostics(uri("bad"), 3)


def test_warnings_are_warnings_with_their_hints(lsp):
    text = "input 4\nlet unused = 3\ndense 3 softmax\ntrain {\n  loss bce\n}\n"
    got = opened(lsp, "warn", text)
    assert {d.code for d in got} == {"W201", "W301"}
    assert all(d.severity == t.DiagnosticSeverity.Warning for d in got)
    w301 = next(d for d in got if d.code == "W301")
    assert "\nhint: " in w301.message and w301.data["hint"]


def test_rapid_changes_are_compiled_once(lsp):
    lsp.open(uri("rapid"), "input 4\n")
    lsp.wait_diagnostics(uri("rapid"), 1)
    for version in range(2, 7):
        lsp.change(uri("rapid"), version, f"input 4\ndense {version}\n")
    assert not lsp.wait_diagnostics(uri("rapid"), 6)
    # The debounce skipped the versions typed in between.
    assert not set(lsp.diagnostics[uri("rapid")]) & {2, 3, 4}


# --- inlay hints ---------------------------------------------------------------------------


def summary_rows(path: str) -> dict[str, tuple[str, str, str]]:
    """`stackspec summary`'s rows: layer id -> (output shape, params, state)."""
    out = subprocess.run(
        [sys.executable, "-m", "stackspec", "summary", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = re.findall(r"^\s*(\d[\d.]*)\s+.*?(\(\S+\))\s+([\d,]+)\s+([\d,]+)$", out, re.M)
    return {i: (shape, params, state) for i, shape, params, state in rows}


def hints(lsp: Session, name: str) -> list[t.InlayHint]:
    params = t.InlayHintParams(doc(name), rng(0, 0, 1000, 0))
    return lsp.request("text_document_inlay_hint", params)


ROW = r"layer (\S+): \(\S+\) → (\(\S+\)), ([\d,]+) params(?:, ([\d,]+) state)?"


def test_inlay_hints_of_red_wine_match_summary(lsp):
    opened(lsp, "red_wine", RED_WINE)
    got = {(h.position.line, h.position.character): h for h in hints(lsp, "red_wine")}
    labels = {pos: h.label for pos, h in got.items()}
    assert labels == {
        (4, 10): "→ (1024)  9 layers, 2,117,632 params, 6,144 state",
        (5, 17): "→ (1024)  12,288 + 2 × 1,049,600 params",
        (5, 31): "→ (1024)",
        (5, 43): "→ (1024)  3 × 2,048 params, 3 × 2,048 state",
        (7, 7): "→ (1)  1,025 params",
    }
    # Each layer of the summary appears in exactly one hint's tooltip, with its shape and counts.
    listed = {}
    for h in got.values():
        for row in (h.tooltip or "").splitlines():
            m = re.match(ROW, row)
            listed[m[1]] = (m[2], m[3], m[4] or "0")
    assert listed == summary_rows("specs/red_wine.stack")


def test_inlay_hints_total_block_calls_and_residuals(lsp):
    opened(lsp, "blocks", BLOCKS)
    labels = {h.position.line: h.label for h in hints(lsp, "blocks")}
    assert labels[12] == "→ (512)  3 layers, 7,168 params, 1,024 state"  # hidden width ...
    assert labels[6] == "→ (512) / (128)  6,144 + 262,656 + 65,664 params"  # dense in the block
    text = (ROOT / "specs/tiny_resnet.stack").read_text()
    opened(lsp, "resnet", text)
    labels = {h.position.line: h.label for h in hints(lsp, "resnet")}
    assert labels[4] == "→ (16x16x16)  4 layers, 4,656 params, 32 state"


# --- completion, hover, definition, rename, formatting, symbols ---------------------------


def complete(lsp: Session, name: str, line: int, character: int) -> dict[str, t.CompletionItem]:
    params = t.CompletionParams(doc(name), at(line, character))
    result = lsp.request("text_document_completion", params)
    return {item.label: item for item in result.items}


# Lines that end in a blank, where the cursor waits for the next word.
COMPLETE = "\n".join(
    [
        "let width = 64",
        "input 8",
        "block pair(units, act=relu) {",
        "  dense units act",
        "}",
        "dense 64 ",
        "conv2d 8 padding=",
        "de",
        "dense width init=",
        "pair ",
        "train {",
        "  optimizer sgd ",
        "  lo",
        "}",
        "",
    ]
)


def test_completion(lsp):
    opened(lsp, "complete", COMPLETE)
    start = complete(lsp, "complete", 7, 2)
    assert {"dense", "conv2d", "swish", "pair", "repeat", "train"} <= set(start)
    assert start["dense"].detail.startswith("dense units [activation=linear]")
    after = complete(lsp, "complete", 5, 9)
    assert {"relu", "gelu", "bias=", "init=", "width"} <= set(after)
    assert after["init="].detail == "init=glorot_uniform"
    assert "units=" not in after and "activation=" not in after  # given by position
    assert set(complete(lsp, "complete", 6, 17)) >= {"valid", "same"}
    assert "he_normal" in complete(lsp, "complete", 8, 17)
    assert {"units=", "act=", "width"} <= set(complete(lsp, "complete", 9, 5))
    in_block = complete(lsp, "complete", 3, 8)
    assert {"units", "act", "width"} <= set(in_block)
    sgd = complete(lsp, "complete", 11, 16)
    assert {"lr=", "momentum=", "nesterov="} <= set(sgd) and "beta1=" not in sgd
    assert "loss" in complete(lsp, "complete", 12, 4)
    assert "dense" not in complete(lsp, "complete", 12, 4)


def hover(lsp: Session, name: str, line: int, character: int) -> str:
    result = lsp.request("text_document_hover", t.HoverParams(doc(name), at(line, character)))
    return result.contents.value if result else ""


def test_hover(lsp):
    opened(lsp, "blocks", BLOCKS)
    layer = hover(lsp, "blocks", 15, 1)  # dense 1
    assert "dense units [activation=linear] bias=true init=glorot_uniform" in layer
    assert "fully connected" in layer
    assert "layer 9: (128) → (1), 129 params" in layer
    assert "let width = 512" in hover(lsp, "blocks", 12, 9)
    block = hover(lsp, "blocks", 13, 2)  # hidden width act=elu
    assert "block hidden(units, rate=0.3, act=relu) {" in block and "batchnorm" in block
    assert "(512) → (512)  3 layers, 263,680 params" in block
    assert "adamw" in hover(lsp, "blocks", 19, 4)
    assert hover(lsp, "blocks", 0, 3) == ""  # a comment


def test_definition_references_and_rename(lsp):
    opened(lsp, "blocks", BLOCKS)
    where = lsp.request("text_document_definition", t.DefinitionParams(doc("blocks"), at(12, 9)))
    assert where.range == rng(2, 4, 2, 9)  # let width
    refs = lsp.request(
        "text_document_references",
        t.ReferenceParams(
            context=t.ReferenceContext(include_declaration=True),
            text_document=doc("blocks"),
            position=at(5, 7),
        ),
    )
    assert [r.range.start.line for r in refs] == [5, 12, 13, 14]

    def rename(line, character, new):
        params = t.RenameParams(doc("blocks"), at(line, character), new)
        return lsp.request("text_document_rename", params)

    edit = rename(12, 2, "layer_group").changes[uri("blocks")]
    assert sorted(e.range.start.line for e in edit) == [5, 12, 13, 14]
    assert {e.new_text for e in edit} == {"layer_group"}
    # The constant `rate`, not the parameter `rate` (the block's body and the keyword).
    edit = rename(3, 5, "p").changes[uri("blocks")]
    assert [(e.range.start.line, e.range.start.character) for e in edit] == [(3, 4), (12, 18)]
    # The parameter `units`: its definition, its use in the body, and `units=128`.
    edit = rename(6, 9, "n").changes[uri("blocks")]
    assert sorted(e.range.start.line for e in edit) == [5, 6, 14]
    with pytest.raises(Exception, match="built-in layer"):
        rename(12, 2, "dense")
    with pytest.raises(Exception, match="already defined"):
        rename(2, 5, "rate")
    prepared = lsp.request(
        "text_document_prepare_rename", t.PrepareRenameParams(doc("blocks"), at(12, 9))
    )
    assert prepared == rng(12, 7, 12, 12)


def test_formatting(lsp):
    messy = "input   11\nrepeat 2 {\ndense 8 relu|dropout  0.5  # keep\n}\ndense 1\n"
    opened(lsp, "messy", messy)
    params = t.DocumentFormattingParams(doc("messy"), t.FormattingOptions(2, True))
    [edit] = lsp.request("text_document_formatting", params)
    assert edit.new_text == format_source(messy)
    assert edit.range == rng(0, 0, 5, 0)
    opened(lsp, "unparsable", "input 4\ndense 4 {\n")
    params = t.DocumentFormattingParams(doc("unparsable"), t.FormattingOptions(2, True))
    assert lsp.request("text_document_formatting", params) is None


def test_document_symbols(lsp):
    opened(lsp, "blocks", BLOCKS)
    got = lsp.request("text_document_document_symbol", t.DocumentSymbolParams(doc("blocks")))
    assert [s.name for s in got] == ["width", "rate", "hidden", "input", "train"]
    hidden = got[2]
    assert [c.name for c in hidden.children] == ["units", "rate", "act"]
    assert hidden.range == rng(5, 6, 9, 1) and hidden.selection_range == rng(5, 6, 5, 12)
    assert "loss" in [c.name for c in got[4].children]


# --- robustness ----------------------------------------------------------------------------


def test_the_server_survives_odd_documents(lsp):
    for i, text in enumerate(["", "\x00\x01{{{", "dense " * 5000, "input 4\n" + "}" * 100]):
        name = f"odd{i}"
        opened(lsp, name, text)
        hints(lsp, name)
        hover(lsp, name, 0, 3)
        complete(lsp, name, 0, 2)
    assert hover(lsp, "blocks", 12, 9)  # still serving


def test_a_compiler_bug_is_a_diagnostic_not_a_dead_server(monkeypatch):
    from stackspec.lsp import analysis, server

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(analysis, "compile_source", broken)
    a = server.safe_analyze("input 4\n", 1, "x.stack")
    [d] = a.compiled.diags.items
    assert d.code == "internal" and "ZeroDivisionError: boom" in d.message

    class FakeServer:
        logged = []

        def window_log_message(self, params):
            self.logged.append(params.message)

    @server.guarded([])
    def handler(ls, params):
        raise KeyError("bug")

    fake = FakeServer()
    assert handler(fake, None) == []
    assert "KeyError" in fake.logged[0]


def test_positions_count_the_negotiated_code_units():
    from stackspec.lsp.positions import UTF8, UTF16, UTF32, from_client, to_client

    lines = ['  target "😀é" bogus=1']  # `bogus` is character 15 (1-based)
    assert to_client(lines, 1, 15, UTF16) == (0, 15)  # the emoji is a surrogate pair
    assert to_client(lines, 1, 15, UTF8) == (0, 18)  # the emoji 4 bytes, é 2
    assert to_client(lines, 1, 15, UTF32) == (0, 14)
    for encoding in (UTF8, UTF16, UTF32):
        assert from_client(lines, *to_client(lines, 1, 15, encoding), encoding) == (1, 15)
