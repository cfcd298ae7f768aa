"""Fuzzing the input reader (stackspec.inputs) in-process: any bytes decode to text or to one
E101/E501 diagnostic whose line:column points at the first bad byte; any bytes read as a weight
file from stdin come back as a prefix of the input, never more than the header declares + 1."""

from __future__ import annotations

import io
import json
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackspec.diagnostics import SpecError, source_lines
from stackspec.inputs import decode, read_weight_bytes

from .catalogue import FUZZ_EXAMPLES

# Text-like bytes: ASCII, line breaks, multi-byte characters, a BOM, and stray bytes.
PIECES = st.sampled_from(
    [b"a", b",", b"1", b"\n", b"\r", b"\r\n", "é".encode(), "€".encode(), b"\xef\xbb\xbf"]
    + [b"\xe9", b"\xff", b"\xc3", b"\xe2\x82", b"\x80", b"\0"]
)
TEXTISH = st.lists(PIECES, max_size=40).map(b"".join) | st.binary(max_size=200)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(TEXTISH, st.sampled_from(["E101", "E501"]))
def test_fuzz_decode_points_at_the_first_bad_byte(data, code):
    try:
        text = decode(data, "f", code)
    except SpecError as e:
        (d,) = e.diagnostics
        assert d.code == code and "not UTF-8" in d.message
        lines = source_lines(e.source)
        assert 1 <= d.span.line <= len(lines)
        assert lines[d.span.line - 1][d.span.column - 1] == "\ufffd"
        # Nothing before the caret is a replacement: it points at the first bad byte.
        before = lines[: d.span.line - 1] + [lines[d.span.line - 1][: d.span.column - 1]]
        assert "\ufffd" not in "".join(before) or "\ufffd".encode() in data
    else:
        assert text == data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")


def from_stdin(data: bytes) -> bytes:
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    try:
        return read_weight_bytes("-", 1 << 20)
    finally:
        sys.stdin = saved


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.integers(0, 300), st.binary(max_size=600))
def test_fuzz_weight_stream_stops_one_byte_past_the_header(end, tail):
    h = json.dumps({"w": {"dtype": "U8", "shape": [end], "data_offsets": [0, end]}}).encode()
    data = struct.pack("<Q", len(h)) + h + tail
    if len(tail) > end:  # one byte past the declared data is read, and the stream refused
        with pytest.raises(SpecError, match="goes on past"):
            from_stdin(data)
    else:
        assert from_stdin(data) == data


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    st.binary(max_size=300)
    | st.builds(lambda n, t: struct.pack("<Q", n) + t, st.integers(0, 2**64 - 1), st.binary())
)
def test_fuzz_weight_stream_is_a_prefix(data):
    try:
        got = from_stdin(data)
    except SpecError as e:  # a stream longer than its header declares
        assert [d.code for d in e.diagnostics] == ["E601"]
        return
    assert data.startswith(got)
    if len(data) >= 8 and struct.unpack("<Q", data[:8])[0] > 1 << 20:
        assert got == data[:8]  # a header longer than the limit is not read
