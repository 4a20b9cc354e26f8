// Text generation with a character model's bundle (model.js): the same characters as Python's
// wgslgrad.text.generate from the same seed (Mulberry32 draws, inverse-CDF sampling in float64).
// A model for it has one Input of character ids [T] (the context) and an Output of logits [T, V].
//
//   import { createModel } from './model.js';
//   import { TextGenerator } from './text.js';
//   const gen = new TextGenerator(await createModel(), { vocab: await (await fetch('vocab.json')).json() });
//   const text = await gen.generate('def ', 200, { temperature: 0.8, seed: 1 });

/** newline and the 95 printable ASCII characters: wgslgrad.text.ASCII */
export const ASCII = '\n' + Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

/** Mulberry32: uniform draws in [0, 1), multiples of 2**-32, equal to wgslgrad.text.Mulberry32's. */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6D2B79F5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The id drawn from softmax(logits / temperature) with the uniform draw u (temperature 0: the argmax). */
export function sample(logits, temperature, u) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature === 0) return best;
  const cdf = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    total += Math.exp((logits[i] - logits[best]) / temperature);
    cdf[i] = total;
  }
  const target = u * total;
  for (let i = 0; i < cdf.length; i++) if (cdf[i] > target) return i;
  return cdf.length - 1;
}

export class TextGenerator {
  /** model: a bundle's Model (batch 1); vocab: the characters by id (default ASCII); input/output: the ids
   *  Input and logits Output (default: the one Input of rank 1 and an Output [T, vocab.length]). */
  constructor(model, { vocab = ASCII, input, output } = {}) {
    this.model = model;
    this.vocab = typeof vocab === 'string' ? vocab : vocab.join('');
    const ids = input ?? Object.keys(model.inputs).find((n) => model.inputs[n].shape.length === 2);
    if (!ids) throw new Error('this model has no Input of character ids [T]');
    const [batch, t] = model.inputs[ids].shape;
    if (batch !== 1) throw new Error(`the bundle is compiled for batch ${batch}: export it with batch=1`);
    const want = `1,${t},${this.vocab.length}`;
    const out = output ?? Object.keys(model.outputs).find((n) => String(model.outputs[n].shape) === want);
    if (!out || String(model.outputs[out].shape) !== want) {
      throw new Error(`this model has no Output of logits [${t}, ${this.vocab.length}] (one distribution over the ` +
        `${this.vocab.length}-character vocabulary per position)`);
    }
    this.input = ids;
    this.output = out;
    this.context = t;
    this.index = new Map([...this.vocab].map((ch, i) => [ch, i]));
  }

  /** Character ids of `text`; an Error naming the first character outside the vocabulary. */
  encode(text) {
    return [...text].map((ch, at) => {
      const id = this.index.get(ch);
      if (id === undefined) {
        const code = ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
        throw new Error(`unknown character ${JSON.stringify(ch)} (U+${code}) at position ${at} of the text: ` +
          'the model does not know it');
      }
      return id;
    });
  }

  /** Yield n characters after `prompt`, one at a time (see generate). */
  async *stream(prompt, n, { temperature = 1, seed = 0, random } = {}) {
    if (!(temperature >= 0) || !Number.isFinite(temperature)) {
      throw new Error(`temperature must be a number >= 0 (0: always the most likely character), not ${temperature}`);
    }
    let context = this.encode(prompt || '\n');
    if (context.length > this.context) {
      throw new Error(`the prompt is ${context.length} characters long, more than the model's context of ` +
        `${this.context}: give at most ${this.context}`);
    }
    const draw = random ?? mulberry32(seed);
    const window = new Float32Array(this.context);
    const v = this.vocab.length;
    for (let i = 0; i < n; i++) {
      const k = context.length;
      window.set(context);   // left-aligned: positions after k do not reach position k - 1
      const logits = (await this.model.predict({ [this.input]: window }))[this.output];
      const next = sample(logits.subarray((k - 1) * v, k * v), temperature, draw());
      yield this.vocab[next];
      context = [...context, next].slice(-this.context);
    }
  }

  /** n characters sampled after `prompt`: each from softmax(logits / temperature) at the last position of
   *  the context (the prompt and what has been written, the last T characters once longer). `seed` seeds
   *  Mulberry32 (Python's wgslgrad.text.generate gives the same text), or `random` gives the draws. */
  async generate(prompt, n, options = {}) {
    let text = '';
    for await (const ch of this.stream(prompt, n, options)) text += ch;
    return text;
  }
}
