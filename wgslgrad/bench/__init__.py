"""Benchmarks: wgslgrad against peers (PyTorch, TF.js in Node) running the same IR graph.

The peers are test/bench-only: `torch_peer` imports torch and `tfjs_peer` needs Node.js with
@tensorflow/tfjs installed, so nothing here is imported by wgslgrad's compiler or runtime.
"""
