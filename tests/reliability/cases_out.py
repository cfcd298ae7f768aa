"""How outputs are written (issue 7 defects 1, 2, 4, 13 and the temp files of 14): never over an
input, through links, directly into FIFOs and devices, I/O errors as `cannot write PATH: REASON`
checked before the work, any file name, and the temp files of killed runs swept."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from .catalogue import CSV, SPEC, Case, weights_bytes

W = weights_bytes()
DEAD_PID = 99_999_999  # above any pid_max: no such process
PREDICT = ["predict", "m.stack", "--weights", "w.safetensors", "--data", "d.csv", "--target", "y"]
COMPILE = ["compile", "m.stack"]
TRAIN = ["train", "m.stack", "--data", "d.csv", "--target", "y"]
BASE = {"m.stack": SPEC, "d.csv": CSV, "w.safetensors": W}
RUN_FILES = ("weights.safetensors", "history.csv", "curves.png", "spec.stack", "run.json")


def _never_renamed_over(name: str):
    """Guard for a case naming a device of the machine itself: a regression that renamed over
    it would replace the test machine's /dev/full or /dev/stdout, so check the plan first."""

    def setup(tmp: Path) -> None:
        from stackspec.files import plan_output

        assert plan_output(name).kind != "replace", f"{name} would be renamed over"

    return setup


def _link(name: str, target: str):
    def setup(tmp: Path) -> None:
        (tmp / name).symlink_to(target)

    return setup


def _device(name: str, minor: int):
    """A local /dev/null (3) or /dev/full (7); tests run as root, which may mknod."""

    def setup(tmp: Path) -> None:
        os.mknod(tmp / name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))

    return setup


_FIFO_READ: dict[Path, list[bytes]] = {}


def _fifo_with_reader(tmp: Path) -> None:
    os.mkfifo(tmp / "fifo")
    got = _FIFO_READ.setdefault(tmp, [])

    def read() -> None:
        with open(tmp / "fifo", "rb") as f:
            got.append(f.read())

    threading.Thread(target=read, daemon=True).start()


def _fifo_got_the_ir(tmp: Path, proc) -> None:
    assert _FIFO_READ.pop(tmp, [b""])[0].startswith(b'{\n  "format": "stackspec-ir"')


def _non_utf8_spec(tmp: Path) -> None:
    with open(os.path.join(os.fsencode(tmp), b"\xff.stack"), "w") as f:
        f.write(SPEC)


def _stale_temp_files(tmp: Path) -> None:
    (tmp / f".ir.json.stackspec-{DEAD_PID}-abc123.tmp").write_text('{"half')
    run = tmp / f".run.stackspec-{DEAD_PID}-x_y.tmp"
    run.mkdir()
    (run / "weights.safetensors").write_bytes(b"\x00" * 8)


def _run_folder_updated(tmp: Path, proc) -> None:
    assert (tmp / "run" / "spec.stack").read_text() == SPEC
    assert (tmp / "run" / "history.csv").read_text().startswith("epoch,loss,val_loss")


def _formatted(tmp: Path, proc) -> None:
    assert (tmp / "real.stack").read_text() == "input 3\n\ndense 1\n"


def _predictions(tmp: Path, proc) -> None:
    assert (tmp / "p.csv").read_text().startswith("prediction\n")


def _non_utf8_run(tmp: Path, proc) -> None:
    run = tmp / "runs" / os.fsdecode(b"\xff")
    assert sorted(p.name for p in run.iterdir()) == sorted(RUN_FILES)
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG")


CASES = [
    # 1. An output may destroy an input: refused before any work, naming both paths.
    Case("out_predict_onto_data", [*PREDICT, "-o", "d.csv"], BASE),
    Case("out_predict_onto_weights", [*PREDICT, "-o", "w.safetensors"], BASE),
    Case(
        "out_predict_onto_data_through_a_link",
        [*PREDICT, "-o", "p.csv"],
        BASE,
        setup=_link("p.csv", "d.csv"),
    ),
    Case("out_compile_onto_spec", ["compile", "m.stack", "-o", "m.stack"], {"m.stack": SPEC}),
    Case("out_train_into_spec_folder", [*TRAIN, "--out", "."], BASE),
    Case(
        "out_train_into_data_folder",
        ["train", "m.stack", "--data", "data/d.csv", "--target", "y", "--out", "data"],
        {"m.stack": SPEC, "data/d.csv": CSV},
    ),
    Case(
        "out_train_a_run_spec_into_its_run",
        ["train", "run/spec.stack", "--data", "d.csv", "--target", "y", "--out", "run"],
        {"run/spec.stack": SPEC, "d.csv": CSV},
    ),
    # 2. Special files: written through links and directly into FIFOs and devices.
    Case(
        "out_compile_through_a_link",
        ["compile", "m.stack", "-o", "link.json"],
        {"m.stack": SPEC, "real/ir.json": "old\n"},
        exit=0,
        setup=_link("link.json", "real/ir.json"),
        changes=("real/ir.json",),
    ),
    Case(
        "out_compile_through_a_dangling_link",
        ["compile", "m.stack", "-o", "link.json"],
        {"m.stack": SPEC},
        exit=0,
        setup=_link("link.json", "ir.json"),
        creates=("ir.json",),
    ),
    Case(
        "out_fmt_through_a_link",
        ["fmt", "link.stack"],
        {"real.stack": "input 3\n\n\n\ndense 1\n"},
        exit=0,
        setup=_link("link.stack", "real.stack"),
        changes=("real.stack",),
        check=_formatted,
    ),
    Case(
        "out_compile_to_dev_stdout",
        ["compile", "m.stack", "-o", "/dev/stdout"],
        {"m.stack": SPEC},
        exit=0,
        setup=_never_renamed_over("/dev/stdout"),
    ),
    Case(
        "out_compile_to_a_link_to_stdout",
        ["compile", "m.stack", "-o", "out"],
        {"m.stack": SPEC},
        exit=0,
        setup=_link("out", "/proc/self/fd/1"),
    ),
    Case("out_compile_to_dash", ["compile", "m.stack", "-o", "-"], {"m.stack": SPEC}, exit=0),
    Case(
        "out_compile_to_a_fifo",
        ["compile", "m.stack", "-o", "fifo"],
        {"m.stack": SPEC},
        exit=0,
        setup=_fifo_with_reader,
        check=_fifo_got_the_ir,
    ),
    Case(
        "out_predict_to_a_device",
        [*PREDICT, "-o", "null"],
        BASE,
        exit=0,
        setup=_device("null", 3),
    ),
    # 4. I/O errors: `cannot write PATH: REASON`, exit 1, before the work.
    Case(
        "out_compile_to_dev_full",
        ["compile", "m.stack", "-o", "/dev/full"],
        {"m.stack": SPEC},
        setup=_never_renamed_over("/dev/full"),
    ),
    Case("out_predict_to_a_full_device", [*PREDICT, "-o", "full"], BASE, setup=_device("full", 7)),
    Case("out_compile_missing_folder", [*COMPILE, "-o", "no/x.json"], {"m.stack": SPEC}),
    Case("out_compile_empty_name", ["compile", "m.stack", "-o", ""], {"m.stack": SPEC}),
    Case("out_compile_to_a_folder", [*COMPILE, "-o", "sub"], {"m.stack": SPEC, "sub/k": ""}),
    Case("out_compile_under_a_file", ["compile", "m.stack", "-o", "m.stack/x"], {"m.stack": SPEC}),
    # Root ignores permissions, so a read-only folder is one the kernel refuses: /sys (EACCES
    # or EROFS, by the machine), /proc (ENOENT).
    Case(
        "out_predict_read_only_folder",
        [*PREDICT, "-o", "/sys/p.csv"],
        BASE,
        golden=False,
        contains=("error: cannot write /sys/p.csv: ",),
    ),
    Case("out_train_out_under_a_file", [*TRAIN, "--out", "m.stack/run"], BASE),
    Case("out_train_out_is_a_file", [*TRAIN, "--out", "d.csv"], BASE),
    Case("out_train_out_in_proc", [*TRAIN, "--out", "/proc/run"], BASE),
    Case("out_train_out_empty_name", [*TRAIN, "--out", ""], BASE),
    # 13. A file name that is not UTF-8 (byte 0xff): the run completes, curves.png included.
    Case(
        "out_train_non_utf8_spec_name",
        ["train", os.fsdecode(b"\xff.stack"), "--data", "d.csv", "--target", "y"],
        {"d.csv": CSV},
        exit=0,
        golden=False,
        contains=("wrote runs/\\udcff/",),
        setup=_non_utf8_spec,
        creates=("runs",),
        check=_non_utf8_run,
    ),
    # 14. Temp files of a killed run (a dead pid) are swept by the next write beside them.
    Case(
        "out_compile_sweeps_stale_temp_files",
        ["compile", "m.stack", "-o", "ir.json"],
        {"m.stack": SPEC},
        exit=0,
        setup=_stale_temp_files,
        changes=(
            f".ir.json.stackspec-{DEAD_PID}-abc123.tmp",
            f".run.stackspec-{DEAD_PID}-x_y.tmp",
            f".run.stackspec-{DEAD_PID}-x_y.tmp/weights.safetensors",
        ),
        creates=("ir.json",),
    ),
    # Good: the legitimate uses still work.
    Case(
        "out_good_predict_to_a_new_file",
        [*PREDICT, "-o", "p.csv"],
        BASE,
        exit=0,
        creates=("p.csv",),
        check=_predictions,
    ),
    Case(
        "out_good_train_into_a_finished_run",
        [*TRAIN, "--out", "run"],
        {**BASE, **{f"run/{f}": "old" for f in RUN_FILES}},
        exit=0,
        golden=False,
        contains=("wrote run/",),
        changes=tuple(f"run/{f}" for f in RUN_FILES),
        check=_run_folder_updated,
    ),
    Case(
        "out_good_train_into_new_nested_folders",
        [*TRAIN, "--out", "a/b/run"],
        BASE,
        exit=0,
        golden=False,
        contains=("wrote a/b/run/",),
        creates=("a",),
    ),
]
