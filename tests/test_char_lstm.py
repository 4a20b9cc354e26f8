"""Character-level text generation (wgslgrad.text, `wgslgrad generate`, the bundle's text.js and
examples/web/char_lstm.html), on a small version of examples/char_lstm.py trained here for a few hundred steps
on a slice of Python's documentation text: its held-out loss per character falls well below a unigram
model's; the bundle (Node and headless Chromium) writes the same characters as Python for the same seed; bad
input (an unknown character, a prompt longer than the context, a sequence longer than the compiled one,
embedding ids that are not whole numbers below the vocabulary) is a clear error, exit status 1 from the CLI."""
import functools
import json
import shutil
import threading
from http.server import ThreadingHTTPServer

import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, normal
from test_bundle import JS_DIR, ROOT, _QuietHandler, _run, ensure_chromium, node_env, npm_ready

import wgslgrad
from wgslgrad import cli, text
from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.lower import lower
from wgslgrad.runtime.data import DataError

T = 8
TINY = f"""
chars = Input({T})
next_chars = Input({T}, 96)
h = lstm(embedding(chars, 96, 8), 32, return_sequences=True)
logits = dense(h, 96, flatten=False)
Output(logits)
Train(loss=softmax_cross_entropy(logits, next_chars), optimizer=Adam(lr=0.01), batch=32)
"""
ARTIFACTS = ROOT / "runs" / "test-artifacts"
LIMIT = 24_000   # characters of the text: 21,600 to train on (2,700 windows: 85 steps an epoch), 2,400 held out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny model trained for 3 epochs (255 steps), its checkpoint, and a batch-1 bundle with text.js."""
    folder = tmp_path_factory.mktemp("char_lstm")
    spec = folder / "tiny.py"
    spec.write_text(TINY)
    train, held = text.split(text.to_vocab(text.python_docs())[0][:LIMIT])
    train_ids, held_ids = text.encode(train), text.encode(held)
    model = wgslgrad.compile(spec)
    # held-out windows in whole batches: fit() evaluates them with the training session's forward pass
    held_data = {k: v[:len(v) // 32 * 32] for k, v in text.windows(held_ids, T, 96).items()}
    model.fit(text.windows(train_ids, T, 96), val=held_data, epochs=3, verbose=False)
    model.save_weights(folder / "tiny.safetensors")
    model.export(folder / "web", js=True, batch=1)
    text.write_web_files(folder / "web")
    targets = held_data["next_chars"].argmax(-1).reshape(-1)   # the characters the held-out loss predicts
    return {"model": model, "spec": spec, "dir": folder, "held_loss": model.history.epochs[-1]["val_loss"],
            "unigram": text.unigram_loss(train_ids, targets, 96), "held_chars": len(targets)}


def test_text_and_split_are_deterministic():
    docs = text.python_docs()
    plain, dropped = text.to_vocab(docs)
    assert len(plain) > 400_000 and set(plain) <= set(text.ASCII) and dropped < 100
    train, held = text.split(plain)
    assert (train, held) == text.split(plain) and len(train) + len(held) == len(plain)
    assert 0.09 < len(held) / len(plain) < 0.11
    w = text.windows(text.encode(plain[:100]), 8, 96)
    ids = w["chars"].astype(int)
    assert ids.shape == (12, 8) and text.decode(ids[1]) == plain[8:16]
    assert w["next_chars"].shape == (12, 8, 96) and np.all(w["next_chars"].sum(-1) == 1)
    assert text.decode(w["next_chars"][1].argmax(-1)) == plain[9:17]


def test_held_out_loss_falls_well_below_a_unigram_model(trained):
    loss, unigram = trained["held_loss"], trained["unigram"]
    print(f"held-out loss per character ({trained['held_chars']:,} characters): {loss:.3f} nats "
          f"({text.nats_to_bits(loss):.3f} bits); unigram {unigram:.3f} nats ({text.nats_to_bits(unigram):.3f} bits)")
    assert 2.5 < unigram < 4.0
    assert loss < unigram - 0.4


def test_sample_is_the_inverse_cdf_of_the_tempered_softmax():
    """Draws spread evenly over [0, 1) land on each id in proportion to softmax(logits / temperature)."""
    rng = np.random.default_rng()
    seed = int(rng.integers(1 << 31))
    print(f"seed {seed}")
    logits = np.random.default_rng(seed).standard_normal(7) * 2
    draws = (np.arange(20_000) + 0.5) / 20_000
    for temperature in (0.5, 1.0, 1.7):
        p = np.exp(logits / temperature)
        p /= p.sum()
        counts = np.bincount([text.sample(logits, temperature, u) for u in draws], minlength=7)
        np.testing.assert_allclose(counts / len(draws), p, atol=1.5 / len(draws))
    assert text.sample(logits, 0, 0.999) == int(np.argmax(logits))
    rand = text.Mulberry32(seed)
    u = np.array([rand() for _ in range(2000)])
    assert np.all((u >= 0) & (u < 1)) and abs(u.mean() - 0.5) < 0.03 and len(set(u)) == 2000


def test_python_generation(trained):
    model = trained["model"]
    a = text.generate(model, "The ", 24, temperature=0.8, seed=5)
    assert a == text.generate(model, "The ", 24, temperature=0.8, seed=5)
    assert a != text.generate(model, "The ", 24, temperature=0.8, seed=6)
    assert len(a) == 24 and set(a) <= set(text.ASCII)
    # temperature 0: the float64 reference's most likely character after the prompt, then after that one
    greedy = text.generate(model, "The ", 2, temperature=0)
    g, params = model._graph(1), model.get_weights()
    for k, prompt in enumerate(["The ", "The " + greedy[0]]):
        window = np.zeros((1, T))
        window[0, :len(prompt)] = text.encode(prompt)
        inputs = {"chars": window, "next_chars": np.zeros((1, T, 96))}
        logits = numpy_ref.evaluate(g, inputs, params, np.float64)[g.outputs["logits"]]
        assert greedy[k] == text.ASCII[int(np.argmax(logits[0, len(prompt) - 1]))]
    # a full context slides: the model reads the last T characters
    assert len(text.generate(model, "x" * T, 3, temperature=0)) == 3


def test_bad_text_is_a_clear_error(trained):
    model = trained["model"]
    with pytest.raises(text.TextError, match=r"unknown character 'é' \(U\+00E9\) at position 2 of the text: "
                                             r"the model knows newline and the printable ASCII"):
        text.generate(model, "caé", 5)
    with pytest.raises(text.TextError, match=rf"the prompt is {T + 1} characters long, more than the model's "
                                             rf"context of {T}: give at most {T}"):
        text.generate(model, "a" * (T + 1), 5)
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        text.generate(model, "a", 5, temperature=-1)
    with pytest.raises(ValueError, match="logits"):
        text.generate(model, "a", 5, vocab=text.ASCII[:50])
    with pytest.raises(DataError, match=rf"chars.*\[1,{T + 4}\].*\[N,{T}\]"):
        model.predict({"chars": np.zeros((1, T + 4), np.float32)})


def test_cli_generate(trained, capsys):
    w, spec = str(trained["dir"] / "tiny.safetensors"), str(trained["spec"])
    assert cli.main(["generate", spec, "--weights", w, "--prompt", "The ", "-n", "20", "--temperature", "0.8",
                     "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert out == "The " + text.generate(trained["model"], "The ", 20, temperature=0.8, seed=5) + "\n"
    for args, status, message in [
        (["--prompt", "naïve"], 1, "unknown character 'ï' (U+00EF) at position 2"),
        (["--prompt", "b" * (T + 3)], 1, f"the prompt is {T + 3} characters long, more than the model's context of {T}"),
        (["--temperature", "-0.5"], 2, "--temperature must be a number, 0 or more"),
        (["--temperature", "nan"], 2, "--temperature must be a number, 0 or more"),
        (["-n", "-3"], 2, "--length must be a whole number, 0 or more"),
        (["--vocab", str(trained["spec"])], 1, "not a JSON list of characters"),
    ]:
        assert cli.main(["generate", spec, "--weights", w, *args]) == status, args
        captured = capsys.readouterr()
        assert message in captured.err and "Traceback" not in captured.err and captured.out == "", captured
    long = trained["dir"] / "long.npz"
    np.savez(long, chars=np.zeros((2, T + 1), np.float32))
    assert cli.main(["run", spec, "--weights", w, "--input", str(long), "-o", str(trained["dir"] / "o.npz")]) == 1
    err = capsys.readouterr().err
    assert f"[2,{T + 1}]" in err and f"[N,{T}]" in err, err


def test_bundle_generates_pythons_text_in_node(trained):
    """text.js on model.js (Dawn): the same Mulberry32 draws and the same characters as Python; the bundle
    refuses bad ids (not whole numbers in [0, 96)) as the Python runtime does."""
    model, web = trained["model"], trained["dir"] / "web"
    asks = [{"prompt": "The ", "n": 30, "temperature": 0.8, "seed": 3},
            {"prompt": "def ", "n": 12, "temperature": 0, "seed": 0},
            {"prompt": "", "n": 10, "temperature": 1.5, "seed": 9}]
    bad_ids = [2.5] + [0] * (T - 1), [0, 96] + [0] * (T - 2), [0] * (T - 1) + [-1]
    request = {"generate": asks, "draws": {"seed": 12345, "n": 50},
               "errors": [{"prompt": "über"}, {"prompt": "z" * (T + 1)}, {"prompt": "a", "temperature": -1},
                          *({"ids": ids} for ids in bad_ids)]}
    (web / "request.json").write_text(json.dumps(request))
    run = _run(["node", "run_text.mjs", str(web), str(web / "request.json"), str(web / "result.json")], cwd=JS_DIR,
               env=dict(node_env()), timeout=600)
    assert run.returncode == 0, f"run_text.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    result = json.loads((web / "result.json").read_text())
    rand = text.Mulberry32(12345)
    assert result["draws"] == [rand() for _ in range(50)]
    for ask, got in zip(asks, result["texts"]):
        assert got == text.generate(model, ask["prompt"], ask["n"], temperature=ask["temperature"], seed=ask["seed"])
    print(f"Node (Dawn) generation: {result['charsPerSecond']:.1f} characters/s; texts {result['texts']}")
    e = result["errors"]
    assert e[0].startswith('unknown character "ü" (U+00FC) at position 0'), e
    assert e[1].startswith(f"the prompt is {T + 1} characters long, more than the model's context of {T}"), e
    assert e[2].startswith("temperature must be a number >= 0"), e
    assert e[3] == "input chars holds 2.5 at [0, 0]: embedding ids must be whole numbers in [0, 96)", e
    assert e[4] == "input chars holds 96 at [0, 1]: embedding ids must be whole numbers in [0, 96)", e
    assert e[5] == f"input chars holds -1 at [0, {T - 1}]: embedding ids must be whole numbers in [0, 96)", e


def test_page_generates_as_the_user_types(trained, tmp_path):
    """examples/web/char_lstm.html in headless Chromium: each prompt typed, at the slider's temperature,
    shows Python's text for the same seed; an unknown character and a too long prompt show an error. The
    screenshot is kept in runs/test-artifacts/."""
    npm_ready()
    ensure_chromium()
    (tmp_path / "chars").symlink_to(trained["dir"] / "web")
    (tmp_path / "char_lstm.html").write_text((ROOT / "examples" / "web" / "char_lstm.html").read_text())
    prompts = [{"prompt": "café", "temperature": 1}, {"prompt": "q" * (T + 2), "temperature": 1},
               {"prompt": "The cla", "temperature": 0}, {"prompt": "def ", "temperature": 0.8}]
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shot = tmp_path / "char_lstm_page.png"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/char_lstm.html?n=40&seed=7"
        run = _run(["node", "run_text_page.mjs", url, "300000", str(shot), json.dumps(prompts)], cwd=JS_DIR,
                   timeout=600)
    finally:
        server.shutdown()
    assert run.returncode == 0, f"run_text_page.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    page = json.loads(run.stdout.strip().splitlines()[-1])
    assert page["errors"] == [] and page["status"].startswith("ready in"), page
    model = trained["model"]
    assert page["shown"][0]["error"].startswith('unknown character "é" (U+00E9) at position 3'), page["shown"][0]
    assert page["shown"][1]["error"].startswith(f"the prompt is {T + 2} characters long"), page["shown"][1]
    for ask, shown in zip(prompts[2:], page["shown"][2:]):
        want = text.generate(model, ask["prompt"], 40, temperature=ask["temperature"], seed=7)
        assert shown["text"] == ask["prompt"] + want and shown["error"] == "", shown
        assert "characters/s" in shown["speed"]
    assert shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    print(f"page: {page['status']}; {page['shown'][-1]['speed']}; screenshot {ARTIFACTS / shot.name}")


SEQ_HEAD = """
x = Input(5, 3)
labels = Input(5, 4)
y = dense(x, 4, flatten=False, activation="tanh")
z = dense(y, 2)
Output(y)
Output(z)
Train(loss=softmax_cross_entropy(y * 3, labels) + mean(z * z), batch=2)
"""


def test_dense_at_every_position_and_cross_entropy_per_position(device):
    """dense(x, u, flatten=False) on [B, T, F] is x @ weights + bias at each position (dense(x, u) still
    flattens), and softmax_cross_entropy on [B, T, K] the mean over every position: float64 against NumPy,
    gradients against finite differences, the GPU against float64."""
    g = compile_spec(SEQ_HEAD, "t.py")
    assert g.nodes[g.outputs["y"]].shape == (2, 5, 4) and g.nodes[g.params["dense_1/weights"]].shape == (20, 2)
    rng = fresh_rng()
    inputs = {"x": rng.standard_normal((2, 5, 3)), "labels": rng.dirichlet(np.ones(4), (2, 5))}
    params = normal(g, g.params, rng, 0.7)
    vals = numpy_ref.evaluate(g, inputs, params)
    y = np.tanh(inputs["x"] @ params["dense_0/weights"] + params["dense_0/bias"])
    np.testing.assert_allclose(vals[g.outputs["y"]], y, rtol=1e-12)
    logits = 3 * y
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    z = y.reshape(2, 20) @ params["dense_1/weights"] + params["dense_1/bias"]
    want = -(inputs["labels"] * logp).sum(-1).mean() + (z * z).mean()
    np.testing.assert_allclose(vals[g.loss], want, rtol=1e-12)
    for r in check_gradients(g, g.loss, inputs, params, seed=int(rng.integers(2**31))):
        assert r.rel_error < 1e-6, (r.name, r.rel_error)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)
