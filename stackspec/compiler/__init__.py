"""Syntax tree to validated IR: let/block/repeat resolution, --set overrides, shapes, train
settings, limits, the IR itself, summaries and the Spec API."""
