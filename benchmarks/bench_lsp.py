"""Latency of `stackspec lsp` (issue 14), over stdio as an editor sees it.

One server process; for specs/red_wine.stack and the generated 10,000-layer spec of
bench_parse.py it measures, as medians of several runs:

- diagnostics: from a change sent to its diagnostics received (includes the 150 ms debounce
  and the compile of the new version);
- inlay hints for the first 100 lines and for the whole file, completion at a statement's start
  and after a layer name, hover on a layer, document symbols: each a request's round trip,
  answered from the compile of the current version.

Goal: every request on the 10,000-layer spec under 300 ms.

    python benchmarks/bench_lsp.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bench_parse import generate  # noqa: E402
from lsp_client import ROOT, Session  # noqa: E402
from lsprotocol import types as t  # noqa: E402


def _ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(lsp: Session, name: str, text: str, runs: int) -> dict[str, float]:
    uri = f"file:///bench/{name}.stack"
    doc = t.TextDocumentIdentifier(uri)
    lines = text.split("\n")
    version = [1]
    lsp.open(uri, text)
    lsp.wait_diagnostics(uri, 1, timeout=120)

    def change() -> None:
        # Retype the last layer's line: a real edit, compiled from scratch.
        version[0] += 1
        last = max(i for i, line in enumerate(lines) if line.startswith("dense"))
        rng = t.Range(t.Position(last, 0), t.Position(last, len(lines[last])))
        lsp.change(uri, version[0], lines[last], rng)
        lsp.wait_diagnostics(uri, version[0], timeout=120)

    def request(method: str, params):
        return lambda: lsp.request(method, params)

    row = max(i for i, line in enumerate(lines) if line.startswith("dense"))
    hover_at = t.Position(row, 2)
    out = {"diagnostics after a change": _ms(change, runs)}
    out["inlay hints, 100 lines"] = _ms(
        request("text_document_inlay_hint", t.InlayHintParams(doc, _lines(0, 100))), runs
    )
    out["inlay hints, whole file"] = _ms(
        request("text_document_inlay_hint", t.InlayHintParams(doc, _lines(0, len(lines)))), runs
    )
    start = t.CompletionParams(doc, t.Position(row, 1))
    after = t.CompletionParams(doc, t.Position(row, len("dense ")))
    out["completion, statement start"] = _ms(request("text_document_completion", start), runs)
    out["completion, after `dense `"] = _ms(request("text_document_completion", after), runs)
    out["hover on a layer"] = _ms(
        request("text_document_hover", t.HoverParams(doc, hover_at)), runs
    )
    out["document symbols"] = _ms(
        request("text_document_document_symbol", t.DocumentSymbolParams(doc)), runs
    )
    return out


def server_side(text: str, runs: int) -> float:
    """The whole file's inlay hints as the server computes and serializes them, in-process:
    the round trip above adds the transfer and the client's own decoding of 10,000 hints."""
    import json

    from pygls.protocol import default_converter

    from stackspec.grammar.parser import paused_gc
    from stackspec.lsp.analysis import analyze
    from stackspec.lsp.hints import inlay_hints, precompute

    a, lines, converter = analyze(text, 1), text.split("\n"), default_converter()
    precompute(a)  # as the server does after each compile

    def answer() -> None:
        with paused_gc():
            hints = inlay_hints(a, 0, len(lines), lines, "utf-16")
        json.dumps(converter.unstructure(hints))

    return _ms(answer, runs)


def _lines(a: int, b: int) -> t.Range:
    return t.Range(t.Position(a, 0), t.Position(b, 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    specs = {
        "red_wine.stack": (ROOT / "specs/red_wine.stack").read_text(),
        "10,000 layers": generate(10_000),
    }
    lsp = Session()
    try:
        results = {
            name: measure(lsp, name.replace(",", ""), text, args.runs)
            for name, text in specs.items()
        }
    finally:
        lsp.stop()
    for name, text in specs.items():
        results[name]["inlay hints, whole file, server"] = server_side(text, args.runs)
    names = list(specs)
    print(f"{'ms (median of ' + str(args.runs) + ')':<32}" + "".join(f"{n:>16}" for n in names))
    for what in results[names[0]]:
        print(f"{what:<32}" + "".join(f"{results[n][what]:>16.1f}" for n in names))


if __name__ == "__main__":
    main()
