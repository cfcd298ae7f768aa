"""What a training run shows and hears while it runs: progress on stderr, and stop requests.

`Progress` draws a tqdm bar per epoch on a terminal, one line per epoch otherwise;
`stop_requests` turns SIGINT/SIGTERM into a flag that fit.py's loop checks after each batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

from ..interrupts import swallowed


class StopFlag:
    requested: str | None = None  # the signal's name once one arrived


@contextlib.contextmanager
def stop_requests():
    """SIGINT/SIGTERM set a flag that the loop checks after each batch; a second one raises
    KeyboardInterrupt at once. Outside the main thread signals cannot be caught: no-op."""
    flag = StopFlag()
    flag.requested = swallowed()  # a signal at start-up whose KeyboardInterrupt got lost
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _terminal_width() -> int:
    """Columns of the terminal on stderr; 0 when it is not a terminal or reports no size."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns if sys.stderr.isatty() else 0
    except (AttributeError, OSError, ValueError):
        return 0


class Progress:
    """Progress on stderr: a tqdm bar per epoch on a terminal, one line per epoch otherwise.

    verbose: "auto" (bar on a terminal, else lines), 0/False (silent), 1 (bar), 2 (lines).
    The running loss on the bar is refreshed at most every 0.2 s, not per step.
    """

    def __init__(self, verbose, epochs: int):
        if verbose == "auto":
            verbose = 1 if _terminal_width() > 0 else 2
        self.mode = {0: "silent", 1: "bar", 2: "lines"}.get(int(verbose), "lines")
        self.epochs, self.bar, self.next_refresh = epochs, None, 0.0

    def log(self, text: str) -> None:
        if self.mode != "silent":
            print(text, file=sys.stderr, flush=True)

    def start(self, epoch: int, batches: int) -> None:
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=batches,
                desc=f"epoch {epoch}/{self.epochs}",
                unit="batch",
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
                mininterval=0.2,
            )

    def step(self, loss_sum: float, count: int) -> None:
        if self.bar is not None:
            self.bar.update(1)
            now = time.monotonic()
            if now >= self.next_refresh:
                self.next_refresh = now + 0.2
                self.bar.set_postfix_str(f"loss {loss_sum / count:.4f}", refresh=False)

    def end(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        # The lr spans orders of magnitude (a schedule, warm-up): significant digits, not places.
        text = "  ".join(f"{k} {v:.3g}" if k == "lr" else f"{k} {v:.4f}" for k, v in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        elif self.mode == "lines":
            self.log(f"epoch {epoch}/{self.epochs}  {text}  ({seconds:.1f}s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
