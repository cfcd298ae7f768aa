"""The editor files (editors/): the TextMate grammar names what the registry and the lexer name,
and its patterns, run as an editor runs them, colour every spec in specs/ as the parser reads it.

TextMate tries the patterns at each position and takes the match that starts first (the earlier
pattern on a tie); `scopes` below does the same with Python's `re`, which the grammar's patterns
are written to share with Oniguruma."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stackspec.diagnostics import Diagnostics, source_lines
from stackspec.grammar import syntax as s
from stackspec.grammar.lexical import KEYWORDS
from stackspec.grammar.parser import parse_program
from stackspec.layers import ALIASES, INITIALIZERS, LAYERS

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR_PATH = ROOT / "editors/stackspec.tmLanguage.json"
GRAMMAR = json.loads(GRAMMAR_PATH.read_text())
SPECS = sorted((ROOT / "specs").glob("*.stack"))


def _words(pattern: str) -> set[str]:
    return {w for group in re.findall(r"\(\?:([a-z_0-9|]+)\)", pattern) for w in group.split("|")}


def _rules(node: dict) -> list[dict]:
    """The grammar's match rules in the order an editor tries them."""
    if "include" in node:
        return _rules(GRAMMAR["repository"][node["include"][1:]])
    if "patterns" in node:
        return [r for p in node["patterns"] for r in _rules(p)]
    return [node]


RULES = [(re.compile(r["match"]), r) for r in _rules(GRAMMAR)]


def scopes(line: str) -> dict[int, str]:
    """0-based column -> the scope of the token starting there (a capture's, if it has one)."""
    out, pos = {}, 0
    while pos < len(line):
        found = [
            (m.start(), i, m) for i, (rx, _) in enumerate(RULES) if (m := rx.search(line, pos))
        ]
        if not found:
            break
        _, i, m = min(found, key=lambda f: (f[0], f[1]))
        rule = RULES[i][1]
        if "captures" in rule:
            for n, cap in rule["captures"].items():
                out[m.start(int(n))] = cap["name"]
        else:
            out[m.start()] = rule["name"]
        pos = max(m.end(), pos + 1)
    return out


def test_the_vscode_copy_is_the_grammar():
    assert (
        ROOT / "editors/vscode/stackspec.tmLanguage.json"
    ).read_text() == GRAMMAR_PATH.read_text()
    package = json.loads((ROOT / "editors/vscode/package.json").read_text())
    assert package["contributes"]["grammars"][0]["scopeName"] == GRAMMAR["scopeName"]


def test_the_grammar_names_the_registry_and_the_keywords():
    repo = GRAMMAR["repository"]
    assert _words(repo["layer"]["match"]) == set(LAYERS) | set(ALIASES), (
        "editors/stackspec.tmLanguage.json: update the `layer` pattern to the registry"
    )
    assert _words(repo["constant"]["match"]) == KEYWORDS & {"true", "false"}
    assert _words(repo["keyword"]["match"]) | {"data", "true", "false"} == KEYWORDS | {"data"}
    assert _words(repo["symbol"]["match"]) == set(INITIALIZERS) | {"valid", "same"}


def _values(v: s.Value):
    if v.kind == "list":
        for item in v.value:
            yield from _values(item)
    else:
        yield v


def _expected(stmts, out: dict):
    """(line, column) 0-based -> the scope the parser's reading asks for."""
    for st in stmts:
        span = st.span
        where = (span.line, span.column - 1)
        if isinstance(st, s.Call):
            if st.name in LAYERS or st.name in ALIASES:
                out[where] = "support.function.layer.stackspec"
            for kw in st.kwargs:
                out[(kw.span.line, kw.span.column - 1)] = "variable.parameter.stackspec"
            for v in (*st.args, *(kw.value for kw in st.kwargs)):
                for item in _values(v):
                    kind = {"number": "constant.numeric.stackspec", "string": "string.quoted"}
                    kind |= {"shape": "constant.numeric.shape.stackspec"}
                    if item.kind in kind:
                        out[(item.span.line, item.span.column - 1)] = kind[item.kind]
        elif isinstance(st, s.Block):
            out[where] = "entity.name.function.block.stackspec"
        elif isinstance(st, s.Let):
            out[where] = "variable.other.constant.stackspec"
        elif isinstance(st, (s.Repeat, s.Residual, s.Train, s.Data, s.Input)):
            out[where] = "keyword.control.stackspec"
        body = getattr(st, "body", None)
        if body is not None:
            _expected(body.stmts, out)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_the_grammar_tokenizes_every_spec(path):
    text = path.read_text()
    program = parse_program(text, Diagnostics())
    expected: dict[tuple[int, int], str] = {}
    _expected(program.stmts, expected)
    for c in program.comments:
        expected[(c.line, c.column - 1)] = "comment.line.number-sign.stackspec"
    got = {}
    for number, line in enumerate(source_lines(text), 1):
        got |= {(number, col): scope for col, scope in scopes(line).items()}
    wrong = {
        where: (scope, got.get(where))
        for where, scope in expected.items()
        if not (got.get(where) or "").startswith(scope)
    }
    assert not wrong, wrong


def test_lsp_without_pygls_names_the_extra(monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from stackspec.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pygls" else real(name, *a)
    )
    result = CliRunner().invoke(main, ["lsp"])
    assert result.exit_code == 1
    assert "pip install 'stackspec[lsp]'" in result.output
