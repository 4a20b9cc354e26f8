"""Train examples/char_lstm.py on Python's documentation text and report the held-out loss per character
beside a unigram model's on the same split; sample text at a few temperatures; export the bundle for
examples/web/char_lstm.html.

    python3 examples/train_char_lstm.py [OUT] [--epochs N] [--limit CHARS]

OUT (default runs/char_lstm) gets run/ (checkpoint.safetensors, history.json, loss.png), report.json and
web/ (model.js, the weights, text.js, vocab.json): serve it beside the page with
`cp examples/web/char_lstm.html OUT/web/ && python3 -m http.server -d OUT/web 8000`.
--limit keeps the first CHARS characters of the text (a quick run); the test does that with a smaller spec.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import wgslgrad
from wgslgrad import text

SPEC = Path(__file__).with_name("char_lstm.py")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="?", default="runs/char_lstm", help="output folder (default runs/char_lstm)")
    p.add_argument("--spec", default=str(SPEC), help="the model spec (default examples/char_lstm.py)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the spec's Train(epochs=...))")
    p.add_argument("--limit", type=int, default=None, help="use only the first CHARS characters of the text")
    p.add_argument("--prompt", default="The ", help="prompt for the samples (default 'The ')")
    p.add_argument("--no-run", action="store_true", help="write no run/ folder (checkpoints, history, plot)")
    args = p.parse_args(argv)
    out = Path(args.out)

    model = wgslgrad.compile(args.spec)
    ids_name, _, length = text.sequence_io(model)
    train, held = text.split(text.to_vocab(text.python_docs())[0][:args.limit])
    train_ids, held_ids = text.encode(train), text.encode(held)
    train_data = text.windows(train_ids, length, len(text.ASCII))
    held_data = text.windows(held_ids, length, len(text.ASCII))
    unigram = text.unigram_loss(train_ids, held_ids, len(text.ASCII))
    print(f"text: {len(train):,} characters to train on, {len(held):,} held out "
          f"({len(train_data[ids_name]):,} and {len(held_data[ids_name]):,} windows of {length})")
    model.summary()

    t0 = time.perf_counter()
    model.fit(train_data, val=held_data, epochs=args.epochs, out=None if args.no_run else out / "run",
              overwrite=True, progress=True)
    seconds = time.perf_counter() - t0
    loss = model.evaluate(held_data)["loss"]
    print(f"trained in {seconds:.0f} s")
    print(f"held-out loss per character: {loss:.3f} nats ({text.nats_to_bits(loss):.3f} bits); "
          f"unigram model: {unigram:.3f} nats ({text.nats_to_bits(unigram):.3f} bits)")
    samples = {}
    for temperature in (0.5, 0.8, 1.0):
        samples[temperature] = text.generate(model, args.prompt, 200, temperature=temperature, seed=1)
        print(f"\n--- temperature {temperature}, prompt {args.prompt!r} ---\n{args.prompt}{samples[temperature]}")
    model.export(out / "web", js=True, batch=1)
    text.write_web_files(out / "web")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({
        "held_out_nats": loss, "unigram_nats": unigram, "train_seconds": seconds,
        "train_chars": len(train), "held_out_chars": len(held), "context": length,
        "samples": {str(k): v for k, v in samples.items()}}, indent=1))
    print(f"\nwrote {out}/run, {out}/web, {out}/report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
