"""`stackspec lsp`: the language server (issue 14), on pygls (the `lsp` extra).

The compiler does all the work: every change is compiled once (analysis.py, the same
`compile_source` as `stackspec check`), and each request reads that result. server.py wires the
protocol; the other modules are plain functions from an Analysis to lsprotocol values. Only
server.py and the feature modules import pygls/lsprotocol; analysis.py, index.py and positions.py
need neither.
"""
