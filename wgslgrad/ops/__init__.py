"""The op registry: each op declared once, with everything about it beside it.

One module per family. `base.py` declares what a family op is (OpDef: its builtin, typed attributes, shape
rule, float64 reference, gradient rule, lowering, FLOPs and both peers' way of running it) and the helpers
families share; `registry.py` gathers the families' OpDefs by name: so far `linear.py` (conv2d, depthwise,
dense and their gradients, the conv2d, depthwise_conv2d, separable_conv2d and dense layers; their lowerings
in `linear_kernels.py`), `pooling.py` (max_pool, avg_pool,
global_avg_pool and their gradients), `losses.py` (mse, softmax and sigmoid cross-entropy and their
gradients), `reductions.py` (sum, mean, sum_axes, softmax, and reduce_to, broadcast, softmax_grad),
`dropout.py` (dropout and its counter-based random bits), `batch_norm.py` (bn_stats, batch_norm and their
gradients bn_dgamma, bn_dx; Keras' names and defaults), `optimizer.py` (adam, the fused update of the trainable parameters, with the `step` uniform's layout)
and `shape.py` (concat, slice, stack, reshape, a view, and the gradients slice_last, slice_grad);
`kernels.py` holds lowerings ops of several families share (the one- or two-stage sum, the row-wise softmax
gradient, elementwise broadcast axes); `sequence.py` holds embedding, the LSTM and GRU cells and their
gradients.
`elementwise.py` holds the elementwise ops, one row each: the DSL builtin and its
typed attributes, the WGSL expression of the forward op and of its gradient, the float64 NumPy reference
and its derivative, the FLOPs per element, and how the PyTorch and TF.js peers run it. The rows are plain
data (they import nothing from the compiler), so the IR's `Op` enum takes its elementwise members from them,
and every pass reads its facet from the row: the builder (builtins.py), autodiff, the NumPy interpreter,
gradcheck, the lowering (`expr`, `lower_unary`, `lower_binary` here; also inside a fused epilogue), the model
summary and both peers. A unary row's gradient is one backward op for every row, `unary_grad`, an OpDef here.

Adding an elementwise op is adding its row here, its line in docs/dsl.md and its tests; the tests that
sweep the rows (kernels on the GPU, finite differences, both peers) pick it up by themselves, and
tests/test_ops.py checks that every row has every facet and is exercised by them. docs/ops.md walks
through declaring an op (a row, an OpDef, a backward op) with gelu as the example.

This package is at the bottom of the import layers (tests/test_imports.py): its modules import nothing
from the rest of wgslgrad.
"""
