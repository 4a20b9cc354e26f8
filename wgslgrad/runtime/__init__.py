"""Running Programs: the wgpu device, Sessions, parameter initialisation and the training loop.

Nothing here imports wgpu at package import time, so the CPU-only pieces (init, data, checkpoints)
work on machines without a GPU stack.
"""
