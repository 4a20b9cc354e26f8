"""Shared shaders (export/param_shaders.py): kernels that differ only in numbers compiled once, each kernel's
numbers bound as a uniform. Unit tests on small WGSL texts (which numbers may become reads, and how); on the
GPU (wgpu, naga): each shared shader with its numbers against the kernel's own WGSL on the same random
buffers, for every kernel of a small net's Programs without workgroup tiles (inference and training), as
bundles run them on CPU adapters; and that net's training bundle in Node (Dawn and Tint, whose uniformity
analysis naga lacks) against the Python runtime."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from param_check import check_shared
from test_bundle import (
    JS_DIR,
    _run,
    check_training,
    node_env,
    plain,
    python_outputs,
    random_params,
    rel_err,
    run_node,
)

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export.bundle import _NUMBER, _skeletons, _strip, write_bundle
from wgslgrad.export.param_shaders import share

HEAD = "@group(0) @binding(0) var<storage, read_write> arena: array<f32>;\n"
KERNEL = HEAD + """var<workgroup> part: array<f32, {n}>;
const M: u32 = {m}u;
@compute @workgroup_size({n})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
    let i = gid.x;
    if (i >= M) {{
        return;
    }}
    let c = i % {c}u;
    let x = i32(c) - {pad};
    const K: u32 = M + 1u;
    if (x >= -{pad} && x < {w}) {{
        arena[{off}u + i] = arena[i] * {scale} + f32(K);
    }}
}}"""


def kernel(**kw) -> str:
    values = {"n": 64, "m": 100, "c": 3, "pad": 1, "w": 7, "off": 1000, "scale": "0.5"} | kw
    return KERNEL.format(**values)


def test_numbers_that_differ_become_reads_of_the_right_type():
    texts = [kernel(), kernel(m=200, pad=2, w=9, off=5000, scale="0.25")]
    shaders, uses = share(texts, [1, 1])
    assert len(shaders) == 1 and uses[0].shader == uses[1].shader == 0
    s = shaders[0]
    assert "@group(0) @binding(1) var<uniform> nums: array<vec4<u32>, 2>;" in s
    # slots in order of first use (pad's two places share one), each read once at main's start into a let (no
    # helper function reads one, so no private copies)
    assert "let nums1 = bitcast<i32>(nums[0].y);" in s and "var<private>" not in s
    assert "let nums3 = nums[0].w;" in s and "let nums4 = bitcast<f32>(nums[1].x);" in s
    assert "const M" not in s and "let K: u32 = (nums0) + 1u;" in s   # a module const inlined, a local one a let
    assert "if (i >= (nums0))" in s
    # abstract ints take the other operand's type (x is i32); a negated one is signed
    assert "i32(c) - nums1" in s and "x >= -nums1 && x < nums2" in s
    assert "arena[nums3 + i] = arena[i] * nums4" in s
    f = np.array([0.5, 0.25], np.float32).view(np.uint32)
    # slots in order of first use; pad's two places share one slot
    assert uses[0].nums == (100, 1, 7, 1000, int(f[0])) and uses[1].nums == (200, 2, 9, 5000, int(f[1]))


def test_a_helper_reads_its_numbers_from_private_copies():
    helper = "fn store(o: u32, v: f32) {{\n    arena[{off}u + o] = v * {scale};\n}}\n\n"
    texts = [kernel(**kw).replace("@compute", helper.format(off=off, scale=scale) + "@compute")
             for off, scale, kw in ((77, "2.0", {}), (88, "3.0", {"m": 200}))]
    (s,), _ = share(texts, [1, 1])
    # the helper's two numbers: private copies made at main's start; main's own: lets only
    helper_slots = re.findall(r"arena\[nums(\d+)u? \+ o\] = v \* nums(\d+)", s)
    assert len(helper_slots) == 1, s
    for slot in helper_slots[0]:
        assert f"var<private> nums{slot}:" in s and f"\n    nums{slot} = " in s and f"let nums{slot} =" not in s
    assert "let nums0 = nums[0].x;" in s and "var<private> nums0:" not in s


def test_constant_contexts_split_the_group():
    """Attributes, array lengths and divisors stay constants: shaders that differ there stay apart (and
    share no numbers when nothing else differs); a shader alone in its form keeps its text."""
    a, b, c = kernel(), kernel(n=128), kernel(c=5)
    shaders, uses = share([a, b, c, HEAD], [1, 1, 1, 1])
    assert shaders == [a, b, c, HEAD] and all(u.nums == () for u in uses)
    shaders, uses = share([a, kernel(off=8), kernel(c=5, off=9)], [1, 1, 1])
    assert len(shaders) == 2 and uses[0].shader == uses[1].shader != uses[2].shader
    assert [u.nums for u in uses] == [(1000,), (8,), (9,)]
    assert "i % 3u" in shaders[0] and "i % 5u" in shaders[1]
    assert _NUMBER.sub("#", shaders[0]) == _NUMBER.sub("#", shaders[1])   # one skeleton in the bundle
    shaders, uses = share([a, kernel(c=5, off=9)], [1, 1], divisors=True)
    assert len(shaders) == 1 and "i % nums0" in shaders[0]
    # "cold": divisors outside loops (and helper functions) are read, those inside stay constants
    loop = HEAD + "fn main() {\n    let c = 7u / %du;\n    for (var k = 0u; k < 9u; k++) {\n        arena[k] = f32(k %% %du);\n    }\n}"
    shaders, uses = share([loop % (2, 3), loop % (4, 3), loop % (4, 5)], [1, 1, 1], divisors="cold")
    assert len(shaders) == 2 and "7u / nums0" in shaders[0] and "k % 3u" in shaders[0]
    assert [u.nums for u in uses] == [(2,), (4,), (4,)]
    # "lean": in loops only offsets are read
    hot = HEAD + "fn main() {\n    for (var k = 0u; k < %du; k++) {\n        arena[%du + k] = 1.0;\n    }\n}"
    shaders, uses = share([hot % (9, 1), hot % (9, 2), hot % (8, 3)], [1, 1, 1], divisors="lean")
    assert len(shaders) == 2 and "k < 9u" in shaders[0] and "arena[nums0 + k]" in shaders[0]
    # "tight": no divisor is read
    shaders, uses = share([loop % (2, 3), loop % (4, 3)], [1, 1], divisors="tight")
    assert shaders == [loop % (2, 3), loop % (4, 3)]


def test_an_int_of_unknown_type_stays_a_constant():
    text = HEAD + "fn main() {\n    arena[0] = f32(f(%s));\n}"
    shaders, uses = share([text % 3, text % 4], [1, 1])
    assert shaders == [text % 3, text % 4] and uses[1].nums == ()


BARRIER = HEAD + """var<workgroup> part: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    if (wid.x >= {n}u) {{
        return;
    }}
    part[lid] = arena[{off}u + lid];
    workgroupBarrier();
    arena[lid] = part[63u - lid];
}}"""


def test_tint_accepts_a_read_bound_before_a_barrier(tmp_path):
    """An early return on a number read from the uniform, then a barrier: Tint (Dawn, Chromium) accepts it
    only when the value is uniform for its analysis, as a `let` of a uniform read is and a private is not."""
    shaders, _ = share([BARRIER.format(n=4, off=0), BARRIER.format(n=8, off=64)], [1, 1], divisors="lean")
    assert len(shaders) == 1 and "wid.x >= nums0" in shaders[0]
    (tmp_path / "shaders.json").write_text(json.dumps(shaders))
    run = _run(["node", "compile_shaders.mjs", str(tmp_path / "shaders.json")], cwd=JS_DIR, env=dict(node_env()),
               timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"errors": []}


def test_skeletons_give_back_the_shaders():
    """_skeletons + runtime.js's shaderTexts (the same replace, here in Python) restore every shader; numbers
    that all shaders of one form share stay in the skeleton."""
    shaders = [kernel(), kernel(off=5), kernel(m=7, off=6), HEAD, kernel(pad=2, w=2), kernel(pad=3, w=3)]
    skeletons, table = _skeletons(shaders)
    assert len(skeletons) == 2 and table[3] == [1, ""] and skeletons[1] == _strip(HEAD)
    assert table[1] == [0, "100,1,7,5"] and "% 3u" in skeletons[0]
    # pad's two places vary alike in this form: listed once, its second place a back-reference to it
    assert table[4] == [0, "100,2,2,1000"] and skeletons[0].count("$1") == 1 and "x >= -$1 && x < #" in skeletons[0]
    for wgsl, (s, numbers) in zip(shaders, table):
        values, listed = iter(numbers.split(",")), numbers.split(",")
        assert re.sub(r"#|\$(\d+)", lambda m, v=values, l=listed: l[int(m[1])] if m[1] else next(v),
                      skeletons[s]) == _strip(wgsl)


NET = """
image = Input(13, 13, 3)
target = Input(4)
a = conv2d(image, 8, kernel=3, activation="relu")
b = separable_conv2d(a, 8, kernel=3, activation="relu")
c = separable_conv2d(b + a, 12, kernel=3, stride=2, activation="relu6")
d = separable_conv2d(c, 12, kernel=3, activation="relu")
e = separable_conv2d(d, 12, kernel=3)
y = dense(flatten(avg_pool(d + e, 2)), 4)
Output(y)
Train(loss=mse(y, target), batch=2)
"""


@pytest.mark.gpu
@pytest.mark.parametrize("divisors", [False, "tight", "lean", True])
def test_shared_shaders_compute_what_the_kernels_do(device, divisors):
    seed = int(np.random.SeedSequence().entropy % 2**32)
    print(f"seed {seed}")
    g = compile_spec(NET, "net.py")
    programs = [lower(g, shared_tiles=False), lower(g, training=True, shared_tiles=False)]
    checked, shaders = check_shared(device, programs, seed, divisors)
    kernels = len({_strip(k.wgsl) for p in programs for k in p.kernels})
    print(f"{kernels} kernels -> {shaders} shaders, {checked} of them shared")
    assert checked >= 10 and shaders < kernels - 8


@pytest.mark.gpu
@pytest.mark.e2e
def test_node_training_bundle_with_shared_shaders(device, tmp_path):
    """The net's training bundle in Node (SwiftShader: the shared shaders) vs the Python runtime: predict,
    then two training steps' losses and weights."""
    seed = int(np.random.SeedSequence().entropy % 2**32)
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    g = compile_spec(NET, "net.py")
    params = random_params(g, seed)
    write_bundle(tmp_path, g, params, train=True)
    inputs = {"image": rng.normal(size=(2, 13, 13, 3)).astype(np.float32),
              "target": rng.normal(size=(2, 4)).astype(np.float32)}
    lr = 0.01
    result = run_node(tmp_path, {"predict": plain(inputs), "train": {"inputs": plain(inputs), "lr": lr, "steps": 2}})
    b = {"dir": tmp_path, "graph": g, "params": params, "inputs": inputs}
    for out, value in python_outputs(device, b, inputs).items():
        assert rel_err(result["outputs"][out], value) < 1e-4, out
    check_training(device, b, result, lr, 2)
    t = result["timings"]
    texts = list(dict.fromkeys(_strip(k.wgsl) for k in lower(g, training=True, shared_tiles=False).kernels))
    print(f"Node: {t['pipelines']} inference and {t['trainPipelines']} training pipelines ({len(texts)} kernels)")
    assert t["trainPipelines"] < len(texts)
    # among the shared shaders one with an early return before a barrier (Tint's uniformity analysis)
    bindings = [len(next(k for k in lower(g, training=True, shared_tiles=False).kernels
                         if _strip(k.wgsl) == text).bindings) for text in texts]
    shaders, _ = share(texts, bindings, divisors="tight")
    assert any("nums" in s and "workgroupBarrier" in s for s in shaders)
