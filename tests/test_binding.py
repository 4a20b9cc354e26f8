"""max_binding: compiling for devices that bind more than WebGPU's default 128 MiB of one buffer.

The spec below makes one tensor of 16,400 x 2,048 floats (128.1 MiB), just over the default, from two small
inputs, and sums it to a small output: with max_binding=256 MiB it compiles, its arena is one buffer over 128 MiB,
and a device that binds that much must compute it right while one that binds less must refuse it by name.
"""
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_bundle import JS_DIR, _run, node_env, run_node

import wgslgrad
from wgslgrad.cli import main
from wgslgrad.compiler.errors import SpecErrors
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export.bundle import write_bundle
from wgslgrad.runtime.device import DeviceLimitError, device_advice
from wgslgrad.runtime.session import Session

ROWS, COLS = 16_400, 2_048
BIG = f"a = Input(1, {COLS})\nb = Input({ROWS}, 1)\ny = a + b\nOutput(sum(y, axis=2), name='rows')\n"
MIB = 2**20


def big_inputs(seed: int) -> dict[str, np.ndarray]:
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    return {"a": rng.uniform(-1, 1, (1, 1, COLS)).astype(np.float32),
            "b": rng.uniform(-1, 1, (1, ROWS, 1)).astype(np.float32)}


def want_rows(inputs: dict[str, np.ndarray]) -> np.ndarray:
    """sum_j (a_j + b_i) in float64."""
    a, b = inputs["a"].astype(np.float64), inputs["b"].astype(np.float64)
    return (a + b).sum(axis=2)


def test_the_default_refuses_the_tensor_and_says_how_to_compile_for_more():
    with pytest.raises(SpecErrors) as e:
        compile_spec(BIG, "big.py")
    assert ("this tensor [1,16400,2048] would take 128.1 MiB, more than one GPU buffer binds (128.0 MiB): use smaller "
            "layers, or compile for devices that bind 128.1 MiB or more (--max-binding 129MiB; "
            "max_binding=129 * 2**20 in Python)") in str(e.value)


@pytest.mark.parametrize("spec,batch", [(BIG, 1), ("examples/tiny_face_detector.py", 16),
                                        ("x = Input(64, 64, 3)\nOutput(conv2d(x, 12000))\n", 1)])
def test_the_size_the_error_advises_compiles_as_typed(capsys, tmp_path, spec, batch):
    """The advised --max-binding is whole MiB, rounded up: typed as it is, it is a size and it is enough."""
    path = tmp_path / "spec.py"
    path.write_text(spec if "\n" in spec else Path(spec).read_text())
    assert main(["check", str(path), "--batch", str(batch)]) == 1
    size = re.search(r"\(--max-binding (\S+); max_binding=(\d+) \* 2\*\*20 in Python\)", capsys.readouterr().err)
    assert size and size[1] == f"{size[2]}MiB"
    assert main(["check", str(path), "--batch", str(batch), "--max-binding", size[1]]) == 0
    wgslgrad.compile(str(path), batch=batch, max_binding=int(size[2]) * 2**20)


def test_max_binding_compiles_it_into_one_bigger_arena_buffer():
    g = compile_spec(BIG, "big.py", max_binding=256 * MIB)
    assert g.max_binding == 256 * MIB
    program = lower(g)
    assert 4 * program.buffers["arena"] > 128 * MIB
    assert [b for b in program.buffers if b.startswith("arena")] == ["arena"]
    # the training form and the CPU Programs take the same limit from the graph
    assert 4 * lower(g, shared_tiles=False).buffers["arena"] > 128 * MIB


# two 64.8 MiB outputs, each under 128 MiB, that live together: 129.7 MiB of arena
TWO = "a = Input(1, 2048)\nb = Input(8300, 1)\ny = a + b\nOutput(y, name='y')\nOutput(exp(y), name='e')\n"


def test_a_bigger_max_binding_that_no_value_needs_changes_nothing(device):
    """Compiled for 1 GiB, a model whose values each fit 128 MiB lowers to the default's Program (its arena cut
    at 128 MiB, not one 129.7 MiB buffer), so it runs where the device binds only 128 MiB, as on lavapipe."""
    default, big = compile_spec(TWO, "two.py"), compile_spec(TWO, "two.py", max_binding=2**30)
    want, got = lower(default), lower(big)
    assert got.buffers == want.buffers and max(got.buffers.values()) * 4 <= 128 * MIB
    assert [k.wgsl for k in got.kernels] == [k.wgsl for k in want.kernels]
    seed = 14
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    inputs = {"a": rng.uniform(-1, 1, (1, 1, 2048)).astype(np.float32),
              "b": rng.uniform(-1, 1, (1, 8300, 1)).astype(np.float32)}
    out = Session(lower(big), device).run(inputs)
    y = inputs["a"].astype(np.float64) + inputs["b"]
    np.testing.assert_allclose(out["y"], y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out["e"], np.exp(y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [64 * MIB, 2**31 + 16, 200 * MIB + 4, 1.5e8, "1GiB", True])
def test_max_binding_out_of_range_is_a_value_error(bad):
    with pytest.raises(ValueError, match="max_binding must be a number of bytes from 128 MiB"):
        wgslgrad.compile(BIG, max_binding=bad)


def test_max_binding_takes_any_integer_and_says_a_string_is_not_one():
    assert wgslgrad.compile(BIG, max_binding=np.int64(256 * MIB)).graph.max_binding == 256 * MIB
    assert type(compile_spec(BIG, "big.py", max_binding=np.uint32(256 * MIB)).max_binding) is int
    with pytest.raises(ValueError, match=r"not '1GiB' \(a number: 1 GiB is 2\*\*30\)"):
        wgslgrad.compile(BIG, max_binding="1GiB")


def test_the_python_runtime_runs_it_or_refuses_it_by_name(device):
    """On lavapipe (128 MiB) the Session refuses the 128.1 MiB arena; a device that binds more runs it."""
    g = compile_spec(BIG, "big.py", max_binding=256 * MIB)
    limit = device.limits["max-storage-buffer-binding-size"]
    if limit < 4 * lower(g).buffers["arena"]:
        with pytest.raises(DeviceLimitError, match=r"buffer arena needs 128\.2 MiB but this device binds at most "
                                                   r"128\.0 MiB: compile with a smaller batch, and without "
                                                   r"--max-binding \(max_binding=\) for this device"):
            Session(lower(g), device)
        return
    inputs = big_inputs(11)
    session = Session(lower(g), device)
    got = session.run(inputs)["rows"]
    np.testing.assert_allclose(got, want_rows(inputs), rtol=1e-5, atol=1e-3)


def test_cli(capsys, tmp_path, device):
    spec = tmp_path / "big.py"
    spec.write_text(BIG)
    for size, message in [("64MiB", "'64MiB' is 67,108,864 bytes: give a number of bytes from 128 MiB"),
                          ("lots", "not a size: 'lots'"),
                          ("1.7GiB", ("not a whole number of bytes: '1.7GiB' is 1,825,361,100.8 bytes; give whole "
                                      "MiB (e.g. 1740MiB) or bytes"))]:
        with pytest.raises(SystemExit) as e:   # argparse's usage error
            main(["check", str(spec), "--max-binding", size])
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert main(["check", str(spec)]) == 1
    assert "--max-binding" in capsys.readouterr().err
    assert main(["check", str(spec), "--max-binding", "256MiB"]) == 0
    capsys.readouterr()
    np.savez(tmp_path / "in.npz", **big_inputs(12))
    code = main(["run", str(spec), "--max-binding", "0.25GiB", "--input", str(tmp_path / "in.npz"),
                 "-o", str(tmp_path / "out.npz")])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if device.limits["max-storage-buffer-binding-size"] < 129 * MIB:
        assert code == 1 and ("wgslgrad: error: buffer arena needs 128.2 MiB but this device binds at most 128.0 MiB: "
                              "compile with a smaller batch, and without --max-binding") in err
    else:
        assert code == 0
        np.testing.assert_allclose(np.load(tmp_path / "out.npz")["rows"], want_rows(big_inputs(12)),
                                   rtol=1e-5, atol=1e-3)


def test_export_says_when_the_bundle_needs_a_bigger_binding(tmp_path):
    """A bundle with a buffer over 128 MiB warns, naming the size and the buffer; one compiled for 1 GiB that
    needs no such buffer is every device's and says nothing."""
    with pytest.warns(wgslgrad.BatchWarning, match=r"the bundle needs a WebGPU device that binds 128\.2 MiB of one "
                                                   r"buffer \(arena; every device binds 128 MiB, SwiftShader 1 GiB\)"):
        wgslgrad.compile(BIG, max_binding=256 * MIB).export(tmp_path / "big", js=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wgslgrad.compile(TWO, max_binding=2**30).export(tmp_path / "two", js=True)


def test_the_device_advice_names_an_option_that_helps():
    """On a device that binds only 128 MiB, drop --max-binding; on one that binds more, a size it allows."""
    assert device_advice(128 * MIB, "compile") == ("compile with a smaller batch, and without --max-binding "
                                                   "(max_binding=) for this device, which binds only what every "
                                                   "WebGPU device does")
    for limit, size in [(2**30, "1024MiB"), (2**31 - 1, "2047MiB"), (4294967292, "2048MiB")]:
        assert device_advice(limit, "export") == (f"export with a smaller batch, or with --max-binding {size} "
                                                  "(max_binding=) or less for this device")


def _node_binding() -> int:
    probe = _run(["node", "run_bundle.mjs", "--probe"], cwd=JS_DIR, env=dict(node_env()), timeout=120)
    assert probe.returncode == 0, probe.stderr
    return json.loads(probe.stdout)["maxStorageBufferBindingSize"]


def test_a_bundle_compiled_for_more_runs_where_the_adapter_binds_it(tmp_path):
    """In Node (SwiftShader binds 1 GiB): the 128.1 MiB tensor is computed right; a bundle that needs more than
    the adapter binds refuses to load, naming the buffer and the limit."""
    limit = _node_binding()
    print(f"Node adapter binds {limit / MIB:.0f} MiB")
    g = compile_spec(BIG, "big.py", max_binding=256 * MIB)
    write_bundle(tmp_path / "big", g, {})
    inputs = big_inputs(13)
    if limit >= 256 * MIB:
        result = run_node(tmp_path / "big", {"predict": {k: v.reshape(-1).tolist() for k, v in inputs.items()}})
        np.testing.assert_allclose(np.reshape(result["outputs"]["rows"], (1, ROWS)), want_rows(inputs),
                                   rtol=1e-5, atol=1e-3)
    if limit >= 2**31:
        return   # no bundle can need more than such an adapter binds
    # a tensor larger than this adapter binds (at most MAX_BINDING, so it compiles)
    rows = limit // (4 * 4096) + 64
    huge = BIG.replace(f"Input({ROWS}, 1)", f"Input({rows}, 1)").replace(f"Input(1, {COLS})", "Input(1, 4096)")
    write_bundle(tmp_path / "huge", compile_spec(huge, "huge.py", max_binding=2**31), {})
    (tmp_path / "huge" / "request.json").write_text(json.dumps({"predict": {}}))
    run = _run(["node", "run_bundle.mjs", str(tmp_path / "huge"), str(tmp_path / "huge" / "request.json"),
                str(tmp_path / "huge" / "result.json")], cwd=JS_DIR, env=dict(node_env()), timeout=300)
    assert run.returncode != 0
    need = re.search(r"Error: buffer arena needs ([\d.]+) MiB but this device binds at most ([\d.]+) MiB: export "
                     r"with a smaller batch, or with --max-binding (\d+)MiB or less for this device", run.stderr)
    assert need, run.stderr[-2000:]
    assert float(need[1]) >= 4 * rows * 4096 / MIB > limit / MIB == float(need[2])
    assert int(need[3]) == limit // MIB


def test_subprocess_cli_help_mentions_it():
    out = subprocess.run([sys.executable, "-m", "wgslgrad", "export", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--max-binding SIZE" in out and "128MiB" in out


def test_summary_says_what_max_binding_allows_and_what_the_model_takes(capsys, tmp_path):
    spec = tmp_path / "big.py"
    spec.write_text(BIG)
    assert main(["summary", str(spec), "--max-binding", "256MiB"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("max binding: 256.0 MiB (--max-binding); the largest tensor, "
                                                        "add_0 [1,16400,2048], takes 128.1 MiB")
    spec.write_text(TWO)
    assert main(["summary", str(spec)]) == 0
    assert "max binding" not in capsys.readouterr().out
