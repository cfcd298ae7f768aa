"""How inputs are read (issue 7, defects 3, 15 and 16): special files, folders, bad paths,
stdin as `-`, --valid-split nan, and non-UTF-8 files reported at line:column.

Tests run as root, and root reads a file whatever its mode, so "unreadable" is made with a path
under a regular file (`file.txt/x`, ENOTDIR), which no user can read. A pipe with a running
writer (`<(cat x)`) is tested in-process in tests/test_inputs.py with os.pipe."""

from __future__ import annotations

import os
from pathlib import Path

from .catalogue import CSV, SPEC, Case, weights_bytes

W = weights_bytes()
FILES = {"m.stack": SPEC, "d.csv": CSV, "w.safetensors": W}


def evaluate(spec="m.stack", weights="w.safetensors", data="d.csv") -> list[str]:
    return ["evaluate", spec, "--weights", weights, "--data", data, "--target", "y"]


def fifo(name: str):
    def setup(tmp: Path) -> None:
        os.mkfifo(tmp / name)

    return setup


def folder(name: str):
    def setup(tmp: Path) -> None:
        (tmp / name).mkdir()

    return setup


# Each input in each role: the spec (E001), the data (E501), the weights (E601).
ROLES = {
    "spec": lambda p: evaluate(spec=p),
    "data": lambda p: evaluate(data=p),
    "weights": lambda p: evaluate(weights=p),
}

CASES = [
    # --- defect 3: a FIFO without a writer is "empty", never a hang; devices are refused unread
    *[
        Case(f"inp_fifo_{role}", args("fifo"), FILES, setup=fifo("fifo"))
        for role, args in ROLES.items()
    ],
    *[
        Case(f"inp_{dev}_{role}", args(f"/dev/{dev}"), FILES)
        for dev in ("zero", "urandom")
        for role, args in ROLES.items()
    ],
    Case(
        "inp_link_to_dev_zero",  # symlinks are followed: the target is what counts
        ["check", "link.stack"],
        setup=lambda tmp: (tmp / "link.stack").symlink_to("/dev/zero"),
    ),
    Case("inp_stdin_spec_too_large", ["check", "-"], stdin=b"#" * (2 << 20)),
    Case(
        "inp_stdin_weights_longer_than_header",
        evaluate(weights="-"),
        FILES,
        stdin=W + b"\0" * 100_000,
    ),
    Case("inp_two_stdin_inputs", evaluate(spec="-", data="-"), FILES, exit=2, stdin=CSV.encode()),
    # --- defect 15: folders and unreadable paths are the library's errors (exit 1), not click's
    *[
        Case(f"inp_folder_{role}", args("dir"), FILES, setup=folder("dir"))
        for role, args in ROLES.items()
    ],
    *[Case(f"inp_not_a_folder_{role}", args("d.csv/x"), FILES) for role, args in ROLES.items()],
    Case(
        "inp_folder_valid",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--valid", "dir"],
        FILES,
        setup=folder("dir"),
    ),
    Case(
        "inp_valid_split_nan",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--valid-split", "nan"],
        FILES,
        exit=2,
    ),
    Case(
        "inp_valid_split_inf",
        ["train", "m.stack", "--data", "d.csv", "--target", "y", "--valid-split", "inf"],
        FILES,
        exit=2,
    ),
    # --- defect 16: a byte that is not UTF-8 at line:column, with a caret
    Case(
        "inp_spec_latin1", ["check", "m.stack"], {"m.stack": "input 3\n# café\n".encode("latin-1")}
    ),
    Case(
        "inp_spec_latin1_stdin",
        ["check", "-"],
        stdin=b"\xef\xbb\xbfinput 3\r\ndense 1 # na\xc3\xafve \xef\r\n",  # BOM, CRLF, ï
    ),
    Case(
        "inp_csv_latin1",
        evaluate(),
        {**FILES, "d.csv": CSV.replace("3,0,-3", "3,0,\xe9-3").encode("latin-1")},
    ),
    # --- good cases: stdin for the spec and for --data, weights from stdin
    Case("inp_good_spec_stdin", ["check", "-"], exit=0, stdin=SPEC.encode()),
    Case("inp_good_data_stdin", evaluate(data="-"), FILES, exit=0, stdin=CSV.encode()),
    Case(
        "inp_good_predict_data_stdin",
        ["predict", "m.stack", "--weights", "w.safetensors", "--data", "-", "--target", "y"],
        FILES,
        exit=0,
        stdin=CSV.encode(),
    ),
    Case("inp_good_weights_stdin", evaluate(weights="-"), FILES, exit=0, stdin=W),
    Case(
        "inp_good_train_spec_stdin",
        ["train", "-", "--data", "d.csv", "--target", "y", "--out", "run"],
        {"d.csv": CSV},
        exit=0,
        golden=False,
        contains=("wrote run/",),
        creates=("run",),
        stdin=SPEC.encode(),
    ),
]
