"""Runs every case of the reliability catalogue (see catalogue.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from .catalogue import run_case

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


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, tmp_path):
    run_case(case, tmp_path)
