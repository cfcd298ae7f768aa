"""torch is optional: without it stackspec and the NumPy backend work, `--backend torch` says how
to install it (exit 1), and `check`/`fmt` never import torch even where it is installed.

Each case runs in a subprocess; "without torch" installs a meta path finder that refuses every
`torch` import, as an environment without torch would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import DATA, SPECS

BLOCK_TORCH = textwrap.dedent(
    """
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    """
)


def python(code: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_library_and_numpy_backend_work_without_torch():
    code = BLOCK_TORCH + textwrap.dedent(
        f"""
        import numpy as np
        import stackspec
        from stackspec.diagnostics import UserError

        spec = stackspec.load({str(SPECS / "residual_mlp.stack")!r})
        model = spec.compile("numpy")
        out = model.predict(np.zeros((3, 11), np.float32))
        assert out.shape == (3, 1), out.shape
        try:
            spec.compile("torch")
        except UserError as e:
            print("message:", e)
        else:
            raise SystemExit("compiled for torch without torch")
        assert "torch" not in sys.modules
        """
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert "pip install" in done.stdout and "--backend numpy" in done.stdout


def test_train_with_backend_torch_says_how_to_install_it(tmp_path):
    argv = [
        "stackspec",
        "train",
        str(SPECS / "red_wine.stack"),
        "--data",
        str(DATA),
        "--target",
        "quality",
        "--backend",
        "torch",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "out"),
    ]
    code = BLOCK_TORCH + f"sys.argv = {argv!r}\nfrom stackspec.cli import run\nrun()\n"
    done = python(code)
    assert done.returncode == 1, done.stderr
    assert "pip install" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "weights.safetensors").exists()


def run_in_process(args: list[str], cwd) -> dict:
    """Run the CLI in this interpreter (runpy), then report the exit code and what got imported."""
    code = textwrap.dedent(
        f"""
        import json, runpy, sys
        sys.argv = ["stackspec", *{args!r}]
        try:
            runpy.run_module("stackspec", run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code
        heavy = sorted(m for m in ("torch", "numpy", "safetensors") if m in sys.modules)
        print(json.dumps({{"code": code, "imported": heavy}}))
        """
    )
    done = python(code, cwd)
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_and_fmt_do_not_import_torch(tmp_path):
    spec = tmp_path / "m.stack"
    spec.write_text((SPECS / "tiny_resnet.stack").read_text())
    for args in (["check", str(spec)], ["fmt", "--check", str(spec)], ["fmt", str(spec)]):
        result = run_in_process(args, tmp_path)
        assert result["code"] in (0, None), (args, result)
        assert "torch" not in result["imported"], (args, result)


def test_torch_source_is_emitted_without_torch(tmp_path):
    out = tmp_path / "model.py"
    argv = ["stackspec", "compile", str(SPECS / "tiny_resnet.stack"), "--backend", "torch"]
    argv += ["--emit", "python", "-o", str(out)]
    code = BLOCK_TORCH + f"sys.argv = {argv!r}\nfrom stackspec.cli import run\nrun()\n"
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert "class Model(nn.Module)" in out.read_text()


def test_tensorboard_event_files_without_torch(tmp_path):
    """tensorboardX uses torch when it is installed, never needs it: --tensorboard works on the
    NumPy backend without torch."""
    import pytest

    pytest.importorskip("tensorboardX")
    spec = tmp_path / "m.stack"
    spec.write_text("input 11\ndense 1\ntrain {\n  epochs 1\n  batch 512\n}\n")
    argv = ["stackspec", "train", str(spec), "--data", str(DATA), "--target", "quality"]
    argv += ["--out", str(tmp_path / "run"), "--tensorboard"]
    code = BLOCK_TORCH + textwrap.dedent(
        f"""
        sys.argv = {argv!r}
        from stackspec.cli import main
        try:
            main()
        except SystemExit as e:
            assert not e.code, e.code
        assert "torch" not in sys.modules
        """
    )
    r = python(code)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
