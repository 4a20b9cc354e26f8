"""PyTorch peer: any forward IR graph (ops INPUT .. SIGMOID_CE, dropout and batch norm) as a torch.nn.Module, for
benchmarks and tests. Like any nn.Module it trains by default: eval() gives the inference behaviour of dropout
and batch norm.

Tensors keep the IR's logical NHWC layout, so NumPy broadcasting, reshape and concat mean the same as in
the IR. A conv or pool views its NHWC input as NCHW with `permute(0, 3, 1, 2)`, which is exactly a
channels-last NCHW tensor, so PyTorch runs its channels-last kernels with no copy, and permutes the
result back. TensorFlow's asymmetric 'same' pads go through `F.pad` (on NHWC) first.

Parameters are created from TF.js layouts (conv HWIO, depthwise HWC1, dense IO) and stored in PyTorch's
(OIHW, [C*M,1,kh,kw] with groups=C, Linear's [U,F]); `tfjs_params`/`tfjs_grads` convert back.

PyTorch is a test/bench-only dependency: nothing in wgslgrad's compiler or runtime imports this module.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..compiler import training
from ..compiler.ir import BINARY, UNARY, Graph, Node, Op, binary_row, needed_nodes, unary_row
from ..ops.elementwise import Binary, Unary
from ..ops.registry import OPS as FAMILY_OPS

Arrays = Mapping[str, "np.ndarray | Tensor"]

# ---- weight layouts: TF.js <-> PyTorch ----

def to_torch_layout(layout: str, w: Tensor) -> Tensor:
    """A TF.js-layout weight in PyTorch's layout: 'conv' HWIO->OIHW, 'depthwise' HWCM->[C*M,1,kh,kw],
    'dense' IO->OI; any other layout is returned unchanged."""
    if layout == "conv":
        return w.permute(3, 2, 0, 1)
    if layout == "depthwise":
        kh, kw, c, m = w.shape
        return w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)   # output channel c*M + m, as in TF
    if layout == "dense":
        return w.t()
    return w


def to_tfjs_layout(layout: str, w: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The inverse of `to_torch_layout`; `shape` is the TF.js shape."""
    if layout == "conv":
        return w.permute(2, 3, 1, 0)
    if layout == "depthwise":
        kh, kw, c, m = shape
        return w.reshape(c, m, kh, kw).permute(2, 3, 0, 1)
    if layout == "dense":
        return w.t()
    return w


# the ops whose weights (source 1) the module stores in PyTorch's layout (OpDef.torch_layout: conv2d, depthwise,
# dense), and that layout
_WEIGHT_LAYOUT = {Op[name.upper()]: d.torch_layout for name, d in FAMILY_OPS.items() if d.torch_layout}


def param_layouts(graph: Graph) -> dict[int, str]:
    """PARAM node id -> the layout it is stored in: the one its weight uses need, 'tf' if none or several."""
    uses: dict[int, set[str]] = {}
    for n in graph.nodes:
        if n.op in _WEIGHT_LAYOUT:
            uses.setdefault(n.srcs[1], set()).add(_WEIGHT_LAYOUT[n.op])
    out = {}
    for i in graph.params.values():
        kinds = uses.get(i, set())
        out[i] = next(iter(kinds)) if len(kinds) == 1 else "tf"
    return out


def _symmetric(pad: tuple[int, int, int, int], size: tuple[int, int]) -> bool:
    """Whether torch's own (symmetric, at most half the window) padding can express `pad`."""
    t, b, l, r = pad
    return t == b and l == r and t <= size[0] // 2 and l <= size[1] // 2


def _nchw(x: Tensor) -> Tensor:
    return x.permute(0, 3, 1, 2)


def _nhwc(x: Tensor) -> Tensor:
    return x.permute(0, 2, 3, 1)


def _pad_nhwc(x: Tensor, pad: tuple[int, int, int, int], value: float = 0.0) -> Tensor:
    t, b, l, r = pad
    return F.pad(x, (0, 0, l, r, t, b), value=value)


# what the op families' torch hooks use (ops/base.py's OpDef.torch)
_HELPERS = SimpleNamespace(torch=torch, F=F, nchw=_nchw, nhwc=_nhwc, pad_nhwc=_pad_nhwc, symmetric=_symmetric)


# ---- the module ----

class TorchModel(nn.Module):
    """The forward graph of a wgslgrad IR Graph in PyTorch.

    `forward(inputs)` takes NHWC tensors by input name and returns (outputs by name, loss or None).
    """

    def __init__(self, graph: Graph, params: Mapping[str, np.ndarray], dtype: torch.dtype = torch.float32):
        super().__init__()
        self.graph = graph
        self.layouts = param_layouts(graph)
        self.names = {i: k for k, i in graph.params.items()}
        self.weights = nn.ParameterDict()
        for name, i in graph.params.items():
            n = graph.nodes[i]
            w = torch.as_tensor(np.asarray(params[name]), dtype=dtype)
            assert tuple(w.shape) == n.shape, f"parameter {name}: shape {tuple(w.shape)}, expected {n.shape}"
            w = to_torch_layout(self.layouts[i], w).contiguous()
            if w.dim() == 4:
                w = w.contiguous(memory_format=torch.channels_last)
            self.weights[name] = nn.Parameter(w, requires_grad=n.attrs.trainable)
        self.consts = nn.ParameterDict()   # frozen: moved and cast with the module, never trained
        for i, n in enumerate(graph.nodes):
            v = None
            if n.op is Op.CONST:
                v = np.asarray(n.attrs.value, np.float64)
                v = np.full(n.shape, v.item()) if v.size == 1 else v.reshape(n.shape)
            elif (d := FAMILY_OPS.get(n.op.name.lower())) is not None and d.torch_const is not None:
                v = d.torch_const(n.attrs, [graph.nodes[k].shape for k in n.srcs], n.shape)   # avg_pool
            if v is not None:
                self.consts[str(i)] = nn.Parameter(torch.as_tensor(np.array(v), dtype=dtype), requires_grad=False)
        self.seed, self.step = 0, 0   # dropout's masks (ops/dropout.py): step 0 as numpy_ref's default
        outs = list(graph.outputs.values())
        self.plan_infer = sorted(needed_nodes(graph, outs))
        self.plan_train = sorted(needed_nodes(graph, outs + ([graph.loss] if graph.loss is not None else [])))

    def forward(self, inputs: Mapping[str, Tensor], with_loss: bool = True
                ) -> tuple[dict[str, Tensor], Tensor | None]:
        g = self.graph
        in_names = {i: k for k, i in g.inputs.items()}
        with_loss = with_loss and g.loss is not None
        vals: dict[int, Tensor] = {}
        for i in self.plan_train if with_loss else self.plan_infer:
            n = g.nodes[i]
            if n.op is Op.INPUT:
                vals[i] = inputs[in_names.get(i, n.attrs.name)]
            elif n.op is Op.PARAM:
                vals[i] = self.weights[self.names[i]]
            elif n.op is Op.CONST:
                vals[i] = self.consts[str(i)]
            else:
                vals[i] = self._eval(i, n, [vals[s] for s in n.srcs])
        outputs = {name: vals[i] for name, i in g.outputs.items()}
        return outputs, (vals[g.loss] if with_loss and g.loss is not None else None)

    def _weight(self, node: Node, w: Tensor) -> Tensor:
        """src 1 of a conv/dense in PyTorch's layout (already so when it is a parameter stored that way)."""
        layout = _WEIGHT_LAYOUT[node.op]
        return w if self.layouts.get(node.srcs[1]) == layout else to_torch_layout(layout, w)

    def _eval(self, i: int, n: Node, xs: list[Tensor]) -> Tensor:
        op = n.op
        family = FAMILY_OPS.get(op.name.lower())
        if family is not None and family.torch is not None:   # ops/registry.py's families
            if family.torch_layout:   # conv2d, depthwise, dense: their weights in PyTorch's layout
                xs = [xs[0], self._weight(n, xs[1]), *xs[2:]]
            # dropout and batch norm act by the module's mode (train(), eval()), dropout with `seed` and `step`
            helpers = SimpleNamespace(**vars(_HELPERS), training=self.training, seed=self.seed, step=self.step)
            return family.torch(helpers, n.attrs, xs, self.consts.get(str(i)))
        return _SIMPLE[op](n, *xs)


def _unary(row: Unary) -> Callable[..., Tensor]:
    fn = eval(f"lambda x, attrs: {row.torch}", {"torch": torch, "F": F})   # our own rows' text, never user input
    return lambda n, x: fn(x, n.attrs)


def _binary(row: Binary) -> Callable[..., Tensor]:
    fn = eval(f"lambda a, b: {row.torch}", {"torch": torch, "F": F})
    return lambda n, a, b: fn(a, b)


_SIMPLE: dict[Op, Callable[..., Tensor]] = {
    **{op: _unary(unary_row(op)) for op in UNARY},      # ops/elementwise.py: each row's `torch`
    **{op: _binary(binary_row(op)) for op in BINARY},
}


def tfjs_params(model: TorchModel) -> dict[str, np.ndarray]:
    """The model's parameters as float64 NumPy arrays in TF.js layouts."""
    return {name: _to_tfjs(model, name, w.detach()) for name, w in model.weights.items()}


def tfjs_grads(model: TorchModel) -> dict[str, np.ndarray]:
    """The `.grad` of every trainable parameter, in TF.js layouts (zeros where none was computed)."""
    return {name: _to_tfjs(model, name, w.grad if w.grad is not None else torch.zeros_like(w))
            for name, w in model.weights.items() if w.requires_grad}


def _to_tfjs(model: TorchModel, name: str, w: Tensor) -> np.ndarray:
    i = model.graph.params[name]
    return to_tfjs_layout(model.layouts[i], w, model.graph.nodes[i].shape).cpu().numpy().astype(np.float64)


def to_tensors(inputs: Arrays, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """NumPy (or torch) inputs as contiguous NHWC tensors on `device`."""
    return {k: torch.as_tensor(np.asarray(v) if not isinstance(v, Tensor) else v, dtype=dtype,
                               device=device).contiguous() for k, v in inputs.items()}


def torch_gradients(graph: Graph, params: Mapping[str, np.ndarray], inputs: Arrays,
                    dtype: torch.dtype = torch.float64) -> tuple[float, dict[str, np.ndarray]]:
    """(loss, d loss / d parameter in TF.js layouts) by torch autograd, on the CPU in `dtype`."""
    model = TorchModel(graph, params, dtype)
    _, loss = model(to_tensors(inputs, "cpu", dtype))
    assert loss is not None, "the graph has no loss"
    loss.backward()
    return loss.item(), tfjs_grads(model)


# ---- benchmark callables ----

def adam_settings(graph: Graph) -> dict[str, Any]:
    """Adam's lr, betas and eps from the spec's Train(...), as torch.optim.Adam takes them (the compiler's
    settings and defaults: compiler.training.adam_settings)."""
    s = training.adam_settings(graph.train)
    return {"lr": s["lr"], "betas": (s["beta1"], s["beta2"]), "eps": s["eps"]}


def configure(device: str) -> None:
    """fp32 everywhere (TF32 off), cuDNN autotuning on CUDA, as the reference measurements used."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True


def sync(device: str | torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@dataclass
class TorchStep:
    """One training step (forward + backward + Adam) per call; returns the loss tensor, unsynchronised."""
    model: TorchModel
    optimizer: torch.optim.Optimizer
    inputs: dict[str, Tensor]

    def __call__(self) -> Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        _, loss = self.model(self.inputs)
        assert loss is not None
        loss.backward()
        self.optimizer.step()
        return loss


def torch_step_fn(graph: Graph, params: Mapping[str, np.ndarray], inputs: Arrays,
                  device: str = "cpu", lr: float | None = None) -> TorchStep:
    """A callable doing one training step on fixed `inputs`, with Adam (betas, eps) from graph.train."""
    if graph.loss is None:
        raise ValueError("the graph has no loss (no Train(loss=...) in the spec)")
    configure(device)
    model = TorchModel(graph, params).to(device)
    opt = adam_settings(graph)
    if lr is not None:
        opt["lr"] = lr
    trainable = [w for w in model.weights.values() if w.requires_grad]
    return TorchStep(model, torch.optim.Adam(trainable, **opt), to_tensors(inputs, device))


def torch_infer_fn(graph: Graph, params: Mapping[str, np.ndarray], inputs: Arrays,
                   device: str = "cpu") -> Callable[[], dict[str, Tensor]]:
    """A callable running inference (outputs only, no loss, no autograd) on fixed `inputs`."""
    configure(device)
    model = TorchModel(graph, params).to(device).eval()
    x = to_tensors({k: v for k, v in inputs.items() if k in needed_inputs(graph, model.plan_infer)}, device)

    def infer() -> dict[str, Tensor]:
        with torch.inference_mode():
            return model(x, with_loss=False)[0]
    return infer


def needed_inputs(graph: Graph, plan: list[int]) -> set[str]:
    names = {i: k for k, i in graph.inputs.items()}
    return {names[i] for i in plan if i in names}


def median_ms(fn: Callable[[], Any], device: str, n: int, warmup: int = 2) -> float:
    """Median wall time of `fn` in milliseconds, synchronising the device around each call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)
