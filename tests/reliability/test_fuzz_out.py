"""Fuzzing output names (issue 7): any file name, as bytes, is written or refused with
`cannot write NAME: REASON`, never another exception, never a temp file left; any name is
drawable in a plot title."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stackspec.diagnostics import UserError
from stackspec.files import plan_output, write_output
from stackspec.training.curves import plain

from .catalogue import FUZZ_EXAMPLES

# Bytes of a relative name: path separators, dots, 0xff and friends, but no NUL (which no
# path may hold: Python raises ValueError before any system call, like every caller of open).
NAME_BYTES = st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\0", b"_"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(NAME_BYTES)
def test_fuzz_output_names(raw):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "in.csv").write_text("a\n1\n")
        (root / "sub").mkdir()
        (root / "link").symlink_to("in.csv")
        name = os.fsdecode(os.path.join(os.fsencode(d), raw)) if raw else ""
        before = (root / "in.csv").read_bytes()
        try:
            out = plan_output(name, [("the --data file", str(root / "in.csv"))])
            write_output(out, b"x\n")
        except UserError as e:
            assert str(e).startswith(f"cannot write {name or repr(name)}: ")
        else:
            if out.kind == "replace":
                assert Path(out.path).read_bytes() == b"x\n"
        assert (root / "in.csv").read_bytes() == before
        assert (root / "link").is_symlink()
        assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.text())
def test_fuzz_plot_text(text):
    shown = plain(text)
    shown.encode("utf-8")  # no surrogate left: the font code takes it
    assert shown.replace("\\$", "").count("$") == 0  # no mathtext
    assert shown.isprintable()
