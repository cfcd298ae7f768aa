"""Writing outputs: an input is never overwritten, an output that exists is never left half
written, and a special file stays what it is (LANGUAGE.md §9).

An output named on the command line is planned before any work (`plan_output`, `plan_out_dir`
in runs.py): resolved, refused when it is an input, and its folder probed, so a typo in `-o`
fails at once, not after an hour of training. It is then written by its kind:

- `-`, and a name of our own stdout (`/dev/stdout`, `/dev/fd/1`): to stdout;
- what is not a regular file (a FIFO, `/dev/null`, `/dev/full`, a terminal): opened and written
  directly, since renaming over it would replace the device with a file;
- a regular file or a new name: a temp file beside the real target (through symlinks, so a link
  stays a link), fsync, then a rename over the target.

Temp names carry the writer's pid (`.NAME.stackspec-PID-XXXXXXXX.tmp`): a run killed outright
cannot clean up, so each write removes those beside it whose process no longer exists.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from .diagnostics import UserError
from .interrupts import deferred
from .records import record

if TYPE_CHECKING:
    from pathlib import Path

# (role, path) of each input of a command, e.g. ("the --data file", "d.csv"), for refusals.
Inputs = Iterable[tuple[str, str | None]]

_TMP_NAME = re.compile(r"\..*\.stackspec-(\d+)-[A-Za-z0-9_]+\.tmp", re.DOTALL)
# Names of an open file descriptor: writing there must reach the descriptor, never rename.
_FD_NAME = re.compile(r"/dev/(?:stdin|stdout|stderr|fd/\d+)|/proc/(?:self|\d+)/fd/\d+")


@record
class Output:
    """Where an output goes: its kind, where to write, and the name shown in messages."""

    shown: str  # as the user wrote it: every message names this, never a temp file
    kind: str  # "stdout" | "direct" | "replace"
    path: str  # where to write; for "replace" the real target (symlinks resolved)


def cannot_write(shown: str, reason: str) -> UserError:
    return UserError(f"cannot write {shown or repr(shown)}: {reason}")


def reason(e: OSError) -> str:
    """Why a file could not be read or written, as the system says it ("Permission denied")."""
    return e.strerror or str(e)


def plan_output(given: str, inputs: Inputs = ()) -> Output:
    """How `-o GIVEN` will be written; a UserError now, before any work, if it cannot be or
    if it is one of `inputs`. Nothing is written."""
    if given == "-":
        with contextlib.suppress(OSError, ValueError, AttributeError):
            st = os.fstat(sys.stdout.fileno())  # `>> data.csv` would append to an input
            if stat.S_ISREG(st.st_mode):
                _refuse_inputs("stdout", st, inputs)
        return Output("stdout", "stdout", "-")
    if not given:
        raise cannot_write(given, os.strerror(errno.ENOENT))
    try:
        st = os.stat(given)  # follows symlinks: the kind of the real target
    except FileNotFoundError:
        st = None  # a new name, or a link to one
    except OSError as e:
        raise cannot_write(given, reason(e)) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise cannot_write(given, os.strerror(errno.EISDIR))
    if st is not None and stat.S_ISREG(st.st_mode):
        _refuse_inputs(given, st, inputs)
    if _FD_NAME.fullmatch(os.path.abspath(given)):
        if st is None:  # a descriptor that is not open
            raise cannot_write(given, os.strerror(errno.ENOENT))
        return Output(given, "stdout" if _is_stdout(given) else "direct", given)
    if st is not None and not stat.S_ISREG(st.st_mode):
        return Output(given, "direct", given)
    real = os.path.realpath(given)
    probe_folder(os.path.dirname(real), given)
    return Output(given, "replace", real)


def write_output(out: Output, data: bytes) -> None:
    """Write a planned output; an OSError becomes `cannot write NAME: REASON`."""
    if out.kind == "stdout":
        write_stdout(data)
        return
    try:
        if out.kind == "direct":
            _write_direct(out.path, data)
        else:
            write_bytes(out.path, data)
    except OSError as e:
        raise cannot_write(out.shown, reason(e)) from None


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` by its kind (see the module's doc). An OSError names `path`, never
    the temp file."""
    path = os.fspath(path)
    if _is_direct(path):
        _write_direct(path, data)
        return
    with _replacing(path) as f:
        f.write(data)


def _is_direct(path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    return bool(_FD_NAME.fullmatch(os.path.abspath(path)) or (st and not stat.S_ISREG(st.st_mode)))


@contextlib.contextmanager
def _replacing(path: str) -> Iterator[BinaryIO]:
    """A temp file beside `path`'s real target, renamed over it when the block ends without an
    error (after an fsync), removed otherwise. An OSError names `path`, never the temp file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    real = os.path.realpath(path)
    folder, name = os.path.split(real)
    sweep_stale(folder)
    tmp = None
    try:
        # A signal is held while the temp file is made and while it is removed, so an interrupt
        # never leaves one behind (it is delivered right after, and `finally` cleans up).
        with deferred():
            fd, tmp = temp_file(folder, name)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode(st))  # mkstemp makes 0600; keep the file's mode, or the umask's
        os.replace(tmp, real)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None
    finally:
        if tmp is not None:
            with deferred(), contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


@contextlib.contextmanager
def output_pieces(out: Output) -> Iterator[Callable[[bytes], None]]:
    """`write(piece)` for a planned output written piece by piece (predict's chunks), kept as
    write_output keeps a whole one: nothing reaches the output unless the block ends without an
    error. A regular file is filled through its temp file; stdout or a device from a temp file
    copied out at the end. An OSError is `cannot write NAME: REASON`."""
    import tempfile  # here and below, not at import: `check` starts without them

    try:
        with _replacing(out.path) if out.kind == "replace" else tempfile.TemporaryFile() as f:
            yield _writer(f, out.shown)
            if out.kind != "replace":
                f.seek(0)
                _copy_out(f, out)
    except OSError as e:
        raise cannot_write(out.shown, reason(e)) from None


def _writer(f: BinaryIO, shown: str) -> Callable[[bytes], None]:
    def write(piece: bytes) -> None:
        try:
            f.write(piece)
        except OSError as e:
            raise cannot_write(shown, reason(e)) from None

    return write


def _copy_out(f: BinaryIO, out: Output) -> None:
    """The temp file `f` to stdout or a device, in pieces of 1 MiB."""
    pieces = iter(lambda: f.read(1 << 20), b"")
    if out.kind == "direct":
        _write_direct(out.path, *pieces)
        return
    for piece in pieces:
        write_stdout(piece)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_stdout(data: bytes) -> None:
    """Write to stdout now; a full disk or a closed pipe is `cannot write stdout: REASON`."""
    try:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a text-only stream put in place by a caller
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
        else:
            buffer.write(data)
            buffer.flush()
    except OSError as e:
        raise stdout_failed(e) from None


def flush_stdout() -> None:
    """At the end of a command: what is still buffered for stdout, written or reported."""
    try:
        sys.stdout.flush()
    except OSError as e:
        raise stdout_failed(e) from None


def stdout_failed(e: OSError) -> UserError:
    """The error for a failed stdout; stdout is pointed at /dev/null, or Python's own flush at
    exit would fail again and print 'Exception ignored' (the recipe of Python's signal docs)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    return cannot_write("stdout", reason(e))


# What a write to a full or vanished stream fails with.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EDQUOT, errno.EFBIG}


def is_stdout_failure(e: BaseException) -> bool:
    """Whether `e` came from printing to stdout on a full disk or a closed pipe: an OSError that
    names no file (every file stackspec opens is named in its errors), of a write's kind, or
    while stdout still cannot be flushed."""
    if not isinstance(e, OSError) or e.filename is not None:
        return False
    if e.errno in _WRITE_ERRNOS:
        return True
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


def probe_folder(folder: str, shown: str) -> None:
    """Make and remove a file in `folder`: the one sure test that an output can be written there
    (os.access says yes to root in a read-only place such as /proc)."""
    try:
        fd, tmp = temp_file(folder, "probe")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise cannot_write(shown, reason(e)) from None


def temp_file(folder: str, name: str) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=folder or ".", prefix=_temp_prefix(name), suffix=".tmp")


def temp_dir(folder: str, name: str) -> str:
    """A new temp folder beside `name` in `folder`, named like temp files (swept alike)."""
    import tempfile

    return tempfile.mkdtemp(dir=folder or ".", prefix=_temp_prefix(name), suffix=".tmp")


def _temp_prefix(name: str) -> str:
    return f".{name[:100]}.stackspec-{os.getpid()}-"  # short: NAME_MAX is 255 bytes


def sweep_stale(folder: str | Path) -> None:
    """Remove the temp files and folders in `folder` left by stackspec runs that were killed:
    those whose pid is no process any more. Another live run's are left alone."""
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for name in names:
        m = _TMP_NAME.fullmatch(name)
        if m is None or _alive(int(m[1])):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil

                shutil.rmtree(path)
            else:
                os.unlink(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a name we cannot judge): leave it
    return True


def _write_direct(path: str, *pieces: bytes) -> None:
    # No O_TRUNC, no O_CREAT: a device or FIFO has nothing to truncate, and a descriptor's name
    # (/dev/stderr redirected to a file) must add to the stream, not empty the file under it.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _is_stdout(path: str) -> bool:
    try:
        a, b = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _refuse_inputs(given: str, st: os.stat_result, inputs: Inputs) -> None:
    """The same file by any name (a link, a hard link, /dev/stdin for `-`) is refused."""
    for role, path in inputs:
        if not path:
            continue
        try:
            other = os.fstat(sys.stdin.fileno()) if path == "-" else os.stat(path)
        except (OSError, ValueError, AttributeError):
            continue  # an input that does not exist is not overwritten
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            raise cannot_write(given, f"it is {role} {'- (stdin)' if path == '-' else path}")


def _mode(st: os.stat_result | None) -> int:
    if st is not None:
        return stat.S_IMODE(st.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
