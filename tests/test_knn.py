"""The KNN head (wgslgrad/knn.py, export/knn.js): the same answers as @tensorflow-models/knn-classifier on the
same features, in Python (wgpu) and in the bundle's knn.js (Node, Dawn); float64 NumPy for the neighbours;
save/load and the files both sides share; bad input.

knn-classifier runs in Node from tests/knn (npm ci there: scripts/setup.sh, or the first run of this test).
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.knn import KNNClassifier, KNNError

KNN_DIR = Path(__file__).parent / "knn"


def knn_reference_ready() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH; the knn-classifier reference needs Node.js")
    if not (KNN_DIR / "node_modules" / "@tensorflow-models" / "knn-classifier").is_dir():
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=KNN_DIR, capture_output=True, text=True,
                             timeout=600, check=False)
        assert npm.returncode == 0, f"npm ci in {KNN_DIR} failed:\n{npm.stderr[-2000:]}"


def make_ops(seed: int, d: int = 24) -> list[dict]:
    """Adds, clears and queries: clustered features (so votes are split), exact duplicates stored under other
    labels (ties between equally similar examples), integer-like and other labels added out of order (class
    order), k above the number of examples, re-adding a cleared class, and errors."""
    rng = np.random.default_rng(seed)
    labels = [3, "paper", 0, "rock", 10, "scissors", 2]
    centres = {str(x): rng.standard_normal(d) for x in labels}

    def feature(label) -> list[float]:
        return [float(v) for v in (centres[str(label)] + 0.9 * rng.standard_normal(d)).astype(np.float32)]

    ops: list[dict] = []
    stored = []
    for _ in range(36):
        label = labels[int(rng.integers(len(labels)))]
        x = feature(label)
        ops.append({"op": "add", "x": x, "label": label})
        stored.append(x)
    for j in range(4):   # the same vector again under another label: exact ties
        ops.append({"op": "add", "x": stored[j], "label": labels[(j + 2) % len(labels)]})

    def queries(count: int) -> None:
        for i in range(count):
            x = stored[int(rng.integers(len(stored)))] if i % 3 == 0 else feature(labels[i % len(labels)])
            ops.append({"op": "predict", "x": x, "k": [1, 3, 5, 7, 1000][i % 5]})

    queries(15)
    ops.append({"op": "counts"})
    ops.append({"op": "clear", "label": "rock"})
    queries(5)
    ops.append({"op": "add", "x": feature("rock"), "label": "rock"})   # back, after scissors; same classIndex
    ops.append({"op": "add", "x": feature(0), "label": 0})
    queries(5)
    ops.append({"op": "counts"})
    ops.append({"op": "clear", "label": "nothing"})                         # no such class: an error
    ops.append({"op": "add", "x": feature(0)[:-1], "label": 0})              # another feature size: an error
    ops.append({"op": "clearAll"})
    ops.append({"op": "predict", "x": feature(0), "k": 3})                   # no examples: an error
    ops.append({"op": "add", "x": feature(2), "label": "2"})
    ops.append({"op": "predict", "x": feature(0), "k": 3})
    return ops


def run_python(ops: list[dict], knn: KNNClassifier) -> list:
    results = []
    for o in ops:
        try:
            if o["op"] == "add":
                knn.add_example(np.float32(o["x"]), o["label"])
                results.append(None)
            elif o["op"] == "clear":
                knn.clear_class(o["label"])
                results.append(None)
            elif o["op"] == "clearAll":
                knn.clear_all_classes()
                results.append(None)
            elif o["op"] == "counts":
                results.append({str(k): v for k, v in knn.class_example_count().items()})
            else:
                r = knn.predict_class(np.float32(o["x"]), o["k"])
                results.append({"label": str(r["label"]), "classIndex": r["class_index"],
                                "confidences": {str(k): v for k, v in r["confidences"].items()}})
        except KNNError as e:
            results.append({"error": str(e)})
    return results


def reference(ops: list[dict], tmp_path: Path) -> list:
    knn_reference_ready()
    (tmp_path / "ops.json").write_text(json.dumps(ops))
    run = subprocess.run(["node", "reference.mjs", str(tmp_path / "ops.json"), str(tmp_path / "ref.json")],
                         cwd=KNN_DIR, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, f"knn-classifier reference failed:\n{run.stderr[-3000:]}"
    out = json.loads((tmp_path / "ref.json").read_text())
    assert out["version"] == "1.2.6"
    return out["results"]


def assert_same(got: list, want: list, ops: list[dict]) -> None:
    predicted = 0
    for i, (g, w, o) in enumerate(zip(got, want, ops, strict=True)):
        if w is not None and "error" in w:
            assert g is not None and "error" in g, f"op {i} ({o['op']}): knn-classifier throws {w['error']!r}, we gave {g}"
            continue
        assert g is None or "error" not in g, f"op {i} ({o['op']}): we threw {g['error']!r}, knn-classifier gave {w}"
        if o["op"] == "predict":
            predicted += 1
            assert g["label"] == w["label"] and g["classIndex"] == w["classIndex"], f"op {i}: {g} != {w}"
            # the same classes, in the same order, with the same confidences (votes / min(k, examples))
            assert list(g["confidences"].items()) == list(w["confidences"].items()), f"op {i}: {g} != {w}"
        else:
            assert g == w, f"op {i} ({o['op']}): {g} != {w}"
    assert predicted >= 25


def test_python_matches_knn_classifier(device, tmp_path):
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    ops = make_ops(seed)
    want = reference(ops, tmp_path)
    assert_same(run_python(ops, KNNClassifier(device)), want, ops)


def test_bundle_knn_js_matches_knn_classifier(device, tmp_path):
    from test_bundle import JS_DIR, node_env

    from wgslgrad.export.knn_js import write_knn_js
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    ops = make_ops(seed)
    want = reference(ops, tmp_path)
    knn_js = write_knn_js(tmp_path / "bundle")
    # a file saved by Python loads in knn.js, and one saved by knn.js loads in Python, with the same answers
    py = KNNClassifier(device)
    first = [o for o in ops if o["op"] in ("add", "predict")][:50]
    run_python(first, py)
    py.save(tmp_path / "from_python.knn")
    queries = [o for o in ops if o["op"] == "predict"][:6]
    script = ops + [{"op": "load", "path": str(tmp_path / "from_python.knn")}, *queries,
                    {"op": "save", "path": str(tmp_path / "from_js.knn")}]
    (tmp_path / "js_ops.json").write_text(json.dumps(script))
    run = subprocess.run(["node", "run_knn.mjs", str(knn_js), str(tmp_path / "js_ops.json"),
                          str(tmp_path / "js.json")], cwd=JS_DIR, env=dict(node_env()), capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, f"node run_knn.mjs failed:\n{run.stderr[-3000:]}"
    got = json.loads((tmp_path / "js.json").read_text())["results"]
    assert_same(got[:len(ops)], want, ops)
    after_load = got[len(ops) + 1:len(ops) + 1 + len(queries)]
    assert after_load == run_python(queries, py)
    back = KNNClassifier.load(tmp_path / "from_js.knn", device)
    # knn.js keeps labels as strings (knn-classifier's object keys): the same classes, by key
    assert {str(k): v for k, v in back.class_example_count().items()} == \
        {str(k): v for k, v in py.class_example_count().items()}
    assert run_python(queries, back) == after_load


def test_many_examples_across_workgroups_match_knn_classifier(device, tmp_path):
    """Enough examples for several knn_scan workgroups, with exact duplicates under other labels spread over
    them, k on both sides of KMAX and queries scaled up and down: Python and knn.js (Node, Dawn) give
    knn-classifier's answers."""
    from test_bundle import JS_DIR, node_env

    from wgslgrad.export.knn_js import write_knn_js
    from wgslgrad.knn import KMAX, SCAN_ROWS
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    n, d = 3 * SCAN_ROWS + 37, 27
    labels = [4, "b", 0, "a", 2, 1]
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[n // 2:n // 2 + 150] = x[:150]
    ops = [{"op": "add", "x": [float(v) for v in row], "label": labels[int(rng.integers(6))]} for row in x]
    for i in range(30):
        q = x[int(rng.integers(150))] if i % 2 else rng.standard_normal(d).astype(np.float32)
        q = q * np.float32([1e-3, 1, 1e3][i % 3])
        ops.append({"op": "predict", "x": [float(v) for v in q], "k": [1, 3, 5, KMAX, KMAX + 1, 40][i % 6]})
    want = reference(ops, tmp_path)
    assert_same(run_python(ops, KNNClassifier(device)), want, ops)
    knn_js = write_knn_js(tmp_path / "bundle")
    (tmp_path / "js_ops.json").write_text(json.dumps(ops))
    run = subprocess.run(["node", "run_knn.mjs", str(knn_js), str(tmp_path / "js_ops.json"),
                          str(tmp_path / "js.json")], cwd=JS_DIR, env=dict(node_env()), capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, f"node run_knn.mjs failed:\n{run.stderr[-3000:]}"
    assert_same(json.loads((tmp_path / "js.json").read_text())["results"], want, ops)


def test_neighbours_match_float64(device):
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, 40)).astype(np.float32) * rng.uniform(0.1, 10, (300, 1)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    knn = KNNClassifier(device)
    for label in range(5):   # knn-classifier's order: the classes concatenated, 0 first
        knn.add_example(x[y == label], label)
    order = np.concatenate([np.flatnonzero(y == c) for c in range(5)])
    q = rng.standard_normal((9, 40)).astype(np.float32)
    xs = x[order].astype(np.float64)
    sims = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (xs / np.linalg.norm(xs, axis=1, keepdims=True)).T
    want = np.argsort(-sims, axis=1, kind="stable")[:, :7]
    got = knn.neighbors(q, 7)
    # The same rows in the same order, except where two float64 similarities lie closer than float32 can tell
    # apart (seen: 1.1e-8): there either order is right, so the similarities, not the rows, must agree.
    rows = np.arange(len(q))[:, None]
    np.testing.assert_allclose(sims[rows, got], sims[rows, want], rtol=0, atol=1e-6)
    assert (got == want).mean() > 0.9, (got, want)
    results = knn.predict_class(q, 7)
    for r, picks in zip(results, got):
        votes = np.bincount(y[order][picks], minlength=5) / 7
        assert [r["confidences"][c] for c in range(5)] == list(votes)
        assert r["label"] == int(np.argmax(votes))


def test_scan_across_workgroups_ties_and_both_paths(device):
    """knn_scan + knn_merge (k <= KMAX) over several workgroups, a feature size that is not a multiple of 4
    and exact ties (duplicates under other classes, spread over many threads) against float64; the
    all-similarities path (k > KMAX) picks the same rows first: both use one dot product."""
    from wgslgrad.knn import KMAX, SCAN_ROWS
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    n, d = 3 * SCAN_ROWS + 37, 27
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[n // 2:n // 2 + 200] = x[:200]   # the same rows again, far from the first ones
    y = rng.integers(0, 6, n)
    knn = KNNClassifier(device)
    for label in (3, 0, 5, 1, 4, 2):
        knn.add_example(x[y == label], label)
    order = np.concatenate([np.flatnonzero(y == c) for c in range(6)])
    q = np.concatenate([x[rng.integers(0, 200, 3)] * 1e-30, rng.standard_normal((3, d)).astype(np.float32) * 1e30])
    xs = x[order].astype(np.float64)
    sims = q.astype(np.float64) @ (xs / np.linalg.norm(xs, axis=1, keepdims=True)).T
    want = np.argsort(-sims, axis=1, kind="stable")
    for k in (1, 5, KMAX, KMAX + 1, 40):
        np.testing.assert_array_equal(knn.neighbors(q, k), want[:, :k], err_msg=f"k={k}")
    for a, b in zip(knn.predict_class(q, KMAX), knn.predict_class(q, KMAX + 1)):
        assert a["label"] in b["confidences"] and sum(a["confidences"].values()) == pytest.approx(1)


def test_save_load_round_trip_and_corrupt_files(device, tmp_path):
    rng = np.random.default_rng(7)
    knn = KNNClassifier(device)
    for label in ["b", 5, "a", 1]:
        knn.add_example(rng.standard_normal((4, 12)), label)
    knn.clear_class("a")
    path = tmp_path / "ex.knn"
    knn.save(path)
    back = KNNClassifier.load(path, device)
    q = rng.standard_normal((6, 12))
    assert back.predict_class(q, 5) == knn.predict_class(q, 5)
    assert back.class_example_count() == {1: 4, 5: 4, "b": 4}
    assert back.class_index("a") == 2 and back.class_index(1) == 3   # class indices survive the file
    data = path.read_bytes()
    bad = {"garbage.knn": b"not a file at all", "short.knn": data[:-8],
           "other.knn": data.replace(b"wgslgrad-knn-1", b"wgslgrad-xyz-1")}
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(KNNError, match="not a saved KNN classifier"):
            KNNClassifier.load(tmp_path / name, device)
    with pytest.raises(KNNError, match="cannot read"):
        KNNClassifier.load(tmp_path / "missing.knn", device)


def test_bad_input_is_a_clear_error(device):
    knn = KNNClassifier(device)
    with pytest.raises(KNNError, match="no examples"):
        knn.predict_class(np.ones(8), 3)
    knn.add_example(np.ones(8), "a")
    knn.add_example(-np.ones(8), "b")
    with pytest.raises(KNNError, match="have 7 values but the stored examples have 8"):
        knn.predict_class(np.ones(7))
    with pytest.raises(KNNError, match="have 9 values but the stored examples have 8"):
        knn.add_example(np.ones(9), "a")
    for k in (0, -1, 2.5, True):
        with pytest.raises(KNNError, match="k must be a positive integer"):
            knn.predict_class(np.ones(8), k)
    with pytest.raises(KNNError, match="all zeros"):
        knn.add_example(np.zeros(8), "a")
    with pytest.raises(KNNError, match="NaN or Inf"):
        knn.predict_class(np.full(8, np.nan))
    with pytest.raises(KNNError, match="label must be an int or a str"):
        knn.add_example(np.ones(8), 1.5)
    with pytest.raises(KNNError, match="cannot clear class 'c'"):
        knn.clear_class("c")
    # k above the number of examples: knn-classifier counts min(k, examples) votes
    assert knn.predict_class(np.ones(8), 10) == {"label": "a", "class_index": 0, "confidences": {"a": 0.5, "b": 0.5}}
    knn.clear_all_classes()
    with pytest.raises(KNNError, match="no examples"):
        knn.predict_class(np.ones(8))
    with pytest.raises(KNNError, match="have 3 values"):   # the feature size outlives clear, as in knn-classifier
        knn.add_example(np.ones(3), "a")


def test_chromium_knn_js_with_indexeddb_and_file(device, tmp_path):
    """knn.js in headless Chromium (WebGPU on SwiftShader): the same answers as Python, kept in IndexedDB
    and read back into a new classifier (what a reloaded page does), and through the saved file's bytes."""
    import functools
    import threading
    from http.server import ThreadingHTTPServer

    from test_bundle import JS_DIR, _QuietHandler, ensure_chromium, npm_ready

    from wgslgrad.export.knn_js import write_knn_js
    npm_ready()
    ensure_chromium()
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    labels = ["rock", "paper", "scissors", 4]
    x = rng.standard_normal((24, 32)).astype(np.float32)
    queries = rng.standard_normal((6, 32)).astype(np.float32)
    adds = [{"x": [float(v) for v in row], "label": labels[i % 4]} for i, row in enumerate(x)]
    py = KNNClassifier(device)
    for a in adds:
        py.add_example(np.float32(a["x"]), a["label"])
    want = [{"label": str(r["label"]), "classIndex": r["class_index"],
             "confidences": {str(k): v for k, v in r["confidences"].items()}} for r in py.predict_class(queries, 5)]
    write_knn_js(tmp_path)
    shutil.copy(JS_DIR / "knn_page.html", tmp_path / "knn_page.html")
    (tmp_path / "knn_request.json").write_text(json.dumps(
        {"adds": adds, "queries": [[float(v) for v in q] for q in queries], "k": 5}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/knn_page.html"
        run = subprocess.run(["node", "run_chromium.mjs", str(tmp_path / "results.json"), "240000", url],
                             cwd=JS_DIR, capture_output=True, text=True, timeout=400, check=False)
    finally:
        server.shutdown()
    assert run.returncode == 0, f"run_chromium.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    result = json.loads((tmp_path / "results.json").read_text())[0]
    assert result["adapter"]["architecture"] == "swiftshader", result["adapter"]
    assert result["answers"] == want
    assert result["idbAnswers"] == want and result["fileAnswers"] == want and result["autosaved"] == want
    assert result["early"] == 12   # autosave had stored the first half when the "reload" read it
    assert result["idbCounts"] == {"4": 6, "rock": 6, "paper": 6, "scissors": 6}
    assert result["missing"] is None and result["idbBytes"] > 24 * 32 * 4


def test_knn_page_in_chromium(device, tmp_path):
    """examples/web/knn.html driven as a user would in headless Chromium: upload digit images and press Add
    per class, then a query image; the page's answer must be Python's KNNClassifier's on the same features
    and examples (its saved file); "Train head" trains the dense head bundle (backbone frozen) in the page:
    its losses, plotted, fall and are Python's on the same batches, and its answer is Python's; a reload
    keeps every example and picture (IndexedDB); the fake camera classifies live. Screenshots are kept beside the
    test's files (the path is printed)."""
    import functools
    import threading
    from http.server import ThreadingHTTPServer

    from PIL import Image
    from test_bundle import JS_DIR, _QuietHandler, ensure_chromium, npm_ready

    import wgslgrad
    from wgslgrad.datasets import digits
    npm_ready()
    ensure_chromium()
    root = Path(__file__).resolve().parent.parent
    web = tmp_path / "web"
    model = wgslgrad.compile(root / "examples" / "digits_backbone.py", seed=5)
    model.export(web, js=True, batch=1, knn=True)
    model.save_weights(tmp_path / "backbone.safetensors")

    def head_model() -> wgslgrad.Model:   # the backbone's weights under a fresh head, batch 4 (6 examples)
        head = wgslgrad.compile(root / "examples" / "digits_head.py", batch=4, seed=2)
        head.load_weights(tmp_path / "backbone.safetensors", skip=["head"])
        return head
    with pytest.warns(wgslgrad.BatchWarning):
        head_model().export(web / "head", js=True, train=True)
    shutil.copy(root / "examples" / "web" / "knn.html", web / "knn.html")
    _, test = digits()
    y = test["label"].argmax(-1)

    def png(i: int) -> str:
        path = tmp_path / f"digit{i}.png"
        Image.fromarray((test["pixels"][i, :, :, 0] * 255 / 16).astype(np.uint8)).resize((64, 64)).save(path)
        return str(path)

    adds = [[png(int(i)), c] for c, digit in enumerate([0, 1, 7]) for i in np.flatnonzero(y == digit)[:2]]
    request = {"adds": adds, "query": png(int(np.flatnonzero(y == 7)[5])), "trainSteps": 40, "trainLr": 0.1}
    (tmp_path / "request.json").write_text(json.dumps(request))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(web)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/knn.html?scale={16 / 255}&classes=zero,one,seven"
        run = subprocess.run(["node", "run_knn_page.mjs", url, str(tmp_path / "request.json"),
                              str(tmp_path / "result.json"), str(tmp_path)], cwd=JS_DIR, capture_output=True,
                             text=True, timeout=600, check=False)
    finally:
        server.shutdown()
    assert run.returncode == 0, f"run_knn_page.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    result = json.loads((tmp_path / "result.json").read_text())
    print(f"screenshots: {tmp_path / 'knn_page.png'} {tmp_path / 'knn_page_train.png'} "
          f"{tmp_path / 'knn_page_camera.png'}")
    assert result["status"].startswith('features: Output "features" [1,64]'), result["status"]
    (tmp_path / "page.knn").write_bytes(bytes(result["saved"]))
    knn = KNNClassifier.load(tmp_path / "page.knn", device)
    assert knn.class_example_count() == {"zero": 2, "one": 2, "seven": 2}
    r = knn.predict_class(np.float32(result["queryFeatures"]), 3)
    assert result["answer"] == {"label": r["label"], "classIndex": r["class_index"], "confidences": r["confidences"]}
    assert result["top"].startswith(f"{r['label']} (")
    assert len(result["bars"]) == 3 and all(b.startswith("2 examples, ") for b in result["bars"])
    assert result["countsAfterReload"] == {"zero": 2, "one": 2, "seven": 2}
    assert result["topAfterReload"] == "nothing to compare: this picture gives all-zero features"   # black pad
    assert result["cameraTop"].split(" (")[0] in {"zero", "one", "seven"}
    assert (tmp_path / "knn_page.png").stat().st_size > 1000 and (tmp_path / "knn_page_camera.png").exists()

    # the trained head: Python replays the page's batches (the pictures as the page made them) from the same
    # weights, and must get the same losses and the same answer for the query
    train = result["train"]
    losses = np.array(train["losses"])
    print(f"page head: {train['status']}; losses {np.round(losses[::5], 4).tolist()}")
    assert train["classes"] == 3 and train["batch"] == 4 and len(train["batches"]) == 40 and len(losses) == 40
    assert [e["cls"] for e in train["examples"]] == [c for _, c in adds]
    assert sorted(i for b in train["batches"][:3] for i in b) == sorted([*range(6)] * 2)   # each picture in turn
    assert losses[-5:].mean() < 0.5 * losses[:5].mean(), losses
    assert train["plotPixels"] > 100 and train["useHead"]
    assert (tmp_path / "knn_page_train.png").stat().st_size > 1000
    pixels = np.float32([e["pixels"] for e in train["examples"]]).reshape(-1, 8, 8, 1)
    onehot = np.eye(3, dtype=np.float32)[[e["cls"] for e in train["examples"]]]
    order = np.concatenate(train["batches"])
    head = head_model()
    history = head.fit({"pixels": pixels[order], "label": onehot[order]}, epochs=1, lr=0.1, shuffle=False,
                       verbose=False)
    np.testing.assert_allclose(losses, [loss for _, loss in history.steps], rtol=1e-4, atol=1e-5)
    query = np.float32(train["query"]).reshape(1, 8, 8, 1)
    want = head.predict({"pixels": query})["probabilities"][0]
    got = np.array([train["answer"]["confidences"][n] for n in ("zero", "one", "seven")])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert train["answer"]["label"] == ["zero", "one", "seven"][int(np.argmax(want))]
    assert train["top"].startswith(train["answer"]["label"] + " (")
    assert result["picturesAfterReload"] == train["examples"]   # the head's pictures came back from IndexedDB
