"""Ctrl-C and SIGTERM mean one thing from the first instruction to the last: stop, leave every
output whole or absent, print `interrupted`, exit 130 (LANGUAGE.md §9).

The console entry point (`__main__.main`) calls `install()` before it imports anything heavy:
SIGINT keeps Python's KeyboardInterrupt and SIGTERM is mapped to it, so a signal at start-up, in
argument parsing or while outputs are written takes the same path as Ctrl-C. The training loop
replaces both handlers while it runs (progress.stop_requests: finish the batch, save, exit 130) and
puts these back. Only modules the interpreter has loaded already are imported here: this module
is the first of ours to run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_installed = False
_interrupted: str | bool = False  # the signal's name once one raised KeyboardInterrupt
EXIT_INTERRUPTED = 130


def _interrupt(signum, frame):
    """Raise KeyboardInterrupt once: the process is then on its way out, and a second signal
    landing in the `except` clause that handles the first would only add a traceback."""
    global _interrupted
    if not _interrupted:
        _interrupted = signal.Signals(signum).name
        raise KeyboardInterrupt


def swallowed() -> str | None:
    """The signal whose KeyboardInterrupt Python swallowed, if one was, while the command goes
    on: raised where exceptions are printed and ignored (a weakref callback of the import
    machinery during start-up, a __del__), it never reached our handling. The training loop
    and the exit path ask, so the interrupt still takes effect."""
    return _interrupted or None


def _swap(handlers: dict) -> dict | None:
    """Set handlers; the previous ones, or None outside the main thread (where Python refuses
    signal handlers and signals are not ours to catch)."""
    try:
        return {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    except ValueError:
        return None


def install() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt. A signal the parent set to be ignored (`cmd &`
    in a script ignores SIGINT) stays ignored, as Python itself does for SIGINT."""
    global _installed
    wanted = {sig: _interrupt for sig in SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN}
    _installed = _swap(wanted) is not None
    if _installed:
        sys.unraisablehook = _quiet_when_swallowed(sys.unraisablehook)


def _quiet_when_swallowed(previous):
    """Python prints "Exception ignored ... Traceback" for a KeyboardInterrupt that it swallows
    (see `swallowed`); ours is acted on later, so it is no error to show."""

    def hook(unraisable):
        if not (_interrupted and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous(unraisable)

    return hook


def exiting() -> None:
    """Called with the exit code decided: a signal from here to the end of the interpreter's
    shutdown exits 130 at once (the outputs are complete by now), never with a traceback from
    an atexit hook."""
    if _installed:
        _swap(dict.fromkeys(SIGNALS, lambda signum, frame: exit_interrupted()))


def finishing() -> None:
    """Called once the process is exiting on an interrupt: a second Ctrl-C would only spoil the
    `interrupted` message with a traceback. No-op unless `install()` ran (not in a library)."""
    if _installed:
        _swap(dict.fromkeys(SIGNALS, signal.SIG_IGN))


@contextlib.contextmanager
def deferred():
    """Hold SIGINT/SIGTERM for a short block (a few renames, removing a temp folder) and deliver
    them when it ends, so the block is never cut in half. Swapping the Python-level handlers
    works whichever thread the kernel delivers the signal to; blocking with pthread_sigmask
    would not (torch's worker threads do not block it)."""
    held: list[int] = []
    previous = _swap(dict.fromkeys(SIGNALS, lambda signum, frame: held.append(signum)))
    try:
        yield
    finally:
        if previous is not None:
            # None: a handler installed outside Python; SIG_DFL is the closest we can put back.
            _swap({sig: signal.SIG_DFL if h is None else h for sig, h in previous.items()})
        if held:
            signal.raise_signal(held[0])  # now to the real handler: usually KeyboardInterrupt


def exit_interrupted() -> None:
    """The one way out on an interrupt: no traceback, `interrupted` on stderr, exit 130."""
    finishing()
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # RuntimeError: reentrant write
        sys.stderr.write("interrupted\n")
    exit_now(EXIT_INTERRUPTED)


def exit_now(code: int) -> None:
    """Flush and end the process with `code`, skipping the interpreter's shutdown.

    Why not sys.exit: CPython marks the interpreter when a KeyboardInterrupt escapes an exec() of
    a string (dataclasses build their methods so, and imports run them), and a marked interpreter
    ends by killing itself with SIGINT, whatever exit code was asked for. Every output is already
    whole or removed when this runs: the exception has unwound through their cleanup.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)
