"""Metrics beside the loss: accuracy where the labels are one-hot (or 0/1 for a sigmoid loss), mean absolute
error for a regression loss. Each is a per-batch mean, so a data set's value is the sample-weighted mean.
"""
from __future__ import annotations

import numpy as np

from ..compiler.ir import Graph, Op


def loss_pair(graph: Graph) -> tuple[Op, str, str] | None:
    """(loss op, output name, input name) when the loss compares an Output with an Input, else None."""
    if graph.loss is None:
        return None
    node = graph.nodes[graph.loss]
    if node.op not in (Op.SOFTMAX_CE, Op.SIGMOID_CE, Op.MSE) or len(node.srcs) != 2:
        return None
    pred_id, target_id = node.srcs
    out = next((k for k, i in graph.outputs.items() if i == pred_id), None)
    lab = next((k for k, i in graph.inputs.items() if i == target_id), None)
    return (node.op, out, lab) if out is not None and lab is not None else None


def metric_kind(graph: Graph, data: dict[str, np.ndarray]) -> str | None:
    """"accuracy", "mae" or None for this graph's loss and these labels (all of them, looked at once)."""
    pair = loss_pair(graph)
    if pair is None or pair[2] not in data:
        return None
    op, _, lab = pair
    labels = np.asarray(data[lab])
    zero_one = bool(np.all((labels == 0) | (labels == 1)))
    if op is Op.SOFTMAX_CE and zero_one and np.all(labels.sum(-1) == 1):
        return "accuracy"
    if op is Op.SIGMOID_CE and zero_one:
        return "accuracy"
    if op is Op.MSE:
        return "mae"
    return None


def batch_metric(graph: Graph, kind: str | None, outputs: dict[str, np.ndarray],
                 inputs: dict[str, np.ndarray]) -> float | None:
    """The mean of `kind` over one batch (outputs and inputs already trimmed to the real samples)."""
    pair = loss_pair(graph)
    if kind is None or pair is None:
        return None
    op, out, lab = pair
    pred, target = outputs[out], inputs[lab]
    if kind == "mae":
        return float(np.mean(np.abs(pred - target)))
    if op is Op.SIGMOID_CE:
        return float(np.mean((pred > 0) == (target > 0.5)))
    return float(np.mean(np.argmax(pred, -1) == np.argmax(target, -1)))
