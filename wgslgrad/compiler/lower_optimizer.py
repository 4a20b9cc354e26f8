"""The optimizer update's kernel: Op.ADAM (compiler.training adds one node per training step) as one fused
Adam kernel over params[0 : size], 4 floats per thread, its per-step values read from the `step` uniform.

The `step` uniform's layout is defined here and only here (STEP_FIELDS): the kernel reads each value by its
position, and the Program records the field names (Program.optimizer["fields"]) for the runtimes, which
write, before each step t (1-based), the value each name stands for:
    lr, beta1, beta2, eps   the learning rate of this step (a schedule may change it) and Adam's settings
    bias1, bias2            1 - beta1^t and 1 - beta2^t, computed in float64 and rounded once
    t                       the step number
    seed                    dropout's seed, an integer below 2^24 (ops/dropout.py: with t it draws the masks)
"""
from __future__ import annotations

from .ir import Op
from .kernel_builder import MAX_STORAGE_BUFFERS, WORKGROUP, Kernel, Lowering, Rule, rule_into
from .memory import align
from .program import ADAM_M, ADAM_V, GRADS, PARAMS, READ, READ_WRITE, STEP

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
rule = rule_into(RULES)

STEP_FIELDS = ("lr", "beta1", "beta2", "eps", "bias1", "bias2", "t", "seed")
assert len(STEP_FIELDS) % 4 == 0, "a uniform holds whole vec4s"


def step_fields(var: str) -> dict[str, str]:
    """Each named field of the `step` uniform bound as `var`, as a WGSL expression (`step[1].x`)."""
    return {f: f"{var}[{k // 4}].{'xyzw'[k % 4]}" for k, f in enumerate(STEP_FIELDS) if f}


def optimizer_data(settings: dict[str, float]) -> dict[str, object]:
    """What a Program says about its update (Program.optimizer): Adam's settings (lr being the default each step
    may override), the uniform the runtime writes before each step and the names of its fields, in order."""
    return {"kind": "adam", **settings, "uniform": STEP, "fields": list(STEP_FIELDS)}


@rule(Op.ADAM)
def lower_adam(ctx: Lowering, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    n = node.shape[0]
    kb = ctx.builder()
    names = {"params": kb.vec4(PARAMS, READ_WRITE), "grads": kb.vec4(GRADS, READ), "m": kb.vec4(ADAM_M, READ_WRITE),
             "v": kb.vec4(ADAM_V, READ_WRITE)}
    step = kb.uniform(STEP, len(STEP_FIELDS) // 4)
    assert len(kb.bindings) <= MAX_STORAGE_BUFFERS + 1
    n4 = align(n) // 4
    wg = ctx.grid(-(-n4 // WORKGROUP))
    a = node.arg
    comment = (f"adam over {n} trainable parameters: lr {a['lr']:g} (default), beta1 {a['beta1']:g}, "
               f"beta2 {a['beta2']:g}, eps {a['eps']:g}")
    layout = ", ".join(f"[{k}] = ({', '.join(f or '0' for f in STEP_FIELDS[4 * k:4 * k + 4])})"
                       for k in range(len(STEP_FIELDS) // 4))
    # params, m and v read and written, grads read: 7 floats moved per element, about 12 FLOPs
    return [kb.kernel("adam", "adam.wgsl", wg, [i], flops=12 * n, reads=6 * n, comment=comment, n=n, n4=n4,
                      wg=WORKGROUP, gx=wg[0], step=step, layout=layout, f=step_fields(step), **names)]
