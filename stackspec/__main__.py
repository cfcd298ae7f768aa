"""`python -m stackspec` and the `stackspec` console script.

The signal handlers go in before anything else is imported (click, numpy and torch take long
enough to be interrupted), so that Ctrl-C or SIGTERM exits 130 with `interrupted` at any point.
"""

from __future__ import annotations


def main() -> None:
    from .interrupts import install

    install()
    try:
        from .cli import run
    except KeyboardInterrupt:
        from .interrupts import exit_interrupted

        exit_interrupted()
    run()


if __name__ == "__main__":
    main()
