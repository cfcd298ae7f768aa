"""Fuzzing the fast CSV path (issue 9): on generated files, read_csv with pyarrow's fast path
gives the careful reader's arrays bit for bit, or exactly its diagnostics."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackspec.diagnostics import SpecError
from stackspec.training import data, tables
from stackspec.training.data import read_csv

from .catalogue import FUZZ_EXAMPLES
from .test_fuzz_data import ENDINGS, NUMBERS, csv_bytes, spec_ir

pytest.importorskip("pyarrow")
pytestmark = pytest.mark.filterwarnings("ignore")

# Cells made of the plain characters only (the ones the fast path lets pyarrow parse), the
# valid and the invalid: pyarrow must accept exactly the valid ones.
PLAIN_ODD = st.sampled_from(
    ["1e", "1e+", ".", "+", "-", "--1", "1-2", "1.2.3", "1 2", "", " ", "\t", "1e39", "1e400",
     "-1e400", ".e1", "e5", "1e5", "+1", " 1", "1\t", "00012", "1.e1", "-0", "3.4028236e38"]
)  # fmt: skip
PLAIN_CELLS = st.one_of(
    NUMBERS, NUMBERS, NUMBERS, PLAIN_ODD, st.text("0123456789.eE+- \t", max_size=5)
)


@st.composite
def plain_csv(draw) -> tuple[bytes, int]:
    width = draw(st.integers(1, 4))
    names = [f"c{i}" for i in range(width - 1)] + ["t"]
    lines = [draw(st.sampled_from(["", " "])) + ",".join(names)]
    clean = draw(st.booleans())
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
            continue
        n = width if clean or draw(st.integers(0, 5)) else draw(st.integers(1, width + 1))
        lines.append(",".join(draw(NUMBERS if clean else PLAIN_CELLS) for _ in range(n)))
    text = "".join(line + draw(ENDINGS) for line in lines)
    if not draw(st.integers(0, 4)):
        text = text.rstrip("\r\n")
    return (("\ufeff" if draw(st.booleans()) else "") + text).encode(), width


def outcome(path: Path, width: int, need_target: bool):
    try:
        ds = read_csv(path, spec_ir(width - 1), "t", need_target)
    except SpecError as e:
        return [(d.code, d.message, d.span.line, d.span.column, d.hint) for d in e.diagnostics]
    return ds.X.tobytes(), ds.X.shape, None if ds.y is None else ds.y.tobytes(), ds.features


def same_as_careful(raw: bytes, width: int, need_target: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.csv"
        path.write_bytes(raw)
        fast = outcome(path, width, need_target)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(data, "numeric_table", lambda raw: None)
            careful = outcome(path, width, need_target)
    assert fast == careful


FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(plain_csv(), st.booleans())
def test_fast_path_equals_careful_reader_on_plain_files(case, need_target):
    same_as_careful(*case, need_target)


@FUZZ
@given(plain_csv(), st.booleans())
def test_fast_path_in_parallel_parts_equals_careful_reader(case, need_target):
    """The body cut into parts of a few bytes, read in parallel and moved together."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tables, "MIN_PART", 8)
        m.setattr(tables.os, "cpu_count", lambda: 4)
        same_as_careful(*case, need_target)


@FUZZ
@given(csv_bytes(), st.booleans())
def test_fast_path_equals_careful_reader_on_any_file(case, need_target):
    same_as_careful(*case, need_target)
