"""Reading the user's input files: spec files, CSVs and weight files (LANGUAGE.md §9).

One module decides what may be read and how far, so every input fails the same way:
- `-` is standard input, shown as `<stdin>` in diagnostics (`cat d.csv | stackspec ... --data -`).
- Any other path is stat'ed first, following symlinks: a directory, a device (`/dev/zero`,
  `/dev/urandom`, a terminal), a socket is refused with the input's error code (E001 spec, E501
  data, E601 weights) before anything is opened or read. Opening happens only after.
- A FIFO or pipe (a named pipe, or `<(cmd)`, which is /dev/fd/N) works when its writer is running.
  It is opened with O_NONBLOCK, so open() cannot block while no writer exists, and then
  O_NONBLOCK is cleared so reads wait for the writer. With no writer the first read sees
  end-of-file, and a pipe that gave no data is an error ("the pipe gave no data"), never a hang.
  A writer must have the pipe open when stackspec opens it, as the shell's `<(cmd)` and
  `cmd > fifo &` started first do.
- Reads are bounded: at most `Bound.bytes + 1` bytes, so `/dev/zero` behind a pipe or stdin
  cannot exhaust memory; a weight file is read only as far as its header declares (plus one
  byte, to see that it is longer).
- Text is UTF-8; a leading byte-order mark is dropped. A byte that is not UTF-8 is reported at
  line:column (lines end at `\\n`, `\\r\\n` or `\\r`; columns count characters), with a caret.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import sys
from collections.abc import Iterator
from typing import BinaryIO

from .diagnostics import NOWHERE, Diagnostic, Span, SpecError
from .files import reason
from .records import record

STDIN = "-"
CHUNK = 1 << 20  # read in pieces: read(n) would allocate n bytes up front


@record
class Bound:
    """At most `bytes` bytes; more is the error `code: message` (at 1:1, with `hint`).
    `streams_only`: regular files (whose size is known and finite) are not bounded."""

    bytes: int
    code: str
    message: str
    hint: str = ""
    streams_only: bool = False


def display_name(path) -> str:
    """The file name diagnostics show: `<stdin>` for `-`."""
    return "<stdin>" if str(path) == STDIN else str(path)


def _error(path, code: str, message: str, hint: str = "", span: Span = NOWHERE) -> SpecError:
    return SpecError([Diagnostic("error", code, message, span, hint, display_name(path))])


def _refusal(mode: int, what: str) -> str:
    """Why a file of this kind cannot be an input, or '' for a regular file or a pipe."""
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return ""
    if stat.S_ISDIR(mode):
        return f"is a directory, not a {what}"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file"
    return "is not a regular file"


class Source:
    """An opened input: `read(n)` gives at most n bytes (everything with None), in chunks."""

    def __init__(self, file: BinaryIO, stream: bool, pipe: bool):
        self.file = file
        self.stream = stream  # stdin or a pipe: its size is unknown until read
        self.pipe = pipe  # a FIFO or pipe named by path (not stdin)

    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def read(self, n: int | None = None) -> bytes:
        if n is None and not self.stream:
            # A regular file whole: one buffer of its size (chunks joined would need twice that).
            return self.file.readall()
        chunks, left = [], n
        while left is None or left > 0:
            chunk = self.file.read(CHUNK if left is None else min(left, CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            if left is not None:
                left -= len(chunk)
        return b"".join(chunks)


@contextlib.contextmanager
def open_input(path, what: str, code: str) -> Iterator[Source]:
    """Open `path` (or stdin for `-`) for reading; a SpecError with `code` says why not.
    `what` names the kind of file in messages: "spec file", "data file", "weight file"."""
    if str(path) == STDIN:
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise _error(path, code, "cannot read standard input: it is closed")
        with _read_errors(path, what, code):
            yield Source(stdin, stream=True, pipe=False)
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise _error(path, code, f"no such {what}") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        why = reason(e) if isinstance(e, OSError) else "invalid file name"
        raise _error(path, code, f"cannot read the {what}: {why}") from None
    if refusal := _refusal(mode, what):
        raise _error(path, code, refusal)
    try:
        # O_NONBLOCK: open() of a FIFO without a writer returns at once instead of waiting.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise _error(path, code, f"cannot read the {what}: {reason(e)}") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        mode = os.fstat(fd).st_mode  # the path may have been replaced since the stat
        if refusal := _refusal(mode, what):
            raise _error(path, code, refusal)
        # Blocking reads again: a running writer is waited for; no writer reads as end-of-file.
        os.set_blocking(fd, True)  # clears O_NONBLOCK, as fcntl would (no module to load)
        pipe = stat.S_ISFIFO(mode)
        with _read_errors(path, what, code):
            yield Source(f, stream=pipe, pipe=pipe)


@contextlib.contextmanager
def _read_errors(path, what: str, code: str) -> Iterator[None]:
    try:
        yield
    except OSError as e:  # EIO, a file that vanished on a network share, ...
        raise _error(path, code, f"cannot read the {what}: {reason(e)}") from None


def _empty_pipe(path, source: Source, data: bytes, what: str, code: str) -> None:
    if source.pipe and not data:
        raise _error(
            path,
            code,
            f"the {what} is a pipe that gave no data",
            "a named pipe is read only while its writer runs; start the writer first",
        )


def read_bytes(path, what: str, code: str, bound: Bound | None = None) -> bytes:
    """The whole input, checked as `open_input` describes and limited by `bound`."""
    with open_input(path, what, code) as source:
        limit = None
        if bound is not None and (source.stream or not bound.streams_only):
            limit = bound.bytes
        # A regular file's size is known: one too large is refused without reading it.
        too_large = limit is not None and not source.stream and source.size() > limit
        data = b"" if too_large else source.read(None if limit is None else limit + 1)
        if too_large or (limit is not None and len(data) > limit):
            raise _error(path, bound.code, bound.message, bound.hint, Span.point(1, 1))
        _empty_pipe(path, source, data, what, code)
    return data


def read_text(
    path, what: str, code: str, bound: Bound | None = None, text_code: str | None = None
) -> str:
    """The input as text: UTF-8, a leading byte-order mark dropped, line endings kept.
    `text_code` reports a byte that is not UTF-8 (default: `code`)."""
    return decode(read_bytes(path, what, code, bound), path, text_code or code)


def decode(data: bytes, path, code: str) -> str:
    """UTF-8 text, or a SpecError at the line:column of the first byte that is not UTF-8."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(data, e.start, path, code) from None


def universal_newlines(text: str) -> str:
    """Line ends as the parser counts lines: \\r\\n and a lone \\r become \\n."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _not_utf8(data: bytes, start: int, path, code: str) -> SpecError:
    # Everything before `start` is valid UTF-8, so it decodes; count lines and characters there.
    before = universal_newlines(data[:start].decode("utf-8"))
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    message = f"the file is not UTF-8 text (byte 0x{data[start]:02X} is not valid here)"
    hint = "save the file as UTF-8"
    d = Diagnostic("error", code, message, Span.point(line, column), hint, display_name(path))
    # The source with U+FFFD for bad bytes, so the caret can point at the first one.
    return SpecError([d], universal_newlines(data.decode("utf-8", "replace")))


def read_weight_bytes(path, max_header: int) -> bytes:
    """A safetensors file's bytes, read only as far as its header declares (errors are E601).

    The 8-byte length and the JSON header come first, then the tensors' bytes up to the largest
    end offset, plus one byte: a stream longer than its header declares is refused here, and an
    endless stream is not read on. A header too long or not understood stops the read there. A
    regular file, whose size is known, is given whole. The caller's header check says what is
    wrong with it."""
    what, code = "weight file", "E601"
    with open_input(path, what, code) as source:
        data = source.read(8)
        _empty_pipe(path, source, data, what, code)
        if len(data) < 8:
            return data
        (size,) = struct.unpack("<Q", data)
        if size > max_header:
            return data
        data += source.read(size)
        if not source.stream:  # a regular file's size is known: read it whole
            return data + source.read()
        # Only a stream needs the header parsed here, to know where to stop reading; the
        # caller's header check parses it (again) either way.
        body = _declared_body(data[8:]) if len(data) == 8 + size else None
        if body is None:
            return data
        data += source.read(body + 1)
        if len(data) > 8 + size + body:  # never read on: the stream may be endless
            message = f"the stream goes on past the {body} bytes of tensor data its header declares"
            raise _error(path, code, f"corrupt safetensors file: {message}")
        return data


def _declared_body(header: bytes) -> int | None:
    """The largest tensor end offset in a safetensors header, or None if not understood."""
    try:
        import json  # here, not at the top: only a weight stream needs it (`check` starts fast)

        parsed = json.loads(header.decode("utf-8"))
        ends = [entry["data_offsets"][1] for key, entry in parsed.items() if key != "__metadata__"]
    except (
        UnicodeDecodeError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
    ):  # a crafted header nests arrays 100,000 deep
        return None
    if not all(type(end) is int and end >= 0 for end in ends):
        return None
    return max(ends, default=0)
