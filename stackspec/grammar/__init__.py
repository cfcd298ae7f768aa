"""The syntax: grammar.lark, its LALR tables, the parser into a frozen syntax tree, syntax-error
naming and the formatter."""
