"""The values a spec computes with at compile time, the environments that hold them, and the registry
of builtins (filled by builtins.py)."""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .errors import SpecError
from .ir import Pos, Shape

# Limits on the interpreter's work (docs/dsl.md, "Limits"): a spec's cost is bounded before lowering.
MAX_DEPTH = 50            # nested user-function calls
MAX_STEPS = 200_000       # units of work while unrolling: statements, calls, loop iterations, list items
#                           made, and list items passed to a builtin or compared
MAX_LIST = 100_000        # items in one list, its nested lists' items included (a range() too)
MAX_LIST_DEPTH = 100      # lists inside lists
MAX_NODES = 2_000         # nodes of the forward graph: each becomes a kernel or none (fused), and a training
#                           step adds a kernel or two for its gradient; about 7 MB of WGSL at most in all
MAX_WGSL_BYTES = 32 * 2**20   # the generated program, as build estimates it (forward and training step)
WGSL_PER_KERNEL = 3_000       # bytes of WGSL per kernel, about (landmark68's training step: 3.2 KB)
WGSL_PER_PHASE = 300          # bytes per stride phase of a conv2d input gradient, about
MAX_RANK = 8              # axes of a tensor, the batch included (kernels unroll over axes)
MAX_CONCAT = 256          # tensors joined by one concat (a kernel per 6 of them, a slice each to train)
MAX_TOTAL_ELEMENTS = 2**31    # f32 elements of all tensors of the forward graph together: 8 GiB
MAX_FLOPS = 10**13            # FLOPs of one forward pass (summary.node_flops): ResNet-50 at batch 1024
MAX_WINDOW = 2**16            # a kernel, pool size or stride, per axis: index arithmetic stays within i32
MAX_PHASES = 256              # stride phases of a trained conv2d's input gradient (one branch of WGSL each)
MAX_EPOCHS = 1_000_000       # Train(epochs=...)
MAX_NAME = 64             # characters of an Input or Output name, or of one component of a layer name
F32_MAX = 3.4028234663852886e38   # the largest finite float32: every number that reaches a kernel fits it
F32_TINY = 1.1754943508222875e-38  # the smallest normal float32
F32_BELOW_1 = 0.9999999403953552   # the largest float32 below 1

# ---- values


@dataclass(frozen=True)
class Tensor:
    id: int
    shape: Shape
    batched: bool   # derives from an Input, so its first axis is the batch


class _Poison:
    def __repr__(self) -> str:
        return "<error>"


POISON: Any = _Poison()


@dataclass(frozen=True)
class Arg:
    value: Any
    pos: Pos
    expr: ast.Expr | None = None


@dataclass(frozen=True, eq=False)
class Function:
    defn: ast.FuncDef
    defaults: dict[str, Arg]   # evaluated where the def runs, as in Python
    env: Env


@dataclass(frozen=True, eq=False)
class Builtin:
    name: str
    fn: Callable[..., Any]
    params: tuple[str, ...]
    defaults: dict[str, Any]
    varargs: str | None
    kwonly: tuple[str, ...]


@dataclass(frozen=True)
class Optimizer:
    name: str
    lr: float
    beta1: float
    beta2: float
    eps: float


def kind(v: Any) -> str:
    """The type name used in messages."""
    if isinstance(v, Tensor):
        return "tensor"
    if isinstance(v, (Function, Builtin)):
        return "function"
    if isinstance(v, Optimizer):
        return "optimizer"
    return "None" if v is None else type(v).__name__


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Sizes:
    """Each list's size (its items, nested lists' items included) and nesting depth, remembered by identity:
    a list built from itself (`a = [a, a]` in a loop) is measured without walking its 2**n leaves."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, int, int]] = {}   # id -> (the list, kept alive; size; depth)

    def of(self, v: Any) -> tuple[int, int]:
        """(size, depth) of a list or tuple; (1, 0) for anything else."""
        if not isinstance(v, (list, tuple)):
            return 1, 0
        m = self._memo.get(id(v))
        if m is not None and m[0] is v:
            return m[1], m[2]
        size, depth = len(v), 1
        for x in v:   # items are remembered lists or flat ones (range), so this recursion is shallow
            if isinstance(x, (list, tuple)):
                s, d = self.of(x)
                size, depth = size + s, max(depth, d + 1)
        self._memo[id(v)] = (v, size, depth)
        return size, depth


def has_poison(v: Any) -> bool:
    return v is POISON or (isinstance(v, (list, tuple)) and any(has_poison(x) for x in v))


class Env:
    """Variables of the module or of one function call; lookups fall back to the defining scope, and the
    module's to the builtins (given to the module's Env, shared by every Env under it)."""

    def __init__(self, parent: Env | None = None, builtins: Mapping[str, Builtin] | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent
        self.builtins: Mapping[str, Builtin] = parent.builtins if parent is not None else (builtins or {})

    def lookup(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        if name in self.builtins:
            return self.builtins[name]
        raise KeyError(name)

    def visible(self) -> list[str]:
        names = set(self.builtins)
        env: Env | None = self
        while env is not None:
            names |= env.vars.keys()
            env = env.parent
        return sorted(names)


@dataclass
class Scope:
    """A layer path; `child` names the next call of `op` in it: `op_K`, or the name= given."""
    path: str
    counts: dict[str, int] = field(default_factory=dict)

    def child(self, op: str, name: str | None = None) -> str:
        k = self.counts.get(op, 0)
        self.counts[op] = k + 1
        part = name if name is not None else f"{op}_{k}"
        return f"{self.path}/{part}" if self.path else part


def did_you_mean(name: str, options: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest option, or "". Names and options over 64 characters are not
    compared (difflib's cost grows with the product of the lengths)."""
    if len(name) > MAX_NAME:
        return ""
    near = [o for o in options if len(o) <= MAX_NAME]
    close = difflib.get_close_matches(name, near, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# Keras' and PyTorch's names for arguments that the spec language names otherwise
KEYWORD_ALIASES = {"learning_rate": "lr", "beta_1": "beta1", "beta_2": "beta2", "epsilon": "eps",
                   "kernel_size": "kernel", "strides": "stride", "pool_size": "size", "batch_size": "batch",
                   "out_channels": "filters", "out_features": "units", "bias": "use_bias", "padding_mode": "padding",
                   "alpha_": "alpha", "negative_slope": "alpha", "epoch": "epochs", "opt": "optimizer"}

# Names a spec cannot use, with what to do instead: other frameworks' layers, optimizers and habits.
_BATCH_NORM = "use batch_norm(x, momentum=0.99, epsilon=0.001)"
_DROPOUT = "use dropout(x, rate)"
_ONLY_ADAM = "only the Adam optimizer is supported (yet): use Adam(lr=0.001)"
NAME_HINTS = {
    "batch_normalization": _BATCH_NORM, "BatchNormalization": _BATCH_NORM, "BatchNorm2d": _BATCH_NORM,
    "layer_norm": "layer normalisation is not supported (yet)", "Dropout": _DROPOUT,
    "SGD": _ONLY_ADAM, "RMSprop": _ONLY_ADAM, "Adagrad": _ONLY_ADAM, "Adadelta": _ONLY_ADAM, "AdamW": _ONLY_ADAM,
    "Nadam": _ONLY_ADAM, "sgd": _ONLY_ADAM,
    "Conv2D": "use conv2d(x, filters, kernel=3)", "Dense": "use dense(x, units)",
    "DepthwiseConv2D": "use depthwise_conv2d(x, kernel=3)", "SeparableConv2D": "use separable_conv2d(x, filters)",
    "MaxPooling2D": "use max_pool(x, size=2)", "MaxPool2D": "use max_pool(x, size=2)",
    "max_pool2d": "use max_pool(x, size=2)", "AveragePooling2D": "use avg_pool(x, size=2)",
    "avg_pool2d": "use avg_pool(x, size=2)", "GlobalAveragePooling2D": "use global_avg_pool(x)",
    "Flatten": "use flatten(x)", "Reshape": "use reshape(x, dims)", "Concatenate": "use concat([a, b])",
    "cat": "use concat([a, b])", "matmul": "use dense(x, units) for a layer with weights",
    "print": "print() is not supported: a spec is compiled, never run (see `wgslgrad summary FILE`)",
    "conv2d_transpose": "transposed convolutions are not supported (yet)",
    "Conv2DTranspose": "transposed convolutions are not supported (yet)",
    "upsample": "upsampling is not supported (yet)", "UpSampling2D": "upsampling is not supported (yet)",
}


def keyword_hint(name: str, options: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for an unknown keyword argument: another framework's name for it, else the
    closest option."""
    alias = KEYWORD_ALIASES.get(name)
    if alias in options:
        return f" (did you mean '{alias}'?)"
    return did_you_mean(name, options)


def number_text(v: Any) -> str:
    """A number for a message: repr, or `10^N`-style for an int too long to read."""
    if isinstance(v, int) and abs(v) >= 10**20:
        return f"about {'-' if v < 0 else ''}10^{len(str(abs(v))) - 1}"
    return repr(v)


def clip(text: str, n: int = 40) -> str:
    """`text`, cut to `n` characters with '...' when longer: user text quoted in messages."""
    return text if len(text) <= n else text[:n] + "..."


_COMPONENT = re.compile(r"[A-Za-z0-9_.\-]+")
_TENSOR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_path(v: Any, pos: Pos, what: str) -> str:
    """A layer name or path: components of letters, digits, '_', '.' and '-' joined by '/', none of them
    '.' or '..' (names end up in weight files and manifests)."""
    if not isinstance(v, str):
        raise SpecError(pos, f"{what} must be a str, got {kind(v)}")
    parts = v.split("/")
    if not all(_COMPONENT.fullmatch(p) and p not in (".", "..") and len(p) <= MAX_NAME for p in parts):
        raise SpecError(pos, f"{what} must be a name or a path like 'dense0/conv1', got {clip(v)!r}")
    return v


def check_tensor_name(v: Any, pos: Pos, what: str, derived: bool = False) -> str:
    """An Input or Output name: an ASCII identifier of at most MAX_NAME characters, since it names a data
    array, a WGSL variable and a member of an .npz file. `derived`: it comes from a variable, not name=."""
    if not isinstance(v, str):
        raise SpecError(pos, f"{what} must be a str, got {kind(v)}")
    if not _TENSOR_NAME.fullmatch(v) or len(v) > MAX_NAME:
        source = " (taken from the variable; pass name= to choose another)" if derived else ""
        raise SpecError(pos, f"{what} must be ASCII letters, digits and '_' (not starting with a digit, at most "
                             f"{MAX_NAME} characters), got {clip(v)!r}{source}")
    return v
