"""The op registry: each op declared once, with everything about it beside it.

One module per family, each a table of OpDefs (`base.py` says what an OpDef is; `registry.py` gathers them);
`elementwise.py` holds the elementwise ops as one row each, with the one OpDef their gradients share.
docs/ops.md is the contributor's guide: the files, typed attributes, a row, an OpDef, a backward op, and
what to test, with gelu, softplus and elu as worked examples.

This package is at the bottom of the import layers (tests/test_imports.py): its modules import nothing
from the rest of wgslgrad, so the IR can take its op names and shape rules from it.
"""
