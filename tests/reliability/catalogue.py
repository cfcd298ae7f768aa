"""The reliability catalogue's machinery (issue 7): hostile inputs and faults, each a `Case`.

A case lays out files in a fresh folder, runs `python -m stackspec ARGS...` there as a user
would (a real process: exit codes, stdout/stderr and signals are the user's), and checks:

- the exit code;
- the output against a golden file `golden/NAME.txt` (stdout, then stderr, with the case's
  folder shown as `<tmp>`), or, for cases whose output varies, `contains` substrings;
- never a traceback and never "internal error";
- every file that existed before the run is byte-identical afterwards (unless listed in
  `changes`), symlinks still are symlinks, and no temporary file (`*.tmp`) is left behind;
- new paths are exactly `creates` (files or folders, relative to the case folder).

Regenerate the golden files after an intended change of a message with
`STACKSPEC_UPDATE_GOLDEN=1 python -m pytest tests/reliability` and review the diff.
Cases live in `cases_*.py` modules, one list `CASES` each.
"""

from __future__ import annotations

import math
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STACKSPEC_UPDATE_GOLDEN") == "1"
TIMEOUT = 60  # seconds: a case that takes longer is a hang
# Examples per hypothesis fuzz target: a few hundred in `make test`, 10,000+ in `make fuzz`.
FUZZ_EXAMPLES = int(os.environ.get("STACKSPEC_FUZZ_EXAMPLES", "200"))

# A small regression spec and a CSV that fits it: the building blocks of most cases.
SPEC = "input 3\ndense 4 relu\ndense 1\ntrain {\n  epochs 2\n  batch 4\n}\n"
CSV = "a,b,c,y\n" + "".join(f"{i},{i % 3},{-i},{i * 0.5}\n" for i in range(12))


@dataclass
class Case:
    name: str  # also the golden file's name
    args: list[str]  # after `stackspec`
    files: dict[str, str | bytes] = field(default_factory=dict)
    exit: int = 1
    golden: bool = True  # compare the whole output with golden/NAME.txt
    contains: tuple[str, ...] = ()  # substrings of stdout+stderr (with or instead of golden)
    stdin: bytes | None = None
    setup: Callable[[Path], None] | None = None  # makes FIFOs, links, read-only folders ...
    changes: tuple[str, ...] = ()  # files that may change (fmt's own target, an --out copy)
    creates: tuple[str, ...] = ()  # new paths the run must leave, relative to the folder
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


# Numbers a model computed may differ in float32's last bits between machines: the BLAS kernel
# chosen for the CPU (AVX2 or AVX-512, FMA or not) sums a dot product in its own order.
NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
ULPS = 4 * 2.0**-23  # relative: four float32 units in the last place


def same_output(text: str, golden: str) -> bool:
    """Whether `text` is `golden`, its computed numbers (those written with a point or an
    exponent on either side) within ULPS of the golden ones; all else, counts, rows, columns,
    exit codes and sizes included, equal."""
    if text == golden:
        return True
    if NUMBER.sub("#", text) != NUMBER.sub("#", golden):
        return False
    numbers = zip(NUMBER.findall(text), NUMBER.findall(golden), strict=True)
    return all(_same_number(a, b) for a, b in numbers)


def _same_number(a: str, b: str) -> bool:
    if a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
        return a == b
    return math.isclose(float(a), float(b), rel_tol=ULPS, abs_tol=0)


def weights_bytes(spec: str = SPEC, seed: int = 0) -> bytes:
    """A valid weight file for `spec` (initial weights from `seed`)."""
    import tempfile

    import stackspec
    from stackspec.training.weights import save_weights

    s = stackspec.parse(spec)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.safetensors"
        save_weights(path, s.ir, s.compile("numpy", seed=seed).get_weights())
        return path.read_bytes()


def _snapshot(root: Path) -> dict[str, tuple[str, bytes | str | None]]:
    """Every path under root: ('link', target) / ('file', bytes) / ('dir' | 'other', None)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(mode):
                out[rel] = ("file", p.read_bytes() if os.access(p, os.R_OK) else None)
            elif stat.S_ISDIR(mode):
                out[rel] = ("dir", None)
            else:
                out[rel] = ("other", None)
    return out


def run_case(case: Case, tmp: Path) -> None:
    for rel, content in case.files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
    if case.setup:
        case.setup(tmp)
    before = _snapshot(tmp)
    env = {**os.environ, "COLUMNS": "100", **case.env}
    env.pop("STACKSPEC_UPDATE_GOLDEN", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "stackspec", *case.args],
            cwd=tmp,
            input=case.stdin if case.stdin is not None else b"",
            capture_output=True,
            timeout=TIMEOUT,
            env=env,
        )
    finally:
        # Give the test runner its folder back whatever a case made read-only.
        for dirpath, _, _ in os.walk(tmp):
            with_write = os.stat(dirpath).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR
            os.chmod(dirpath, with_write)
    out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    shown = out.replace(str(tmp), "<tmp>")
    assert "Traceback" not in out, shown
    assert "internal error" not in out, shown
    assert proc.returncode == case.exit, f"exit {proc.returncode}, expected {case.exit}\n{shown}"
    for text in case.contains:
        assert text in out, f"{text!r} not in output:\n{shown}"
    if case.golden:
        expected = GOLDEN / f"{case.name}.txt"
        text = f"exit {proc.returncode}\n--- stdout\n{proc.stdout.decode('utf-8', 'replace')}"
        text += f"--- stderr\n{proc.stderr.decode('utf-8', 'replace')}"
        text = text.replace(str(tmp), "<tmp>")
        if UPDATE:
            expected.write_text(text)
        assert expected.exists(), f"run STACKSPEC_UPDATE_GOLDEN=1 to create {expected.name}"
        same = same_output(text, expected.read_text())
        assert same, f"output differs from {expected.name}:\n{text}"
    after = _snapshot(tmp)
    for rel, (kind, content) in before.items():
        if rel in case.changes:
            continue
        assert rel in after, f"{rel} was removed"
        assert after[rel][0] == kind, f"{rel} was a {kind}, is now a {after[rel][0]}"
        assert after[rel][1] == content, f"{rel} was changed"
    leftovers = [rel for rel in after if rel.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    new = sorted(rel for rel in after if rel not in before)
    expected_new = set()
    for rel in case.creates:  # a created folder brings its contents
        expected_new.add(rel)
    unexpected = [r for r in new if not any(r == c or r.startswith(c + "/") for c in expected_new)]
    missing = [c for c in case.creates if c not in after]
    assert not unexpected, f"unexpected new paths: {unexpected}"
    assert not missing, f"expected outputs missing: {missing}"
    if case.check:
        case.check(tmp, proc)
