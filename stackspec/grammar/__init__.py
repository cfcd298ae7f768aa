"""The syntax: grammar.lark, its LALR tables, the parser into a frozen syntax tree, and naming of
syntax errors. Imports only the spine (diagnostics, limits)."""
