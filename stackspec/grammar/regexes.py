"""The contextual lexer's regular expressions, compiled when the tables are written.

Lark's contextual lexer has one scanner per parser state, each a regular expression joining
the terminals that state accepts, compiled with `re` the first time the state is reached. A
small spec reaches a dozen of them, and compiling them was ~2.5 ms, more than parsing the spec.
`re` compiles in two steps: parse the pattern and generate the matching engine's code (Python,
the slow part), then build the pattern object from that code (C, `_sre.compile`, which checks
the code). The tables keep the first step's result for every state's expressions; at load
they are built with `_sre.compile` and put where `re.compile` looks first, its cache, so lark
gets the same pattern objects without compiling them.

The engine's code belongs to one Python version: it is used only on the version (and `_sre`
code format) that wrote it; elsewhere, and for any pattern not stored, `re` compiles as usual.
"""

from __future__ import annotations

import _sre
import re
import sys


def compiled(parser) -> dict:
    """The stored form of every expression `parser`'s lexers compile (for write_tables)."""
    from re import _compiler, _parser

    re.purge()
    lexer = parser.parser.lexer
    for each in [*lexer.lexers.values(), lexer.root_lexer]:
        each.scanner  # builds the state's expressions (lark does it on first use)  # noqa: B018
    patterns = []
    for kind, pattern, flags in list(re._cache):
        if kind is not str:
            continue
        p = _parser.parse(pattern, flags)  # what re._compiler.compile does before _sre.compile
        names = [None] * p.state.groups
        for name, i in p.state.groupdict.items():
            names[i] = name
        code = _compiler._code(p, flags)
        groups = (p.state.groups - 1, dict(p.state.groupdict), tuple(names))
        code = [int(c) for c in code]  # some are named constants, an int subclass
        patterns.append((pattern, flags, int(flags | p.state.flags), code, *groups))
    return {"python": list(sys.version_info[:2]), "magic": _sre.MAGIC, "patterns": patterns}


def preload(stored: dict | None) -> None:
    """Put the stored expressions in `re`'s cache, where lark's re.compile finds them."""
    if not stored or stored["python"] != list(sys.version_info[:2]):
        return
    if stored["magic"] != _sre.MAGIC or not isinstance(getattr(re, "_cache", None), dict):
        return
    cache = re._cache
    for pattern, flags, all_flags, code, groups, groupindex, indexgroup in stored["patterns"]:
        key = (str, pattern, flags)  # re._compile's key on the versions that store it
        if key not in cache:
            try:
                cache[key] = _sre.compile(pattern, all_flags, code, groups, groupindex, indexgroup)
            except (RuntimeError, TypeError, ValueError):  # code _sre refuses: re compiles it
                return
