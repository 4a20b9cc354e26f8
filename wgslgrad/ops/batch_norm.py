"""Batch normalisation over the last axis (NHWC channels), everything but its kernels (compiler/lower_norm.py)
and its inference form (compiler/inference.py): the float64 references and the gradient rule. Like every
module of this package it imports nothing from the rest of wgslgrad (IR nodes and autodiff's NodeGrad are
typed loosely, ops named). Keras/TF.js names, layouts and defaults:
gamma, beta (trainable), moving_mean, moving_variance (not trainable), momentum 0.99, epsilon 1e-3.

Training (the graph as built): BN_STATS gives the batch mean and biased variance over every axis but the
last, and its kernel moves moving_mean and moving_variance toward them by (1 - momentum), as
tf.layers.batchNormalization does (PyTorch's BatchNorm2d moves running_var toward the unbiased variance
instead); BATCH_NORM normalises with those statistics. Inference (inference.py drops BATCH_NORM's stats
source): the moving statistics, and a batch norm right after a conv2d, depthwise or dense layer joins that
layer's kernel as a per-channel scale and shift (fuse.py), with the weights untouched, so they keep their
TF.js names. A batch_norm with trainable=False is built in the inference form (as Keras runs a frozen one).

Gradient in training, through the batch statistics (N = elements per channel, xhat the normalised x):
    dbeta = sum(dy), dgamma = sum(dy * xhat),
    dx = gamma / sqrt(var + eps) * (dy - (dbeta + xhat * dgamma) / N)
BN_STATS has no rule of its own: the batch norm's rule covers the path through the statistics.
"""
from __future__ import annotations

from typing import Any

import numpy as np

MOMENTUM = 0.99
EPSILON = 1e-3
# parameter leaf name -> initialiser (Keras: gamma ones, beta zeros, moving_mean zeros, moving_variance ones)
INIT = {"gamma": "ones", "beta": "zeros", "moving_mean": "zeros", "moving_variance": "ones"}


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(x.ndim - 1))


def stats(n: Any, x: np.ndarray, moving_mean: np.ndarray, moving_var: np.ndarray) -> np.ndarray:
    """BN_STATS: [mean; biased variance] over all but the last axis."""
    mean = x.mean(axis=_axes(x))
    return np.stack([mean, ((x - mean) ** 2).mean(axis=_axes(x))])


def moving_update(momentum: float, moving: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """A moving statistic after one training step: moving * momentum + batch * (1 - momentum)."""
    return moving * momentum + batch * (1.0 - momentum)


def normalize(n: Any, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, moving_mean: np.ndarray,
              moving_var: np.ndarray, batch_stats: np.ndarray | None = None) -> np.ndarray:
    """BATCH_NORM: batch statistics when given (training), else the moving ones (inference)."""
    mean, var = (moving_mean, moving_var) if batch_stats is None else batch_stats
    return (x - mean) / np.sqrt(var + n.arg["epsilon"]) * gamma + beta


def dgamma(n: Any, x: np.ndarray, batch_stats: np.ndarray, dy: np.ndarray) -> np.ndarray:
    mean, var = batch_stats
    return (dy * (x - mean) / np.sqrt(var + n.arg["epsilon"])).sum(axis=_axes(x))


def dx(n: Any, *srcs: np.ndarray) -> np.ndarray:
    eps = n.arg["epsilon"]
    if len(srcs) == 3:   # inference form: the statistics are constants
        dy, gamma, moving_var = srcs
        return dy * gamma / np.sqrt(moving_var + eps)
    x, (mean, var), dy, gamma, dg, db = srcs
    count = x.size // x.shape[-1]
    inv = 1.0 / np.sqrt(var + eps)
    return gamma * inv * (dy - (db + (x - mean) * inv * dg) / count)


def grad_rule(c: Any) -> list[int | None]:
    """Gradients of x, gamma and beta (the moving statistics and the batch statistics get none). `c` is
    autodiff's NodeGrad (typed loosely: autodiff imports this module)."""
    x, gamma, _, _, moving_var = c.node.srcs[:5]
    eps = {"epsilon": c.node.arg["epsilon"]}
    need_x, need_gamma, need_beta = c.need[:3]
    if len(c.node.srcs) == 5:   # inference form (trainable=False): gamma and beta are frozen with it
        assert not (need_gamma or need_beta), "a batch norm in its inference form has frozen parameters"
        return [c.add("bn_dx", (c.dy, gamma, moving_var), eps) if need_x else None, None, None, None, None]
    batch_stats = c.node.srcs[5]
    db = c.reduce_to(c.dy, 2) if need_x or need_beta else None
    dg = c.add("bn_dgamma", (x, batch_stats, c.dy), eps) if need_x or need_gamma else None
    dx_ = c.add("bn_dx", (x, batch_stats, c.dy, gamma, dg, db), eps) if need_x else None
    return [dx_, dg if need_gamma else None, db if need_beta else None, None, None, None]
