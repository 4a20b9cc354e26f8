"""What lowering a graph will generate, estimated before any of it is done (docs/dsl.md, "Limits"), and the
texts of sizes in limit messages. The builder checks sizes and work as it goes (values.py holds the limits);
this module checks the finished graph."""
from __future__ import annotations

import argparse
import operator
import re

from ..ops.base import bytes_text
from .errors import SpecError
from .ir import DEFAULT_BINDING, MAX_BINDING, Graph, Op, Pos, Shape, needed_nodes
from .values import MAX_PHASES, MAX_WGSL_BYTES, WGSL_PER_KERNEL, WGSL_PER_PHASE

_NO_KERNEL = (Op.INPUT, Op.PARAM, Op.CONST, Op.RESHAPE)


def generated_size(g: Graph, pos: Pos) -> list[SpecError]:
    """Errors (at `pos`, or at a conv2d) where the WGSL of the forward pass and, with a loss, the training step
    would exceed MAX_WGSL_BYTES: about WGSL_PER_KERNEL bytes per kernel (one per computed node, one per 6 sources
    of a concat or stack, a slice per concat or stack source or two per other node's gradient) and WGSL_PER_PHASE per stride phase
    of a trained conv2d's input gradient (min(stride, size) per axis, ops/linear_kernels.conv_dx_phases;
    each conv2d also at most MAX_PHASES). Only the nodes the outputs and loss need count: lowering drops the rest."""
    needed = needed_nodes(g, [*g.outputs.values(), *([] if g.loss is None else [g.loss])])
    kernels = sum(-(-len(n.srcs) // 6) if n.op in (Op.CONCAT, Op.STACK) else 1 for n in (g.nodes[i] for i in needed)
                  if n.op not in _NO_KERNEL)
    errors: list[SpecError] = []
    phases = 0
    if g.loss is not None:
        backward, phases = _training_kernels(g, errors)
        kernels += backward
    size = kernels * WGSL_PER_KERNEL + phases * WGSL_PER_PHASE
    if size > MAX_WGSL_BYTES:
        errors.append(SpecError(pos, f"the generated program would be about {bytes_text(size)} of WGSL "
                                     f"({kernels:,} kernels), more than {bytes_text(MAX_WGSL_BYTES)}: use fewer "
                                     "layers or concat fewer tensors"))
    return errors


def _training_kernels(g: Graph, errors: list[SpecError]) -> tuple[int, int]:
    """(gradient kernels, stride phases) of a training step; a conv2d over MAX_PHASES phases adds an error."""
    kernels, phases = 0, 0
    from_param: list[bool] = []   # the node depends on a trainable parameter: autodiff differentiates it
    for n in g.nodes:
        from_param.append((n.op is Op.PARAM and n.attrs.trainable)
                          or any(from_param[s] for s in n.srcs))
    for i in sorted(needed_nodes(g, [g.loss])):  # type: ignore[list-item]
        n = g.nodes[i]
        if not from_param[i] or n.op in (Op.PARAM, Op.RESHAPE):
            continue
        kernels += len(n.srcs) if n.op in (Op.CONCAT, Op.STACK) else 2
        if n.op is Op.CONV2D and from_param[n.srcs[0]] and n.pos is not None:
            (sh, sw), x = n.attrs.stride, g.nodes[n.srcs[0]].shape
            count = min(sh, x[1]) * min(sw, x[2])
            phases += count
            if count > MAX_PHASES:
                errors.append(SpecError(n.pos, f"training through this conv2d (stride ({sh}, {sw}) on "
                                               f"{shape_text(x)}) needs {count:,} stride phases, more than "
                                               f"{MAX_PHASES}: use strides of at most 16"))
    return kernels, phases


def shape_text(shape: Shape) -> str:
    """A shape for a message, its sizes shortened when absurdly long (Input(10**200))."""
    return "[" + ",".join(str(d) if d < 10**12 else f"10^{len(str(d)) - 1}" for d in shape) + "]"


def binding_advice(needed: int) -> str:
    """The end of a "more than one GPU buffer binds" message: how to compile for devices that bind `needed`
    bytes, when some may (at most MAX_BINDING); else nothing. The size it names is whole MiB, rounded up, so
    that it can be typed as it is (bytes_text's 128.1 MiB would be a fraction of a byte, and too little)."""
    if needed > MAX_BINDING:
        return ""
    mib = -(-needed // 2**20)
    return (f", or compile for devices that bind {bytes_text(needed)} or more (--max-binding {mib}MiB; "
            f"max_binding={mib} * 2**20 in Python)")


_UNITS = {"": 1, "b": 1, "kib": 2**10, "kb": 10**3, "mib": 2**20, "mb": 10**6, "gib": 2**30, "gb": 10**9}


def parse_bytes(text: str) -> int:
    """A byte count from text: 268435456, 256MiB, 1GiB, 1.5 GiB, 500MB (KiB/MiB/GiB binary, KB/MB/GB decimal);
    ValueError for anything else or a fraction of a byte."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*", text)
    unit = m and _UNITS.get(m.group(2).lower())
    if not m or unit is None:
        raise ValueError(f"not a size: {text!r} (e.g. 256MiB, 1GiB or a number of bytes)")
    n = float(m.group(1)) * unit
    if n > 2**62:
        raise ValueError(f"not a whole number of bytes: {text!r}")
    if n != int(n):
        whole = f" (e.g. {int(n) // 2**20}MiB)" if n >= 2**20 else ""
        raise ValueError(f"not a whole number of bytes: {text!r} is {n:,.1f} bytes; give whole MiB{whole} or bytes")
    return int(n)


def check_binding(max_binding: int | None) -> int:
    """`max_binding` (bytes, None for the default) if it is a whole number of 16-byte blocks from 128 MiB (every
    WebGPU device binds that much) to MAX_BINDING; else ValueError saying so."""
    if max_binding is None:
        return DEFAULT_BINDING
    try:   # any integer, NumPy's too (nbytes, np.prod), but not True
        n = None if isinstance(max_binding, bool) else operator.index(max_binding)
    except TypeError:
        n = None
    if n is None or not DEFAULT_BINDING <= n <= MAX_BINDING or n % 16:
        hint = " (a number: 1 GiB is 2**30)" if isinstance(max_binding, str) else ""
        raise ValueError(f"max_binding must be {_BINDINGS}, not {max_binding!r}{hint}")
    return n


_BINDINGS = "a number of bytes from 128 MiB (134217728) to 2 GiB (2147483648), a multiple of 16"


def binding_argument(text: str) -> int:
    """The --max-binding option's type: a size (parse_bytes) that check_binding accepts."""
    try:
        n = parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    try:
        return check_binding(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is {n:,} bytes: give {_BINDINGS}") from None
