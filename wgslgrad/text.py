"""Character-level text for sequence models: a vocabulary, the documentation text that ships with Python, data
windows, a unigram baseline, and sampling with a temperature from a compiled model (the bundle's sampler,
wgslgrad/export/text.js, draws the same characters from the same seed).

A model for `generate` has one Input of character ids [T] (the context) and an Output of logits [T, V], one
distribution over the next character at each position, V the vocabulary's size (examples/char_lstm.py).
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# newline and the 95 printable ASCII characters: the same ids whatever Python's documentation holds
ASCII = "\n" + "".join(chr(c) for c in range(32, 127))

# typographic characters of the documentation, spelled in ASCII
_PLAIN = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "--",
          "\u2026": "...", "\u00df": "ss", "\u00b0": " degrees", "\t": "    "}


class TextError(ValueError):
    """Text the model cannot take: an unknown character, a prompt longer than the context."""


def python_docs() -> str:
    """The text of the standard library's pydoc_data/topics.py (the help() topics), topics in their order,
    blank-line separated, as the running Python ships it."""
    import importlib
    topics = importlib.import_module("pydoc_data.topics").topics
    return "\n\n".join(topics[k].strip("\n") for k in topics) + "\n"


def to_vocab(text: str, vocab: str = ASCII) -> tuple[str, int]:
    """`text` with typographic characters spelled in ASCII and any other character outside `vocab` dropped;
    also the number dropped."""
    out = "".join(_PLAIN.get(ch, ch) for ch in text)
    known = set(vocab)
    kept = "".join(ch for ch in out if ch in known)
    return kept, len(out) - len(kept)


def encode(text: str, vocab: str = ASCII) -> np.ndarray:
    """Character ids (int64) of `text`; TextError naming the first character outside `vocab`."""
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index.get(ch, -1) for ch in text]
    if -1 in ids:
        at = ids.index(-1)
        raise TextError(f"unknown character {text[at]!r} (U+{ord(text[at]):04X}) at position {at} of the text: "
                        f"the model knows {_describe(vocab)}")
    return np.asarray(ids, np.int64)


def decode(ids: Sequence[int] | np.ndarray, vocab: str = ASCII) -> str:
    return "".join(vocab[int(i)] for i in ids)


def _describe(vocab: str) -> str:
    if vocab == ASCII:
        return "newline and the printable ASCII characters (' ' to '~')"
    return f"{len(vocab)} characters: {vocab!r}"


def split(text: str, block: int = 4096, every: int = 10) -> tuple[str, str]:
    """A deterministic train/held-out split: the text in blocks of `block` characters (smaller for a short
    text, so that at least 4 blocks are held out), every `every`-th block (the last of each run of `every`)
    held out."""
    block = max(64, min(block, len(text) // (4 * every)))
    blocks = [text[i:i + block] for i in range(0, len(text), block)]
    train = "".join(b for k, b in enumerate(blocks) if k % every != every - 1)
    held = "".join(b for k, b in enumerate(blocks) if k % every == every - 1)
    return train, held


def windows(ids: np.ndarray, length: int, vocab_size: int, stride: int | None = None) -> dict[str, np.ndarray]:
    """Training windows: "chars" [N, length] (ids as float32) and "next_chars" [N, length, vocab_size] (the
    following character at each position, one-hot uint8), windows `stride` apart (default: `length`)."""
    stride = stride or length
    starts = np.arange(0, len(ids) - length, stride)
    idx = starts[:, None] + np.arange(length)[None, :]
    nxt = ids[idx + 1]
    onehot = np.zeros((len(starts), length, vocab_size), np.uint8)
    np.put_along_axis(onehot, nxt[..., None], 1, axis=-1)
    return {"chars": ids[idx].astype(np.float32), "next_chars": onehot}


def unigram_loss(train_ids: np.ndarray, held_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy per character (nats) on `held_ids` of the character frequencies of `train_ids`
    (add-one smoothing, so a character unseen in training costs a finite amount)."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[held_ids].mean())


def char_data(length: int, limit: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train and held-out windows (see windows) of `length` characters of python_docs() in the ASCII
    vocabulary, split by split(); `limit` keeps the first `limit` characters of the text (a quick run)."""
    train, held = split(to_vocab(python_docs())[0][:limit])
    return (windows(encode(train), length, len(ASCII)), windows(encode(held), length, len(ASCII)))


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2.0)


# ---- sampling ----

class Mulberry32:
    """A small 32-bit PRNG (Tommy Ettinger's mulberry32) with the same numbers in Python and JavaScript, so the
    bundle's sampler draws the same characters as this one from the same seed."""

    def __init__(self, seed: int):
        self.state = int(seed) & 0xFFFFFFFF

    def __call__(self) -> float:
        """The next uniform draw in [0, 1), a multiple of 2**-32."""
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0


def _imul(a: int, b: int) -> int:
    return (a * b) & 0xFFFFFFFF


def sample(logits: np.ndarray, temperature: float, u: float) -> int:
    """The id drawn from softmax(logits / temperature) with the uniform draw `u` in [0, 1) (inverse CDF, in
    float64, as the bundle does); temperature 0 picks the most likely id."""
    z = np.asarray(logits, np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    w = np.exp((z - z.max()) / temperature)
    cdf = np.cumsum(w)
    return int(min(np.searchsorted(cdf, u * cdf[-1], side="right"), len(z) - 1))


def check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"temperature must be a number >= 0 (0: always the most likely character), not {temperature!r}")
    return t


def sequence_io(model: Any, vocab: str = ASCII, output: str | None = None) -> tuple[str, str, int]:
    """(ids Input name, logits Output name, context length T) of a model for generate(); ValueError when the
    spec has no Input [T] of ids or no Output [T, len(vocab)]."""
    ids = [k for k, s in model.inputs.items() if len(s) == 1 and k in model.needed_inputs()]
    if len(ids) != 1:
        raise ValueError(f"generate needs a spec with one Input of character ids [T] feeding its Outputs, got "
                         f"{_shapes(model.inputs)}")
    t = model.inputs[ids[0]][0]
    want = (t, len(vocab))
    outs = [k for k, s in model.outputs.items() if tuple(s) == want]
    if output is not None:
        if output not in model.outputs:
            raise ValueError(f"no Output named {output!r}; the spec's Outputs: {_shapes(model.outputs)}")
        if tuple(model.outputs[output]) != want:
            raise ValueError(f"Output {output!r} has shape {list(model.outputs[output])}, not [{t}, {len(vocab)}] "
                             f"(one distribution over the {len(vocab)}-character vocabulary per position)")
        outs = [output]
    if not outs:
        raise ValueError(f"generate needs an Output of logits [{t}, {len(vocab)}] (one distribution over the "
                         f"{len(vocab)}-character vocabulary per position of the Input {ids[0]!r}); the spec's "
                         f"Outputs: {_shapes(model.outputs)}")
    return ids[0], outs[0], t


def _shapes(d: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{k} {list(s)}" for k, s in d.items()) or "none"


def generate_ids(model: Any, prompt: str, n: int, temperature: float = 1.0, seed: int = 0,
                 vocab: str = ASCII, output: str | None = None) -> Iterator[int]:
    """Yield `n` character ids after `prompt`, one at a time (see generate)."""
    temperature = check_temperature(temperature)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, not {n!r}")
    name, out, t = sequence_io(model, vocab, output)
    context = list(encode(prompt or "\n", vocab))
    if len(context) > t:
        raise TextError(f"the prompt is {len(context)} characters long, more than the model's context of {t}: "
                        f"give at most {t} (the model reads the last {t} characters it has written)")
    rng = Mulberry32(seed)
    window = np.zeros((1, t), np.float32)
    for _ in range(n):
        k = len(context)
        window[0, :k] = context   # left-aligned: the positions after k do not reach position k-1 (causal)
        logits = model.predict({name: window}, batch_size=1)
        logits = logits[out] if isinstance(logits, dict) else logits
        nxt = sample(logits[0, k - 1], temperature, rng())
        yield nxt
        context = (context + [nxt])[-t:]


def generate(model: Any, prompt: str, n: int, temperature: float = 1.0, seed: int = 0, vocab: str = ASCII,
             output: str | None = None) -> str:
    """`n` characters sampled after `prompt` from a compiled model (wgslgrad.compile(spec) with its weights).

    Each character is drawn from softmax(logits / temperature) at the last position of the context: the prompt
    and what has been written so far, the last T characters once longer (T: the spec's context). Temperature 0
    always picks the most likely character; low temperatures are safe and repetitive, high ones inventive.
    `seed` seeds the Mulberry32 draws (the bundle's generate() gives the same text from the same seed). An
    empty prompt starts from a newline. Raises TextError for a character outside `vocab` or a prompt longer
    than T, ValueError for a bad temperature or n, or a spec without ids and logits (see sequence_io).
    """
    return decode(list(generate_ids(model, prompt, n, temperature, seed, vocab, output)), vocab)


TEXT_JS = "text.js"


def write_web_files(folder: str | os.PathLike[str], vocab: str = ASCII) -> list[Path]:
    """Write text.js (the bundle's sampler: TextGenerator, with the same draws as generate()) and vocab.json
    (the characters by id) into `folder`, beside a bundle's model.js."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / TEXT_JS
    shutil.copyfile(Path(__file__).parent / "export" / TEXT_JS, js)
    voc = folder / "vocab.json"
    voc.write_text(json.dumps(list(vocab)), encoding="utf-8")
    return [js, voc]
