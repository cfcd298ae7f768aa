"""Front-end cases (issue 7: defects 6, 7, 10, 11, 16, 19): recursion, memory, escapes in
user strings, code injection through emitted source, misplaced or silently capped
diagnostics, and fmt's limit flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .catalogue import CSV, SPEC, Case

# 1,000 constants, each defined by the one before: resolved with a loop, not recursion.
LETS = "input 3\nlet a0 = 4\n" + "".join(f"let a{i} = a{i - 1}\n" for i in range(1, 1000))
LETS += "dense a999\ndense 1\n"
# 1,000 blocks, each calling the one before.
BLOCKS = "input 3\nblock b0() {\n  dense 2\n}\n"
BLOCKS += "".join(f"block b{i}() {{\n  b{i - 1}\n}}\n" for i in range(1, 1000)) + "b999\ndense 1\n"


def nested(depth: int) -> str:
    """Residuals nested `depth` deep on 3 features: trains on CSV."""
    opens = "".join("  " * i + "residual {\n" for i in range(depth))
    closes = "".join("  " * i + "}\n" for i in reversed(range(depth)))
    body = opens + "  " * depth + "dense 3 tanh\n" + closes
    return "input 3\n" + body + "dense 1\ntrain {\n  epochs 1\n  batch 4\n}\n"


PADDED = "input 1x1x1\nconv2d 1 kernel=1 padding=30000\n"  # the reproduction
FAN_OUT = """input 4
block inner() {
  repeat 100 {
    dense 4
  }
}
block outer() {
  repeat 100 {
    inner
  }
}
dense 4
outer
"""
PADDED_POOLED = "input 1x1x1\nconv2d 1 kernel=1 padding=30000\nglobalavgpool\n"
ONE_PIXEL = "x,y\n" + "".join(f"{i},{i}\n" for i in range(64))
# A MemoryError made certain: the process may map at most 4 GiB (whatever the machine's
# overcommit policy), and the padded image of one batch needs 460 GB.
SMALL_ADDRESS_SPACE = (
    "import resource\nresource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
)
SMALL_ENV = {
    "PYTHONPATH": os.pathsep.join([".", os.environ.get("PYTHONPATH", "")]),
    "PYTHONDONTWRITEBYTECODE": "1",
}
MANY_SYNTAX_ERRORS = "input 3\n" + "dense 2 @\n" * 30 + "dense 1\n"
HOSTILE = 'm"""+str(__import__("os").system("touch PWNED"))+""".stack'
ESCAPES = "m\x1b[2J\x07.stack"


def _import_emitted(tmp: Path, proc: subprocess.CompletedProcess) -> None:
    """Import the emitted module as a user would; the file name must not have run."""
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('model.py')"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp / "PWNED").exists(), "the emitted source ran the file name"


TRAIN = ["--data", "d.csv", "--target", "y"]


def _failed_run(tmp, proc) -> None:
    import json

    record = json.loads((tmp / "runs" / "m" / "run.json").read_text())
    assert record["status"] == "failed" and record["message"], record


CASES = [
    # 6. RecursionError: a long chain of constants or blocks, and the deepest nesting allowed.
    Case("front_let_chain_1000", ["check", "m.stack"], {"m.stack": LETS}, exit=0),
    Case(
        "front_block_chain_1000",
        ["check", "m.stack", "--max-depth", "100"],
        {"m.stack": BLOCKS},
        exit=1,
    ),
    Case(
        "front_max_depth_over_ceiling",
        ["check", "m.stack", "--max-depth", "200"],
        {"m.stack": SPEC},
        exit=2,
    ),
    Case(
        "front_deepest_train_torch",
        ["train", "m.stack", *TRAIN, "--backend", "torch", "--max-depth", "100", "--out", "r"],
        {"m.stack": nested(100), "d.csv": CSV},
        exit=0,
        golden=False,
        contains=("wrote r/",),
        creates=("r",),
    ),
    Case(
        "front_deepest_train_numpy",
        ["train", "m.stack", *TRAIN, "--max-depth", "100", "--out", "r"],
        {"m.stack": nested(100), "d.csv": CSV},
        exit=0,
        golden=False,
        contains=("wrote r/",),
        creates=("r",),
    ),
    Case(
        "front_too_deep_by_default",
        ["check", "m.stack"],
        {"m.stack": nested(100)},
        exit=1,
    ),
    # 7. Memory bounded before allocation.
    Case("front_memory_padding", ["check", "m.stack"], {"m.stack": PADDED}),
    Case(
        "front_memory_padding_train",
        ["train", "m.stack", "--data", "d.csv", "--target", "y"],
        {"m.stack": PADDED, "d.csv": "x,y\n1,2\n3,4\n"},
    ),
    Case(
        "front_memory_batch_override",
        ["train", "m.stack", *TRAIN, "--batch", "1000000000", "--out", "r"],
        {"m.stack": SPEC, "d.csv": CSV},
    ),
    Case(
        "front_memory_limit_lowered",
        ["check", "m.stack", "--max-memory", "100"],
        {"m.stack": SPEC},
    ),
    Case(
        "front_memory_limit_raised",
        ["summary", "m.stack", "--max-memory", str(2 << 40)],
        {"m.stack": PADDED_POOLED},
        exit=0,
    ),
    Case("front_summary_memory", ["summary", "m.stack"], {"m.stack": SPEC}, exit=0),
    Case(
        "front_memory_error_at_run_time",
        ["train", "m.stack", *TRAIN, "--max-memory", str(1 << 50), "--valid-split", "0"],
        {"m.stack": PADDED_POOLED, "d.csv": ONE_PIXEL, "sitecustomize.py": SMALL_ADDRESS_SPACE},
        env=SMALL_ENV,
        creates=("runs",),  # the run folder, whose run.json says the run failed
        check=_failed_run,
    ),
    # 10. User strings escaped for the terminal.
    Case("front_escaped_path_check", ["check", ESCAPES], {ESCAPES: SPEC}, exit=0),
    Case("front_escaped_path_summary", ["summary", ESCAPES], {ESCAPES: SPEC}, exit=0),
    Case(
        "front_escaped_string_value",
        ["check", "m.stack"],
        {"m.stack": 'input 3\ndense "\\x1b[2J\x1b[2J\x00"\n'},
    ),
    Case(
        "front_escaped_path_fmt",
        ["fmt", ESCAPES],
        {ESCAPES: "input 3\ndense   1\n"},
        exit=0,
        changes=(ESCAPES,),
    ),
    # 11. No code injection through `compile --emit python`.
    Case(
        "front_emit_hostile_name_numpy",
        ["compile", HOSTILE, "--emit", "python", "-o", "model.py"],
        {HOSTILE: SPEC + '# """ + str(__import__(\'os\').system(\'touch PWNED\')) + """\n'},
        exit=0,
        creates=("model.py",),
        check=_import_emitted,
    ),
    # 16. Diagnostics placed where the user would act, and never cut short silently.
    Case("front_fan_out_outermost_call", ["check", "m.stack"], {"m.stack": FAN_OUT}),
    Case("front_syntax_errors_and_n_more", ["check", "m.stack"], {"m.stack": MANY_SYNTAX_ERRORS}),
    Case(
        "front_syntax_errors_large_file",
        ["check", "m.stack"],
        {"m.stack": "input 3\n" + ("dense 2 @  # " + "x" * 200 + "\n") * 3000},
    ),
    # 19. fmt takes the limit flags and honours them.
    Case(
        "front_fmt_max_depth",
        ["fmt", "--check", "--max-depth", "100", "m.stack"],
        {"m.stack": nested(80)},
        exit=0,
    ),
    Case("front_fmt_depth_default", ["fmt", "--check", "m.stack"], {"m.stack": nested(80)}),
    Case(
        "front_fmt_max_file_size",
        ["fmt", "--max-file-size", "10", "m.stack"],
        {"m.stack": SPEC},
    ),
]
