"""The front-end commands (LANGUAGE.md §9): check, summary, compile --emit ir, fmt.

Exit codes 0/1/2/3, --json, --set on every command, fmt - and --check, and that none of these
commands imports torch (nor numpy for check and fmt)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stackspec import cli
from stackspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
RED_WINE = str(ROOT / "specs" / "red_wine.stack")
JSON_FIELDS = [
    "file",
    "line",
    "column",
    "end_line",
    "end_column",
    "severity",
    "code",
    "message",
    "hint",
]


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


@pytest.fixture
def spec(write_spec):
    return write_spec


# --- exit codes ---------------------------------------------------------------------------------


def test_check_ok(spec):
    result = run("check", RED_WINE)
    assert result.exit_code == 0
    assert "ok (10 layers, 2,118,657 parameters)" in result.stdout
    assert result.stderr == ""


def test_check_error_exit_1_no_traceback(spec):
    result = run("check", spec("input 11\ndense1 4\n"))
    assert result.exit_code == 1
    assert "error[E201]" in result.stderr and "Traceback" not in result.output


def test_check_every_file_is_checked(spec):
    bad, good = spec("input 3\ndense1 4\n", "bad.stack"), spec("input 3\ndense 2\n", "good.stack")
    result = run("check", bad, good, "missing.stack")
    assert result.exit_code == 1
    assert "good.stack: ok" in result.stdout
    assert "error[E201]" in result.stderr and "missing.stack: error[E001]" in result.stderr


def test_warnings_alone_exit_0(spec):
    result = run("check", spec("let w = 3\ninput 3\ndense 2\n"))
    assert result.exit_code == 0 and "warning[W201]" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "--bogus", RED_WINE],
        ["check", RED_WINE, "--set", "novalue"],
        ["check", RED_WINE, "--max-params", "0"],
        ["summary"],
        ["compile", RED_WINE, "--emit", "c"],
        ["fmt"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_internal_error_exit_3(spec, monkeypatch):
    import stackspec.compiler.pipeline

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(stackspec.compiler.pipeline, "compile_source", boom)
    path = spec("input 3\ndense 2\n")
    result = run("check", path)
    assert result.exit_code == 3
    assert "internal error: RuntimeError: kaboom" in result.stderr
    assert "this is a bug" in result.stderr and "Traceback" not in result.stderr
    result = run("--debug", "check", path)
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_interrupt_exit_130(spec, monkeypatch):
    import stackspec.compiler.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stackspec.compiler.pipeline, "compile_source", interrupted)
    assert run("check", spec("input 3\n")).exit_code == cli.EXIT_INTERRUPTED == 130


# --- --json ---------------------------------------------------------------------------------


def test_json_output(spec):
    path = spec("let w = 3\ninput 11\ndense1 4\n")
    result = run("check", "--json", path)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [list(d) for d in doc] == [JSON_FIELDS, JSON_FIELDS]
    assert doc[0] == {
        "file": str(path),
        "line": 1,
        "column": 5,
        "end_line": 1,
        "end_column": 6,
        "severity": "warning",
        "code": "W201",
        "message": "constant 'w' is never used",
        "hint": "",
    }
    assert (doc[1]["severity"], doc[1]["code"], doc[1]["line"]) == ("error", "E201", 3)
    assert "did you mean 'dense'" in doc[1]["message"]


def test_json_clean_file_is_an_empty_array():
    result = run("check", "--json", RED_WINE)
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_json_caps_each_file_at_50(spec):
    bad = "input 3\n" + "dense1 2\n" * 60
    a, b = spec(bad, "a.stack"), spec(bad, "b.stack")
    doc = json.loads(run("check", "--json", a, b).stdout)
    assert [d["file"] for d in doc].count(str(a)) == 50
    assert [d["file"] for d in doc].count(str(b)) == 50


# --- --set on every command ---------------------------------------------------------------


WIDTH = "let width = 4\ninput 3\ndense width\n"


def test_set_on_check(spec):
    path = spec(WIDTH)
    assert "ok (1 layers, 16 parameters)" in run("check", path).stdout
    assert "ok (1 layers, 32 parameters)" in run("check", path, "--set", "width=8").stdout
    result = run("check", path, "--set", "widht=8")
    assert result.exit_code == 1 and "error[E213]" in result.stderr


def test_set_on_summary(spec):
    result = run("summary", spec(WIDTH), "--set", "width=8")
    assert result.exit_code == 0 and "Trainable params: 32" in result.stdout


def test_set_on_compile(spec):
    result = run("compile", spec(WIDTH), "--emit", "ir", "--set", "width=8")
    assert json.loads(result.stdout)["nodes"][0]["params"]["units"] == 8


def test_set_on_fmt(spec):
    path = spec(WIDTH)
    assert run("fmt", "--check", path, "--set", "width=8").exit_code == 0
    result = run("fmt", "--check", path, "--set", "nope=8")
    assert result.exit_code == 1 and "error[E213]" in result.stderr


def test_set_repeated_and_several(spec):
    path = spec("let a = 2\nlet b = 3\ninput a\ndense b\n")
    result = run("check", path, "--set", "a=5", "--set", "b=7", "--set", "a=6")
    assert "ok (1 layers, 49 parameters)" in result.stdout  # 6*7 + 7


# --- summary and compile ----------------------------------------------------------------------


def test_summary():
    result = run("summary", RED_WINE)
    assert result.exit_code == 0
    assert "Trainable params: 2,118,657" in result.stdout
    assert "Non-trainable params: 6,144" in result.stdout


def test_summary_of_a_bad_spec(spec):
    result = run("summary", spec("input 3\ndense 0\n"))
    assert result.exit_code == 1 and "error[E304]" in result.stderr


def test_compile_ir_to_stdout_and_file(tmp_path):
    out = tmp_path / "ir.json"
    stdout = json.loads(run("compile", RED_WINE, "--emit", "ir").stdout)
    assert run("compile", RED_WINE, "--emit", "ir", "-o", out).exit_code == 0
    assert json.loads(out.read_text()) == stdout
    assert stdout["param_count"] == 2_118_657


def test_compile_failure_leaves_output_alone(spec, tmp_path):
    out = tmp_path / "ir.json"
    out.write_text("previous")
    result = run("compile", spec("input 3\ndense1 2\n"), "--emit", "ir", "-o", out)
    assert result.exit_code == 1
    assert out.read_text() == "previous"


def test_max_params_option(spec):
    path = spec("input 100\ndense 100\n")
    assert run("check", path, "--max-params", "10100").exit_code == 0
    result = run("check", path, "--max-params", "10099")
    assert result.exit_code == 1 and "error[E401]" in result.stderr


@pytest.mark.parametrize(
    "text,flag,ok,bad,code",
    [
        ("input 3\nrepeat 20 { relu }\n", "--max-layers", "20", "19", "E402"),
        ("input 3\nrepeat 2 { repeat 2 { repeat 2 { relu } } }\n", "--max-depth", "3", "2", "E403"),
        ("input 3\nrelu\n", "--max-file-size", "13", "12", "E404"),
    ],
)
def test_every_limit_has_a_flag(spec, text, flag, ok, bad, code):
    path = spec(text)
    assert run("check", path, flag, ok).exit_code == 0
    result = run("check", path, flag, bad)
    assert result.exit_code == 1 and f"error[{code}]" in result.stderr
    # The other commands that read a spec take the same flags.
    assert run("summary", path, flag, bad).exit_code == 1
    assert run("compile", path, "--emit", "ir", flag, ok).exit_code == 0


def test_limits_beyond_the_defaults_work(spec):
    deep = "input 3\n" + "residual {\n" * 70 + "relu\n" + "}\n" * 70
    assert "error[E403]" in run("check", spec(deep)).stderr
    assert run("check", spec(deep), "--max-depth", "80").exit_code == 0
    many = "input 3\nrepeat 12000 { relu }\n"
    assert "error[E402]" in run("check", spec(many)).stderr
    assert run("check", spec(many), "--max-layers", "12000").exit_code == 0
    assert run("check", spec(deep), "--max-depth", "201").exit_code == 2  # a usage error


def test_missing_file_is_a_user_error():
    for command in ("check", "summary", "compile", "fmt"):
        result = run(command, "no/such.stack")
        assert result.exit_code == 1, command
        assert "error[E001]" in result.stderr and "Traceback" not in result.output


# --- fmt ------------------------------------------------------------------------------------


UGLY = "input   11\ndense 4|relu\n"
PRETTY = "input 11\ndense 4 | relu\n"


def test_fmt_rewrites_files(spec):
    path = spec(UGLY)
    result = run("fmt", path)
    assert result.exit_code == 0 and "reformatted" in result.stderr
    assert path.read_text() == PRETTY
    result = run("fmt", path)
    assert result.exit_code == 0 and result.stderr == ""


def test_fmt_check(spec):
    ugly, pretty = spec(UGLY, "ugly.stack"), spec(PRETTY, "pretty.stack")
    result = run("fmt", "--check", ugly, pretty)
    assert result.exit_code == 1
    assert "would reformat" in result.stderr and "ugly.stack" in result.stderr
    assert "pretty.stack" not in result.stderr
    assert ugly.read_text() == UGLY
    assert run("fmt", "--check", pretty).exit_code == 0


def test_fmt_stdin_to_stdout():
    result = run("fmt", "-", input=UGLY)
    assert result.exit_code == 0 and result.stdout == PRETTY
    assert run("fmt", "-", input="\ufeff" + UGLY).stdout == PRETTY
    assert run("fmt", "--check", "-", input=UGLY).exit_code == 1
    assert run("fmt", "--check", "-", input=PRETTY).exit_code == 0


def test_fmt_syntax_error_leaves_the_file(spec):
    text = "input 11\ndense 4 |\n"
    path = spec(text)
    result = run("fmt", path)
    assert result.exit_code == 1 and "error[E103]" in result.stderr
    assert path.read_text() == text
    result = run("fmt", "-", input=text)
    assert result.exit_code == 1 and "<stdin>:2:9: error[E103]" in result.stderr


def test_fmt_keeps_the_specs_canonical():
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.stack"))
    assert run("fmt", "--check", *specs).exit_code == 0


# --- start-up: no heavy imports -------------------------------------------------------------------

IN_PROCESS = """
import sys
from stackspec.cli import main
try:
    main({args!r}, standalone_mode=False)
except SystemExit:
    pass
print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "numpy"}}))
"""


@pytest.mark.parametrize(
    ("args", "forbidden"),
    [
        (["check", RED_WINE], {"torch", "numpy"}),
        (["fmt", "--check", RED_WINE], {"torch", "numpy"}),
        (["summary", RED_WINE], {"torch"}),
        (["compile", RED_WINE, "--emit", "ir"], {"torch"}),
    ],
    ids=["check", "fmt", "summary", "compile-ir"],
)
def test_no_heavy_imports(args, forbidden):
    code = IN_PROCESS.format(args=args)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert not loaded & forbidden, f"{args[0]} imported {loaded & forbidden}"
