"""stackspec.inputs: how every input is read (issue 7, defects 3, 15 and 16).

Stdin as `-`, pipes with and without a writer (never a hang), devices, folders and bad paths
refused with the input's code, bounded reads, and non-UTF-8 bytes reported at line:column."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from stackspec.cli import main
from stackspec.diagnostics import SpecError, render_all
from stackspec.inputs import Bound, decode, read_bytes, read_text, read_weight_bytes
from stackspec.spec import parse, read_spec
from stackspec.training.data import read_csv

SPEC = "input 3\ndense 1\n"
CSV = "a,b,c,y\n1,2,3,4\n5,6,7,8\n"


@pytest.fixture(autouse=True)
def no_hang():
    """A read that blocks fails the test after 10 s instead of hanging the suite."""

    def fail(*_):
        raise TimeoutError("the read blocked")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def refused(path, code="E001", what="spec file", bound=None):
    with pytest.raises(SpecError) as e:
        read_bytes(path, what, code, bound)
    (d,) = e.value.diagnostics
    assert d.code == code
    return d


@contextmanager
def pipe_path(data: bytes, close_writer: bool = True):
    """/dev/fd/N of a pipe whose writer (a thread) sends `data`, as `<(cmd)` gives."""
    r, w = os.pipe()

    def write():
        try:
            os.write(w, data)  # blocks until read when larger than the pipe's buffer
        except BrokenPipeError:
            pass  # the reader stopped at its bound
        finally:
            if close_writer:
                os.close(w)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        yield f"/dev/fd/{r}"
    finally:
        os.close(r)
        writer.join()
        if not close_writer:
            os.close(w)


# --- stdin --------------------------------------------------------------------------------------


@pytest.fixture
def stdin(monkeypatch):
    def give(data: bytes):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    return give


def test_dash_reads_stdin(stdin):
    stdin(b"\xef\xbb\xbfinput 3\r\ndense 1\r\n")
    assert read_spec("-") == SPEC  # the byte-order mark dropped, line endings as in text mode


def test_stdin_is_named_in_diagnostics(stdin):
    stdin(b"input 3\n\xff\n")
    with pytest.raises(SpecError) as e:
        read_spec("-")
    assert e.value.diagnostics[0].file == "<stdin>"


def test_closed_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    assert "closed" in refused("-").message


def test_csv_from_stdin(stdin):
    stdin(CSV.encode())
    ds = read_csv("-", parse(SPEC).ir, "y")
    assert ds.file == "<stdin>" and ds.X.tolist() == [[1, 2, 3], [5, 6, 7]]


# --- pipes --------------------------------------------------------------------------------------


def test_fifo_without_writer_does_not_hang(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    for code, what in (("E001", "spec file"), ("E501", "data file")):
        d = refused(fifo, code, what)
        assert "pipe that gave no data" in d.message and "writer" in d.hint
    with pytest.raises(SpecError) as e:
        read_weight_bytes(fifo, 1 << 20)
    assert e.value.diagnostics[0].code == "E601"


def test_pipe_with_a_writer_is_read():
    big = b"x" * (1 << 20)  # larger than a pipe's buffer: the reader must wait for the writer
    with pipe_path(big) as path:
        assert read_bytes(path, "data file", "E501") == big


def test_pipe_is_bounded():
    bound = Bound(1000, "E404", "too large")
    with pipe_path(b"x" * 5000, close_writer=False) as path:
        assert refused(path, "E404", bound=bound).message == "too large"


def test_fifo_with_a_waiting_writer(tmp_path):
    """A writer blocked in open(), as `cat x > fifo &` started first is, is waited for."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as f:  # blocks until the reader opens
            f.write(SPEC.encode())

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)  # let the writer reach open(); a writer that has not is no writer yet
    try:
        assert read_spec(fifo) == SPEC
    finally:
        if writer.is_alive():  # the read failed before opening: unblock the writer
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join()


# --- special files and bad paths ----------------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_unread(device):
    assert refused(device, "E501", "data file").message == "is a device, not a file"


def test_directory(tmp_path):
    assert refused(tmp_path, "E601", "weight file").message == "is a directory, not a weight file"


def test_missing_and_not_a_directory(tmp_path):
    assert refused(tmp_path / "nope.stack").message == "no such spec file"
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert refused(f / "x").message == "cannot read the spec file: Not a directory"
    assert "invalid file name" in refused("a\0b").message


def test_symlink_to_a_device_is_a_device(tmp_path):
    (tmp_path / "link").symlink_to("/dev/zero")
    assert refused(tmp_path / "link").message == "is a device, not a file"


# --- bounds ---------------------------------------------------------------------------------------


def test_regular_file_bound(tmp_path):
    f = tmp_path / "big"
    f.write_bytes(b"x" * 101)
    d = refused(f, "E404", bound=Bound(100, "E404", "larger than 100 bytes", "raise it"))
    assert (d.span.line, d.span.column, d.hint) == (1, 1, "raise it")
    assert read_bytes(f, "spec file", "E001", Bound(101, "E404", "x")) == b"x" * 101
    # A bound for streams only leaves a regular file whole.
    assert len(read_bytes(f, "data file", "E501", Bound(10, "E501", "x", streams_only=True))) == 101


# --- UTF-8 ----------------------------------------------------------------------------------------


def not_utf8(data: bytes, code="E101"):
    with pytest.raises(SpecError) as e:
        decode(data, "f", code)
    (d,) = e.value.diagnostics
    return d, e.value.source


@pytest.mark.parametrize(
    "data, line, column",
    [
        (b"\xff", 1, 1),
        (b"input 3\n# caf\xe9\n", 2, 6),
        (b"\xef\xbb\xbfa\xff", 1, 2),  # the byte-order mark is not a column
        (b"a\r\nb\rc\xc3\xa9\xc3\xa9\xe9", 3, 4),  # \r\n and \r end lines; columns are characters
        (b"ok\n\xe2\x82", 2, 1),  # a character cut short at the end
    ],
)
def test_not_utf8_at_line_and_column(data, line, column):
    d, source = not_utf8(data)
    assert (d.code, d.span.line, d.span.column) == ("E101", line, column)
    assert "not UTF-8" in d.message


def test_not_utf8_caret_points_at_the_byte():
    d, source = not_utf8(b"a,b\n1,\xc3\xa9\xff\n", "E501")
    shown = render_all([d], source).splitlines()
    assert (
        shown[0] == "f:2:4: error[E501]: the file is not UTF-8 text (byte 0xFF is not valid here)"
    )
    assert shown[2].index("^") == shown[1].index("\ufffd")


def test_csv_not_utf8(tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes("a,b,c,y\n1,2,3,\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as e:
        read_csv(f, parse(SPEC).ir, "y")
    d = e.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("E501", 2, 7)


def test_read_text_keeps_line_endings(tmp_path):
    f = tmp_path / "d.csv"
    f.write_bytes(b'\xef\xbb\xbfa,"b\r\nc"\r\n')
    assert read_text(f, "data file", "E501") == 'a,"b\r\nc"\r\n'


# --- weight files ---------------------------------------------------------------------------------


def safetensors(body: int, extra: bytes = b"") -> bytes:
    header = json.dumps({"w": {"dtype": "U8", "shape": [body], "data_offsets": [0, body]}})
    return struct.pack("<Q", len(header)) + header.encode() + bytes(body) + extra


def test_weights_read_as_far_as_the_header_says():
    data = safetensors(10)
    with pipe_path(data) as path:
        assert read_weight_bytes(path, 1 << 20) == data
    # An endless stream after the tensors: one byte more is read, and the stream is refused.
    endless = safetensors(10, b"y" * (1 << 20))
    with (
        pipe_path(endless, close_writer=False) as path,
        pytest.raises(SpecError, match="goes on past the 10 bytes of tensor data"),
    ):
        read_weight_bytes(path, 1 << 20)


def test_weights_header_too_long_stops_the_read():
    with pipe_path(struct.pack("<Q", 1 << 40) + b"x" * 100, close_writer=False) as path:
        assert read_weight_bytes(path, 1 << 20) == struct.pack("<Q", 1 << 40)


def test_weights_regular_file_with_a_bad_header_is_read_whole(tmp_path):
    f = tmp_path / "w.safetensors"
    data = struct.pack("<Q", 2) + b"{]" + b"z" * 50
    f.write_bytes(data)
    assert read_weight_bytes(f, 1 << 20) == data


# --- the command line -----------------------------------------------------------------------------


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_valid_split_not_finite_is_a_usage_error(tmp_path, value):
    (tmp_path / "m.stack").write_text(SPEC)
    r = run(
        "train", tmp_path / "m.stack", "--data", "x.csv", "--target", "y", "--valid-split", value
    )
    assert r.exit_code == 2 and "--valid-split" in r.stderr


def test_two_stdin_inputs_are_a_usage_error():
    r = run("evaluate", "-", "--weights", "w", "--data", "-", "--target", "y")
    assert r.exit_code == 2 and "SPEC and --data" in r.stderr
    assert run("check", "-", "-").exit_code == 2


@pytest.mark.parametrize("command", ["check", "summary", "compile"])
def test_spec_from_stdin(command):
    r = run(command, "-", input=SPEC)
    assert r.exit_code == 0, r.output


def test_directory_as_input_exits_1(tmp_path):
    (tmp_path / "m.stack").write_text(SPEC)
    r = run("check", tmp_path)
    assert r.exit_code == 1 and "error[E001]: is a directory" in r.stderr
    r = run("predict", tmp_path / "m.stack", "--weights", tmp_path, "--data", tmp_path)
    assert r.exit_code == 1 and "error[E601]: is a directory" in r.stderr
