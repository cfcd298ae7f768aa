"""Completion from the text being typed, which rarely parses: the statement left of the cursor
says what goes there, and the registries say what may.

- at a statement's start: layers, aliases, blocks and statement keywords; train or data settings
  inside `train { }` / `data { }`;
- after a layer or block name: its keyword arguments (`kernel=`, with defaults), and the values
  of its next positional argument (dense's activation, a block's parameters);
- after `name=`: that argument's symbols (activations, initializers, padding, true/false);
- wherever a value goes: the `let` constants, and a block's parameters inside its body.
"""

from __future__ import annotations

import re

from lsprotocol import types as t

from ..compiler import data_settings, settings
from ..grammar.lexical import code_of
from ..layers import ALIASES, LAYERS
from .registry import (
    BOOLS,
    CHOOSERS,
    STATEMENT_KEYWORDS,
    arg_text,
    choices,
    layer_args,
    setting_args,
    setting_doc,
    setting_signature,
    signature,
    value_text,
)

K = t.CompletionItemKind
_LETS = re.compile(r"^[ \t]*let[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*([^#\n]*)", re.M)
_BLOCKS = re.compile(r"^[ \t]*block[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(([^)]*)\)", re.M)


def _params(text: str) -> list[str]:
    return [p.split("=")[0].strip() for p in text.split(",") if p.split("=")[0].strip()]


def enclosing(lines: list[str], line: int, column: int) -> list[str]:
    """The headers of the bodies around the cursor, outermost first: `train`, `block h(a, b)`.
    Only lines with a brace are read closely, so a long spec costs one pass of `in` tests."""
    stack: list[str] = []
    for i in range(line):
        text = lines[i] if i < line - 1 else lines[i][: column - 1]
        if "{" not in text and "}" not in text:
            continue
        code = code_of(text)
        for j, ch in enumerate(code):
            if ch == "{":
                stack.append(code[:j].split("|")[-1].strip())
            elif ch == "}" and stack:
                stack.pop()
    return stack


def _item(label: str, kind, detail: str = "", doc: str = "", insert: str | None = None, sort="1"):
    return t.CompletionItem(
        label=label,
        kind=kind,
        detail=detail or None,
        documentation=t.MarkupContent(kind=t.MarkupKind.Markdown, value=doc) if doc else None,
        insert_text=insert,
        sort_text=f"{sort}{label}",
    )


class _Names:
    """The constants and blocks of the current text, and the parameters in scope."""

    def __init__(self, text: str, stack: list[str]):
        self.lets = {m.group(1): m.group(2).strip() for m in _LETS.finditer(text)}
        self.blocks = {m.group(1): _params(m.group(2)) for m in _BLOCKS.finditer(text)}
        self.params: list[str] = []
        for header in stack:
            m = _BLOCKS.match(header + ")") or _BLOCKS.match(header)
            if m:
                self.params = _params(m.group(2))

    def values(self) -> list[t.CompletionItem]:
        out = [_item(p, K.Variable, "block parameter", sort="0") for p in self.params]
        out += [_item(n, K.Constant, f"let {n} = {v}", sort="0") for n, v in self.lets.items()]
        return out


def _statement_start(section: str, inner: bool, names: _Names) -> list[t.CompletionItem]:
    if section == "train":
        return [
            _item(n, K.Property, setting_signature(n, None), setting_doc("train", n))
            for n in settings.SETTINGS
        ]
    if section == "data":
        return [_item(n, K.Property, doc) for n, doc in data_settings.SETTINGS.items()]
    out = [
        _item(name, K.Function, signature(name, kind.args), kind.doc)
        for name, kind in LAYERS.items()
    ]
    out += [_item(a, K.Function, f"alias of {op}") for a, op in ALIASES.items()]
    out += [
        _item(b, K.Class, f"block {b}({', '.join(p)})", sort="0") for b, p in names.blocks.items()
    ]
    keywords = ("repeat", "residual", "concat", "add", "branch") if inner else STATEMENT_KEYWORDS
    out += [_item(k, K.Keyword, sort="2") for k in keywords]
    return out


def _keywords(args, given: set[str]) -> list[t.CompletionItem]:
    return [
        _item(f"{a.name}=", K.Property, arg_text(a), insert=f"{a.name}=", sort="1")
        for a in args
        if a.name not in given and not (a.positional and a.required)
    ]


def _symbols(values, detail: str) -> list[t.CompletionItem]:
    return [_item(v, K.EnumMember, detail, sort="0") for v in values]


def _train_args(head: str, done: list[str], names: _Names) -> list[t.CompletionItem]:
    positional = [w for w in done[1:] if "=" not in w]
    if head in CHOOSERS and not positional:
        return _symbols(CHOOSERS[head], head)
    if head == "metrics":
        return _symbols([m for m in settings.METRICS if m not in positional], "metric")
    if head == "shuffle" and not positional:
        return _symbols(BOOLS, "shuffle")
    args = setting_args(head, positional[0] if positional else None)
    given = {w.split("=")[0] for w in done[1:] if "=" in w}
    return _keywords([a for a in args if not a.positional], given) + names.values()


def _call_args(head: str, done: list[str], names: _Names) -> list[t.CompletionItem]:
    positional = [w for w in done[1:] if "=" not in w]
    given = {w.split("=")[0] for w in done[1:] if "=" in w}
    if head in names.blocks:
        params = names.blocks[head][len(positional) :]
        keys = [_item(f"{p}=", K.Property, f"parameter of {head}", insert=f"{p}=") for p in params]
        return [k for k in keys if k.label[:-1] not in given] + names.values()
    args = layer_args(head)
    slots = [a for a in args if a.positional]
    out = []
    if len(positional) < len(slots):
        slot = slots[len(positional)]
        out += _symbols(choices(slot), slot.name)
        given.add(slot.name)
    given |= {a.name for a in slots[: len(positional)]}
    return out + _keywords(args, given) + names.values()


def _value_of(head: str, key: str, section: str, done, names: _Names) -> list[t.CompletionItem]:
    """After `key=`: that argument's symbols, then the names a value may be."""
    if section == "train":
        positional = [w for w in done[1:] if "=" not in w]
        args = setting_args(head, positional[0] if positional else None)
    elif head in names.blocks:
        return names.values()
    else:
        args = layer_args(head)
    arg = next((a for a in args if a.name == key), None)
    found = _symbols(choices(arg), f"default {value_text(arg.default)}") if arg else []
    return found + names.values()


def complete(text: str, lines: list[str], line: int, column: int) -> list[t.CompletionItem]:
    """Completion items at (line, column), 1-based, in characters."""
    if not 0 < line <= len(lines):
        return []
    stack = enclosing(lines, line, column)
    section = stack[-1].split()[0] if stack and stack[-1] else ""
    section = section if section in ("train", "data") else ""
    names = _Names(text, stack)
    before = code_of(lines[line - 1][: column - 1])
    if len(before) < column - 1:  # the cursor is in a comment
        return []
    statement = re.split(r"[|{]", before)[-1].lstrip()
    words = statement.split()
    typing = bool(words) and not statement[-1:].isspace()
    done, current = (words[:-1], words[-1]) if typing else (words, "")
    if not done:
        return _statement_start(section, bool(stack), names)
    head = done[0]
    if head in ("let", "repeat", "input"):
        return names.values() if head != "let" or "=" in statement else []
    if head in STATEMENT_KEYWORDS:
        return []
    if "=" in current:
        return _value_of(head, current.split("=")[0], section, done, names)
    if section == "train":
        return _train_args(head, done, names)
    if section == "data":
        return _symbols(data_settings.MISSING, "missing") if head == "missing" else []
    return _call_args(head, done, names)
