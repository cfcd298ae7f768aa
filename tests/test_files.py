"""stackspec.files and runs' output side: outputs planned before the work, written by their kind,
never over an input; I/O failures are `cannot write PATH: REASON`; stale temp files swept."""

from __future__ import annotations

import errno
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stackspec import files
from stackspec.diagnostics import UserError
from stackspec.files import Output, plan_output, sweep_stale, write_bytes, write_output
from stackspec.training.curves import plain
from stackspec.training.run_folder import RunFolder
from stackspec.training.runs import plan_out_dir

DEAD_PID = 99_999_999  # above any pid_max: no such process


def tmp_names(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


def char_device(path: Path, minor: int) -> Path:
    """A local copy of /dev/null (3) or /dev/full (7): a test that regressed would replace this
    one, never the machine's."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("making a device needs root (CAP_MKNOD)")
    return path


# --- planning ------------------------------------------------------------------------------


def test_plan_kinds(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert plan_output("-") == Output("stdout", "stdout", "-")
    assert plan_output(str(fifo)).kind == "direct"
    assert plan_output(str(char_device(tmp_path / "null", 3))).kind == "direct"
    assert plan_output("/dev/stdout").kind in {"stdout", "direct"}  # never renamed over
    assert plan_output("/dev/full").kind == "direct"
    new = plan_output(str(tmp_path / "x.json"))
    assert new == Output(str(tmp_path / "x.json"), "replace", str(tmp_path / "x.json"))


def test_plan_resolves_a_link_to_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link.json").symlink_to("real/t.json")  # dangling: the target is made
    out = plan_output(str(tmp_path / "link.json"))
    assert out.kind == "replace" and out.path == str(tmp_path / "real" / "t.json")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("", "No such file or directory"),
        ("missing/x.json", "No such file or directory"),
        ("f/x.json", "Not a directory"),
        ("d", "Is a directory"),
        ("/proc/x.json", "No such file or directory"),  # root may not write there either
    ],
)
def test_plan_refuses_what_cannot_be_written(tmp_path, monkeypatch, name, reason):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError) as e:
        plan_output(name)
    assert str(e.value) == f"cannot write {name or repr(name)}: {reason}"
    assert sorted(os.listdir(tmp_path)) == ["d", "f"]  # the probe left nothing


def test_plan_refuses_an_input_by_name_link_or_hard_link(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("d.csv").write_text("a\n1\n")
    Path("link.csv").symlink_to("d.csv")
    os.link("d.csv", "hard.csv")
    inputs = [("the spec", "m.stack"), ("the --data file", "d.csv")]  # m.stack does not exist
    for name in ("d.csv", "link.csv", "hard.csv", "./d.csv"):
        with pytest.raises(UserError, match=f"cannot write {name}: it is the --data file d.csv"):
            plan_output(name, inputs)
    assert plan_output("other.csv", inputs).kind == "replace"


def test_plan_out_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("data/d.csv").write_text("a\n1\n")
    Path("m.stack").write_text("input 1\n")
    inputs = [("the spec", "m.stack"), ("the --data file", "data/d.csv"), ("x", None)]
    for out, held in ((".", "the spec m.stack"), ("data", "the --data file data/d.csv")):
        with pytest.raises(UserError, match=f"cannot write {out}: it holds {held}"):
            plan_out_dir(out, inputs)
    with pytest.raises(UserError, match="cannot write m.stack/run: Not a directory"):
        plan_out_dir("m.stack/run", inputs)
    with pytest.raises(UserError, match="cannot write m.stack: Not a directory"):
        plan_out_dir("m.stack", inputs)
    with pytest.raises(UserError, match="cannot write '': No such file or directory"):
        plan_out_dir("", inputs)
    Path("runs").mkdir()
    Path("linked").symlink_to("runs")
    assert plan_out_dir("linked/a/b", inputs) == tmp_path / "runs" / "a" / "b"
    assert not Path("runs/a").exists()  # nothing made before the work
    assert sorted(os.listdir()) == ["data", "linked", "m.stack", "runs"]


# --- writing -------------------------------------------------------------------------------


def test_write_through_a_link_keeps_the_link(tmp_path):
    (tmp_path / "t.json").write_text("old")
    os.chmod(tmp_path / "t.json", 0o640)
    link = tmp_path / "link.json"
    link.symlink_to("t.json")
    write_output(plan_output(str(link)), b"new\n")
    assert link.is_symlink() and os.readlink(link) == "t.json"
    assert (tmp_path / "t.json").read_text() == "new\n"
    assert stat.S_IMODE((tmp_path / "t.json").stat().st_mode) == 0o640
    assert not tmp_names(tmp_path)


def test_write_to_a_device_writes_it_directly(tmp_path):
    null = char_device(tmp_path / "null", 3)
    write_output(plan_output(str(null)), b"x\n")
    write_bytes(null, b"y\n")  # the library call (Model.save) alike
    assert stat.S_ISCHR(null.lstat().st_mode)
    full = char_device(tmp_path / "full", 7)
    with pytest.raises(UserError, match=f"^cannot write {full}: No space left on device$"):
        write_output(plan_output(str(full)), b"x\n")
    assert stat.S_ISCHR(full.lstat().st_mode)


def test_a_full_disk_names_the_output_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    target.write_text("old")
    out = plan_output(str(target))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(UserError) as e:
        write_output(out, b"new")
    assert str(e.value) == f"cannot write {target}: No space left on device"
    assert target.read_text() == "old" and not tmp_names(tmp_path)
    with pytest.raises(OSError) as e:  # the library call: an OSError naming the file
        write_bytes(target, b"new")
    assert e.value.filename == str(target) and e.value.errno == errno.ENOSPC


class _FullRaw(io.RawIOBase):
    def writable(self):
        return True

    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_stdout_on_a_full_disk(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(_FullRaw())))
    with pytest.raises(UserError, match="^cannot write stdout: No space left on device$"):
        files.write_stdout(b"x\n")


@pytest.mark.parametrize("args", [["compile", "m.stack"], ["summary", "m.stack"]])
def test_a_command_with_stdout_on_a_full_device(tmp_path, args):
    (tmp_path / "m.stack").write_text("input 3\ndense 2\n")
    with open(char_device(tmp_path / "full", 7), "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "stackspec", *args],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
    assert proc.returncode == 1
    assert proc.stderr.decode() == "error: cannot write stdout: No space left on device\n"


# --- temp files of killed runs -------------------------------------------------------------


def test_sweep_removes_only_dead_runs_temp_files(tmp_path):
    dead_file = tmp_path / f".x.json.stackspec-{DEAD_PID}-abc_1.tmp"
    dead_dir = tmp_path / f".run.stackspec-{DEAD_PID}-zz.tmp"
    live = tmp_path / f".x.json.stackspec-{os.getppid()}-abc.tmp"
    mine = tmp_path / f".x.json.stackspec-{os.getpid()}-abc.tmp"
    foreign = tmp_path / ".x.json.abcdefgh.tmp"  # no owner to judge by: kept
    for p in (dead_file, live, mine, foreign):
        p.write_text("")
    dead_dir.mkdir()
    (dead_dir / "weights.safetensors").write_text("")
    sweep_stale(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in (live, mine, foreign))


def test_temp_names_carry_the_pid_and_every_write_sweeps(tmp_path):
    fd, name = files.temp_file(str(tmp_path), "x.json")
    os.close(fd)
    assert Path(name).name.startswith(f".x.json.stackspec-{os.getpid()}-")
    os.unlink(name)
    stale = tmp_path / f".x.json.stackspec-{DEAD_PID}-abc.tmp"
    stale.write_text("half")
    write_bytes(tmp_path / "x.json", b"{}")
    assert os.listdir(tmp_path) == ["x.json"]
    stale.mkdir()  # the temp folder of a run killed by an older stackspec
    write_bytes(tmp_path / "y.json", b"{}")
    assert sorted(os.listdir(tmp_path)) == ["x.json", "y.json"]


def test_a_failed_write_of_a_run_file_names_it_in_the_run_folder(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.csv").write_text("old")
    folder = RunFolder(out, "my/run", {})

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(path))

    monkeypatch.setattr(files, "write_bytes", full)
    with pytest.raises(UserError) as e:
        folder.write("history.csv", "new")
    assert str(e.value) == "cannot write my/run/history.csv: No space left on device"
    assert (out / "history.csv").read_text() == "old" and not tmp_names(tmp_path)


# --- names in the plot ---------------------------------------------------------------------


def test_plot_text_survives_any_file_name():
    assert plain(os.fsdecode(b"\xff.stack")) == "\ufffd.stack"
    assert plain("a$x$\x1b[2J.stack") == r"a\$x\$\x1b[2J.stack"
    assert plain("\ud800") == "?"
    from stackspec.training.curves import render_png

    png = render_png({"loss": [1.0, 0.5]}, os.fsdecode(b"\xff$\\frac{.stack: curves"))
    assert png.startswith(b"\x89PNG")


def test_stdout_or_stdin_that_is_an_input_is_refused(tmp_path):
    spec = "input 1\ndense 1\n"
    (tmp_path / "m.stack").write_text(spec)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    run = [sys.executable, "-m", "stackspec", "compile", "m.stack"]
    with open(tmp_path / "m.stack", "ab") as spec_file:  # `>> m.stack`
        proc = subprocess.run(run, cwd=tmp_path, stdout=spec_file, stderr=subprocess.PIPE, env=env)
    assert proc.returncode == 1
    assert proc.stderr.decode() == "error: cannot write stdout: it is the spec m.stack\n"
    with open(tmp_path / "m.stack", "rb") as spec_file:  # `-o /dev/stdin < m.stack`
        proc = subprocess.run(
            [*run, "-o", "/dev/stdin"], cwd=tmp_path, stdin=spec_file, capture_output=True, env=env
        )
    assert proc.returncode == 1
    assert proc.stderr.decode() == "error: cannot write /dev/stdin: it is the spec m.stack\n"
    assert (tmp_path / "m.stack").read_text() == spec
