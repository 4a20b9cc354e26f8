"""Transfer learning end to end: a backbone trained on digits 0-6, then two heads for the unseen digits 7-9
learnt from a few examples each: a KNN head on its features, and a dense head trained with it frozen.

    python3 examples/transfer_digits.py [OUT_DIR] [--shots N] [--quick] [--seed S]

(OUT_DIR defaults to a new temporary folder; --shots defaults to 5, --seed to 0; "--shots 3" and
"--shots=3" are the same, and a bad option is a usage error, exit status 2.)

1. Train examples/digits_backbone.py on the 0-6 training digits; save its weights.
2. Features (its "features" Output, 64 values) of N training examples of each of 7, 8 and 9.
3. KNN head: add them to a wgslgrad.knn.KNNClassifier; classify the held-out 7-9 digits.
4. Dense head: examples/digits_head.py (the backbone with trainable=False) loads the backbone's weights,
   skipping its old head, and trains a new 3-way head on the same 3 x N examples; evaluate on held-out 7-9.
5. Export the backbone as a browser bundle with knn.js, and the KNN examples as a file knn.js loads; and in
   web/head/ an untrained head on the frozen backbone with its training step, for knn.html's "Train head".
Prints each accuracy as "RESULT name accuracy" (chance is 1/3 for 7-9). --quick (the test suite's run)
trains the backbone on 320 samples for 2 epochs and the head for 40 epochs instead of all ~1,000 for 6 and 60.
"""
import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import wgslgrad
from wgslgrad.datasets import digits
from wgslgrad.knn import KNNClassifier

HERE = Path(__file__).resolve().parent


def pick(data: dict, digits_wanted: list[int]) -> dict:
    """The samples of these digits, labels one-hot over them (in the order given)."""
    y = data["label"].argmax(-1)
    keep = np.isin(y, digits_wanted)
    remap = np.array([digits_wanted.index(d) if d in digits_wanted else -1 for d in range(10)])
    return {"pixels": data["pixels"][keep], "label": np.eye(len(digits_wanted), dtype=np.float32)[remap[y[keep]]]}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line (argparse: a usage error, exit status 2, for a bad option)."""
    def whole(least: int):
        def parse(text: str) -> int:
            value = int(text)   # a ValueError is argparse's "invalid value" usage error
            if value < least:
                raise argparse.ArgumentTypeError(f"must be {least} or more, not {value}")
            return value
        parse.__name__ = "whole number"
        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, help="the folder for the files (default: a new temporary one)")
    parser.add_argument("--shots", type=whole(1), default=5, help="training examples per new digit (default 5)")
    parser.add_argument("--quick", action="store_true", help="the test suite's short run")
    parser.add_argument("--seed", type=whole(0), default=0, help="the seed of weights, shuffles and picks (default 0)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> dict[str, float]:
    args = parse_args(argv)
    quick, shots, seed = args.quick, args.shots, args.seed
    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="wgslgrad-transfer-"))
    out.mkdir(parents=True, exist_ok=True)
    train, test = digits()
    old, new = [0, 1, 2, 3, 4, 5, 6], [7, 8, 9]
    results: dict[str, float] = {}

    # 1. the backbone, on 0-6 only
    backbone = wgslgrad.compile(HERE / "digits_backbone.py", seed=seed)
    old_train = pick(train, old)
    if quick:   # the test suite's run: 320 samples, 2 epochs (20 steps)
        old_train = {k: v[:320] for k, v in old_train.items()}
    backbone.fit(old_train, epochs=2 if quick else 6, seed=seed, verbose=False)
    results["backbone_0-6"] = backbone.evaluate(pick(test, old))["accuracy"]
    backbone.save_weights(out / "backbone.safetensors")

    # 2. a few examples of each new digit, and the held-out new digits
    rng = np.random.default_rng(seed)
    few_new = pick(train, new)
    y = few_new["label"].argmax(-1)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in range(3)])
    few = {k: v[idx] for k, v in few_new.items()}
    held = pick(test, new)
    few_features = backbone.features(few["pixels"], output="features")
    held_features = backbone.features(held["pixels"], output="features")

    # 3. the KNN head
    knn = KNNClassifier()
    for c, digit in enumerate(new):
        knn.add_example(few_features[few["label"].argmax(-1) == c], digit)
    guesses = [r["label"] for r in knn.predict_class(held_features, k=3)]
    truth = np.array(new)[held["label"].argmax(-1)]
    results["knn_7-9"] = float(np.mean(np.array(guesses) == truth))
    knn.save(out / "digits_7-9.knn")

    # 4. the dense head on the frozen backbone
    head = wgslgrad.compile(HERE / "digits_head.py", batch=len(idx), seed=seed)
    head.load_weights(out / "backbone.safetensors", skip=["head"])
    head.fit(few, epochs=40 if quick else 60, seed=seed, verbose=False)
    results["dense_head_7-9"] = head.evaluate(held)["accuracy"]
    frozen = {k: v for k, v in head.get_weights().items() if k.startswith("backbone/")}
    trained = backbone.get_weights()
    results["backbone_unchanged"] = float(all(np.array_equal(v, trained[k]) for k, v in frozen.items()))

    # 5. the page's pieces: the backbone bundle with knn.js beside it
    backbone.export(out / "web", js=True, batch=1, knn=True)
    page_head = wgslgrad.compile(HERE / "digits_head.py", batch=len(idx), seed=seed)
    page_head.load_weights(out / "backbone.safetensors", skip=["head"])
    with warnings.catch_warnings():   # a training batch of 3 x shots on purpose; the page predicts with row 0
        warnings.simplefilter("ignore", wgslgrad.BatchWarning)
        page_head.export(out / "web" / "head", js=True, train=True)
    for name, value in results.items():
        print(f"RESULT {name} {value:.4f}")
    print(f"{shots} examples per new digit; {len(held['pixels'])} held-out 7-9 digits; files in {out}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
