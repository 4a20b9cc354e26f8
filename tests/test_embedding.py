"""embedding(ids, vocab, dim): Keras' layout (`embeddings` [vocab, dim]), ids an Input of whole numbers held as
floats. The shape rule and positioned errors, the float64 reference against NumPy indexing, the table's
gradient against finite differences, the kernels (forward, and a training step's gradients) on the GPU
against float64, and ids refused at run time when not whole numbers in [0, vocab)."""
import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, normal
from test_autodiff import Net, check_grads
from test_errors import check_one

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.ir import Op
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.numpy_ref import evaluate
from wgslgrad.runtime.session import Session

SPEC = """
ids = Input(7)
target = Input(7, 3)
e = embedding(ids, 11, 5, name="emb")
y = dense(reshape(e, [35]), 21) + dense(mean(e, axis=1), 21)
Output(y)
Train(loss=mse(reshape(y, [7, 3]), target) + mean(embedding(ids, 11, 5, name="emb", share=True) * 0.1), batch=4)
"""


def ids_for(g, rng, vocab: int = 11) -> dict[str, np.ndarray]:
    """Whole-number ids with repeats (several positions add into one row's gradient), as float32."""
    return {k: rng.integers(0, vocab, g.nodes[i].shape).astype(np.float32) for k, i in g.inputs.items()
            if k == "ids"}


def test_shape_layout_and_values():
    g = compile_spec(SPEC, "t.py")
    assert g.nodes[g.params["emb/embeddings"]].shape == (11, 5)
    (e,) = [i for i, n in enumerate(g.nodes) if n.op is Op.EMBEDDING][:1]
    assert g.nodes[e].shape == (4, 7, 5)
    rng = fresh_rng()
    ids = rng.integers(0, 11, (4, 7)).astype(np.float64)
    table = rng.standard_normal((11, 5))
    params = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.params.items()} | {"emb/embeddings": table}
    vals = evaluate(g, {"ids": ids, "target": np.zeros((4, 7, 3))}, params)
    for b in range(4):
        for t in range(7):
            np.testing.assert_array_equal(vals[e][b, t], table[int(ids[b, t])])


def test_table_gradient_against_finite_differences():
    """Repeated ids: their gradients add into one row; rows no id picks get zeros."""
    net = Net(fresh_rng())
    ids = net.input("ids", np.array([[1, 4, 1], [0, 4, 4]], np.float64))
    table = net.param("embeddings", net.rng.standard_normal((6, 3)))
    grads = check_grads(net, net.linear_loss(net.op(Op.TANH, net.op(Op.EMBEDDING, ids, table))))
    assert np.all(grads["embeddings"][[2, 3, 5]] == 0) and np.all(grads["embeddings"][[0, 1, 4]] != 0)


OUT = "Output(y)\n"


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(3)\ny = embedding(relu(x), 5, 2)\n" + OUT, 2, 15,
     ("embedding() argument 'ids' must be an Input holding whole-number ids (ids are data: they cannot be computed, "
     "and have no gradient)")),
    ("x = Input(3)\ny = embedding(x, 0, 2)\n" + OUT, 2, 18, "embedding() argument 'vocab' must be at least 1, got 0"),
    ("x = Input(3)\ny = embedding(x, 5, 2.5)\n" + OUT, 2, 21, "embedding() argument 'dim' must be an int, got float"),
])
def test_errors_are_positioned(src, line, col, msg):
    check_one(src, line, col, msg)


@pytest.mark.parametrize("value,where", [(2.5, "2.5"), (-1.0, "-1.0"), (11.0, "11.0"), (np.nan, "nan")])
def test_bad_ids_are_refused_before_running(device, value, where):
    g = compile_spec("ids = Input(4)\ny = embedding(ids, 11, 2)\nOutput(y)\n", "t.py", batch=2)
    session = Session(lower(g), device)
    session.init_params()
    ids = np.zeros((2, 4), np.float32)
    ids[1, 2] = value
    with pytest.raises(ValueError, match=rf"input ids holds {where} at \[1, 2\]: embedding ids must "
                                         r"be whole numbers in \[0, 11\)"):
        session.run({"ids": ids})


def test_embedding_forward_and_training_step_on_gpu(device):
    g = compile_spec(SPEC, "t.py")
    rng = fresh_rng()
    inputs = normal(g, g.inputs, rng) | ids_for(g, rng)
    params = normal(g, g.params, rng)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)


def test_cli_refuses_a_data_set_with_bad_ids(tmp_path):
    """`wgslgrad train` checks the whole data set when it loads it: exit 1 with the array and the first bad id."""
    import subprocess
    import sys
    spec = tmp_path / "emb.py"
    spec.write_text("ids = Input(5)\nt = Input(3)\ny = dense(embedding(ids, 10, 4), 3)\nOutput(y)\n"
                    "Train(loss=mse(y, t), batch=2)\n")
    ids = fresh_rng().integers(0, 10, (8, 5)).astype(np.float32)
    ids[3, 1] = 12
    np.savez(tmp_path / "bad.npz", ids=ids, t=np.zeros((8, 3), np.float32))
    r = subprocess.run([sys.executable, "-m", "wgslgrad", "train", str(spec), "--data", str(tmp_path / "bad.npz"),
                        "--epochs", "1", "--out", str(tmp_path / "out"), "--no-progress"],
                       check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "array 'ids' holds 12.0 at [3, 1]: embedding ids must be whole numbers in [0, 10)" in r.stderr
    assert "Traceback" not in r.stderr



def test_cli_gradcheck_and_run_make_valid_ids(tmp_path, capsys):
    """Without data, `gradcheck` and `run` make stand-in inputs: ids among them are whole numbers below the
    vocabulary, so both succeed."""
    from wgslgrad.cli import main
    spec = tmp_path / "lm.py"
    spec.write_text("ids = Input(3)\nt = Input(3, 4)\nh = tanh(embedding(ids, 4, 2))\n"
                    "y = reshape(dense(h, 12), [3, 4])\nOutput(y)\nTrain(loss=mse(y, t), batch=2)\n")
    assert main(["gradcheck", str(spec)]) == 0
    assert "embedding_0/embeddings" in capsys.readouterr().out
    assert main(["run", str(spec)]) == 0
