"""The Python API in one script: compile the digits spec, train it briefly, evaluate, predict, save and load the
weights, export a browser bundle.

    python3 examples/api_demo.py [OUT_DIR] [--quick]

--quick trains on 320 samples for 2 epochs (the test suite runs it so); without it, 1,437 samples for 4.
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

import wgslgrad
from wgslgrad.datasets import digits

args = [a for a in sys.argv[1:] if not a.startswith("--")]
quick = "--quick" in sys.argv
out = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="wgslgrad-demo-"))

# 1. Compile: the spec is parsed and checked (every error with file:line:col), weights initialised.
model = wgslgrad.compile(Path(__file__).with_name("digits.py"))
model.summary()

# 2. Train: data is a dict of arrays named after the spec's Inputs (or an .npz path).
train, test = digits()
if quick:
    train = {k: v[:320] for k, v in train.items()}


def report(epoch: int, step: int, loss: float, metrics: dict[str, float]) -> None:
    print(f"  callback: epoch {epoch}, step {step}, loss {loss:.3f}, held-out accuracy {metrics['val_accuracy']:.3f}")


model.fit(train, val=test, epochs=2 if quick else 4, callbacks=[report], patience=2, keep_best=True,
          out=out / "run", overwrite=True, verbose=False)   # a second demo run in OUT replaces the first

# 3. Evaluate and predict: any number of samples.
scores = model.evaluate(test)
print(f"held-out: loss {scores['loss']:.4f}, accuracy {scores['accuracy']:.4f}")
probs = model.predict(test["pixels"][:5])["probabilities"]     # two Outputs: a dict
print("first five predicted:", probs.argmax(-1).tolist(), "labels:", test["label"][:5].argmax(-1).tolist())

# 4. Save, load into a fresh model, and check that it answers the same.
model.save_weights(out / "digits.safetensors")
again = wgslgrad.compile(Path(__file__).with_name("digits.py"))
again.load_weights(out / "digits.safetensors")
same = np.array_equal(again.predict(test["pixels"][:5])["probabilities"], probs)
print(f"reloaded weights give the same answers: {same}")

# 5. Export: uint8 TF.js weights and a WebGPU ES module, one image at a time.
files = model.export(out / "web", quantize="uint8", js=True, batch=1)
print(f"exported to {out / 'web'}: " + ", ".join(f"{name} ({size:,} bytes)" for name, size in files.items()))
if not same:
    sys.exit("the reloaded weights answered differently")
