"""Start-up cost of `stackspec check` as a whole process, against `python -c "import lark, click"`.

The goal (issue 16; 1.5x in issue 2): `stackspec check specs/red_wine.stack` takes at most 1.2x
the time of a Python process that only imports lark and click, on the same machine. Both run
interleaved, many times; the medians are compared. Two settings are measured:

- cached bytecode: the package's modules are compiled first (as `pip install` does), so each
  start reads .pyc files, like lark and click in site-packages;
- no bytecode: PYTHONDONTWRITEBYTECODE=1 and no .pyc for stackspec, so every start compiles
  the package from source (an editable install in an environment that forbids .pyc files).

It also checks that the check path never imports numpy or torch.

--instructions counts the instructions each process executes instead (valgrind's callgrind,
cached bytecode), which other jobs on the machine do not disturb: the figure to compare
changes by on a busy machine. Both run from an empty folder holding a copy of the spec (a
`python -c` process lists its working directory as it imports). Run it with the Python of a
normal install (`pip install .` into a fresh venv) to measure what users get: an editable
install's import hook costs ~11 ms by itself. It also counts FLOOR, the least a check can run
on lark and click (click parses the command line, Lark's stored parser parses the spec), and
prints how much of the 1.2x goal that leaves for everything else check does.

    python benchmarks/bench_check.py [--runs N]
    python benchmarks/bench_check.py --instructions
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "specs/red_wine.stack"
BASELINE = [sys.executable, "-c", "import lark, click"]
# The console script a user runs, from the same environment as this Python.
_SCRIPT = Path(sys.executable).with_name("stackspec")
CHECK = (
    [str(_SCRIPT), "check", SPEC]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from stackspec.cli import run; run()", "check", SPEC]
)
HEAVY = ("numpy", "torch")
# The least a `check` can run on lark and click (--instructions): click parses the command
# line, and Lark's LALR parser, loaded from the stored tables (Lark's own serialized form, with
# the lexer's expressions precompiled, as stackspec loads it), parses the spec. No validation,
# no IR, no diagnostics, no other command.
FLOOR = """\
import marshal

import click
from lark import Lark


@click.command()
@click.argument("spec")
def check(spec):
    from stackspec.grammar import _tables, regexes

    tables = marshal.loads(_tables.TABLES)
    parser = Lark._load_from_dict(tables["data"], tables["memo"])
    regexes.preload(tables["regexes"])
    with open(spec, encoding="utf-8") as f:
        parser.parse(f.read())
    click.echo("parsed")


check()
"""


def _time(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def compare(runs: int, env: dict, commands: list[list[str]]) -> list[float]:
    """The median time of each command, run interleaved."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(3):  # warm the file cache
        for cmd in commands:
            _time(cmd, env)
    for _ in range(runs):
        for cmd, each in zip(commands, times, strict=True):
            each.append(_time(cmd, env))
    return [statistics.median(each) for each in times]


def heavy_imports() -> list[str]:
    """Modules of numpy or torch loaded by check, fmt, summary and compile --emit ir."""
    code = (
        "import sys\n"
        "from stackspec.cli import main\n"
        "for args in (['check', SPEC], ['fmt', '--check', SPEC], ['summary', SPEC],\n"
        "             ['compile', SPEC, '--emit', 'ir', '-o', OUT]):\n"
        "    try:\n"
        "        main(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('HEAVY:', *(m for m in sys.modules if m.split('.')[0] in HEAVY))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        prelude = f"SPEC = {SPEC!r}; OUT = {str(Path(tmp) / 'ir.json')!r}; HEAVY = {HEAVY!r}\n"
        out = subprocess.run(
            [sys.executable, "-c", prelude + code], cwd=ROOT, capture_output=True, text=True
        )
    marker = [line for line in out.stdout.splitlines() if line.startswith("HEAVY:")]
    if out.returncode or not marker:
        sys.exit(f"the in-process run failed:\n{out.stderr}")
    return marker[-1].split()[1:]


def instructions(cmd: list[str], cwd: str) -> int:
    """Instructions one run of `cmd` executes, from callgrind's summary line."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    out = subprocess.run(valgrind + cmd, cwd=cwd, capture_output=True, text=True, check=True)
    [line] = [line for line in out.stderr.splitlines() if "Collected :" in line]
    return int(line.rsplit(":", 1)[1])


def floor_command(folder: Path, spec: str) -> list[str]:
    """The command that runs FLOOR on `spec`, written as a script in `folder`."""
    folder.mkdir(exist_ok=True)
    script = folder / "floor.py"
    script.write_text(FLOOR, encoding="utf-8")
    return [sys.executable, str(script), spec]


def count_instructions() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (apt install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ROOT / SPEC, Path(tmp) / Path(SPEC).name)
        check = [*CHECK[:-1], Path(SPEC).name]
        # Outside the folder: a script's folder is put first on sys.path, and the run lists it.
        floor = floor_command(Path(tmp) / "floor", Path(SPEC).name)
        for cmd in (BASELINE, check, floor) * 2:  # bytecode written, files cached
            subprocess.run(cmd, cwd=tmp, capture_output=True, check=True)
        base, least, ours = (instructions(cmd, tmp) for cmd in (BASELINE, floor, check))
    print(f"import lark, click:          {base / 1e6:.1f} M instructions")
    print(f"click + Lark parse (floor):  {least / 1e6:.1f} M ({least / base:.3f}x)")
    print(f"stackspec check:             {ours / 1e6:.1f} M ({(ours - base) / 1e6:.1f} M above)")
    print(f"ratio {ours / base:.2f} (wall time has moved at about 0.8 of this ratio's excess)")
    print(
        f"the floor leaves {(1.2 * base - least) / 1e6:.1f} M of the 1.2x goal for everything "
        f"check does beyond parsing; check spends {(ours - least) / 1e6:.1f} M there"
    )


def _drop_stackspec_bytecode() -> None:
    for cache in (ROOT / "stackspec").rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--instructions", action="store_true", help="callgrind counts, not time")
    args = ap.parse_args()
    if args.instructions:
        return count_instructions()
    loaded = heavy_imports()
    print(f"heavy modules imported by check/fmt/summary/compile --emit ir: {loaded or 'none'}")

    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    compileall.compile_dir(ROOT / "stackspec", quiet=1)
    no_cache = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        floor = floor_command(Path(tmp), SPEC)
        base, least, check = compare(args.runs, cached, [BASELINE, floor, CHECK])
        _drop_stackspec_bytecode()
        results = {
            "cached bytecode": (base, check),
            "no bytecode": compare(args.runs, no_cache, [BASELINE, CHECK]),
        }
    compileall.compile_dir(ROOT / "stackspec", quiet=1)  # leave the caches as a run finds them

    print(f"{'setting':<16} {'import lark, click':>19} {'stackspec check':>16} {'ratio':>6}")
    for name, (base, check) in results.items():
        print(f"{name:<16} {base * 1e3:>16.1f} ms {check * 1e3:>13.1f} ms {check / base:>6.2f}")
    base = results["cached bytecode"][0]
    print(f"floor (click + Lark parse, cached bytecode): {least * 1e3:.1f} ms, {least / base:.2f}")
    python = sys.version.split()[0]
    print(f"goal: ratio <= 1.2 ({args.runs} interleaved runs each, medians; Python {python})")
    if loaded:
        sys.exit("check path imports " + ", ".join(loaded))


if __name__ == "__main__":
    main()
