"""The package's layout (issue 8): imports point down the pipeline, no cycles, small modules.

Stages, lowest first: the spine (diagnostics, limits, numerics, files, inputs, interrupts,
records, version), grammar/, layers/ (the registry), compiler/, training/ (the Model API the
backends subclass), backends/, the public API (stackspec, spec.py), the command line. A module
imports its own stage or lower ones, in function bodies too; imports under `if TYPE_CHECKING:`
are for annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "stackspec"
STAGES = {
    "grammar": 1,
    "layers": 2,
    "compiler": 3,
    "training": 4,
    "backends": 5,
    "diagram": 5,
    "spec": 6,
    "": 6,  # stackspec/__init__.py
    "cli": 7,
    "cli_options": 7,
    "cli_exits": 7,
    "cli_data": 7,
    "cli_evaluate": 7,
    "cli_model": 7,
    "cli_predict": 7,
    "cli_onnx": 7,
    "cli_train": 7,
    "cli_resume": 7,
    "cli_distributed": 7,
    "cli_draw": 7,
    "cli_keras": 7,
    "cli_lsp": 7,
    "lsp": 7,  # the language server: reads the compiler, used by cli_lsp
    "cli_compare": 7,
    "cli_tune": 7,
    "cli_sweep": 7,
    "__main__": 7,
}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def stage(module: str) -> int:
    first = module.split(".")[1] if "." in module else ""
    return STAGES.get(first, 0)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def imports(module: str) -> set[str]:
    """The stackspec modules that `module` imports, anywhere in its body."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            named = {f"{target}.{a.name}" for a in node.names} & set(MODULES)
            out |= named or ({target} & set(MODULES))
    return out - {module}


GRAPH = {m: imports(m) for m in MODULES}


def test_imports_point_down_the_pipeline():
    upward = [
        f"{m} ({stage(m)}) imports {t} ({stage(t)})"
        for m, targets in GRAPH.items()
        for t in targets
        if stage(t) > stage(m)
    ]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles():
    # A package importing its own submodules is how packages work; any other loop is a cycle.
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(GRAPH[m]):
            if t.startswith(m + "."):
                continue
            if state.get(t) == 1:
                cycles.append(trail[trail.index(t) :] + [t])
            elif t not in state:
                visit(t, [*trail, t])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_modules_stay_small():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    big.pop("stackspec.grammar._tables", None)  # generated
    big.pop("stackspec._records_code", None)  # generated
    assert not big, big
