"""Syntax tree to validated IR: let/block/repeat resolution, --set overrides, shapes, train
settings, the activation-memory estimate, the IR itself, summaries and the formatter. Reads the
grammar and the layer registry; never a backend."""
