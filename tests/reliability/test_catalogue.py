"""Runs every case of the reliability catalogue (see catalogue.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from .catalogue import run_case, same_output

MODULES = sorted(p.stem for p in Path(__file__).parent.glob("cases_*.py"))
CASES = [
    case for name in MODULES for case in importlib.import_module(f"{__package__}.{name}").CASES
]


def test_names_are_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_golden_file_has_a_case():
    names = {c.name for c in CASES if c.golden}
    stale = [
        p.name for p in (Path(__file__).parent / "golden").glob("*.txt") if p.stem not in names
    ]
    assert not stale, f"golden files without a case: {stale}"


def test_golden_numbers_may_differ_in_float32s_last_bits_only():
    golden = "exit 0\nprediction\n-0.823567569\n-4455.74219\n1e-05\n"
    assert same_output(golden, golden)
    assert same_output(golden.replace("-0.823567569", "-0.82356751"), golden)  # 0.6 ulp
    assert same_output(golden.replace("1e-05", "1.00000008e-05"), golden)
    assert not same_output(golden.replace("-0.823567569", "-0.82356"), golden)
    assert not same_output(golden.replace("-4455.74219", "4455.74219"), golden)
    assert not same_output(golden.replace("exit 0", "exit 1"), golden)
    assert not same_output(golden.replace("prediction", "predictions"), golden)
    assert not same_output(golden + "0.5\n", golden)
    size = "exit 1\nthe file exceeds 268435456 bytes\n"  # integers stay exact, however large
    assert not same_output(size.replace("268435456", "268435457"), size)
    assert same_output(golden.replace("-4455.74219", "-4455.7417"), golden)  # 1 ulp, 6 digits
    assert same_output(
        golden.replace("-4455.74219", "-3"), golden.replace("-4455.74219", "-2.99999976")
    )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    run_case(case, tmp_path)
