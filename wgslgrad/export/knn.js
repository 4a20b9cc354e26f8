// wgslgrad KNN head for the browser and Node: @tensorflow-models/knn-classifier's answers from WebGPU
// kernels (the same WGSL as wgslgrad/knn.py, inlined below by export/knn_bundle.py). Examples are stored
// on the GPU as L2-normalised rows; a classification is one submit of one dispatch (knn_scan: every
// similarity, the matmul against all examples, keeping each thread's k best) whose candidates, k a thread,
// come back through a staging buffer kept between calls; the k best of those vote (mergeCandidates).
//
//   import { KNNClassifier } from './knn.js';
//   const knn = await KNNClassifier.create({ device: model.device });   // share the model's device
//   const { features } = await model.predict({ pixels });                // any Output of the model
//   knn.addExample(features, 'rock');
//   const { label, classIndex, confidences } = await knn.predictClass(features, 3);
//   await knn.saveToIndexedDB('my-examples');   // or knn.save('examples') -> bytes (and a download)
//
// Semantics are knn-classifier 1.2.6's: labels are object keys (strings); classes come in object-key order
// (integer-like ascending, then insertion order), which breaks ties; k above the number of examples
// counts min(k, examples) votes; a class keeps its classIndex after clearClass; the first example fixes
// the feature size. An all-zero or non-finite vector throws (knn-classifier would return NaN confidences).
// No dependencies; the file format is wgslgrad.knn's safetensors file, so Python and pages share examples.

const SHADERS = /*SHADERS*/ null;
// WG, GX, KMAX, SCAN_ROWS, SCAN_GROUPS: wgslgrad.knn's constants (see there)
const { WG, GX, KMAX, SCAN_ROWS, SCAN_GROUPS } = /*SIZES*/ null;
const FORMAT = 'wgslgrad-knn-1';
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, UNIFORM = 0x40, STORAGE = 0x80, MAP_MODE_READ = 0x1;

/** A flat Float32Array of numbers from an array, typed array or TF.js-like tensor (dataSync()). */
function vector(x, what) {
  const v = Float32Array.from(typeof x?.dataSync === 'function' ? x.dataSync() : x);
  if (v.length === 0) throw new Error(`${what}: the features are empty`);
  let nonzero = false;
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new Error(`${what}: the features hold NaN or Inf (value ${i})`);
    if (v[i] !== 0) nonzero = true;
  }
  if (!nonzero) {
    throw new Error(`${what}: the features are all zeros: they have no direction to compare ` +
      '(knn-classifier would give NaN similarities)');
  }
  return v;
}

export class KNNClassifier {
  /** A classifier on `device` (e.g. a bundle model's model.device), else on a newly requested one. */
  static async create({ device } = {}) {
    if (!device) {
      const adapter = await globalThis.navigator?.gpu?.requestAdapter();
      if (!adapter) throw new Error('WebGPU is not available: pass { device }');
      device = await adapter.requestDevice();
    }
    return new KNNClassifier(device);
  }

  constructor(device) {
    this.device = device;
    this.dim = null;
    this.counts = {};          // label -> examples, in knn-classifier's class order (an object's key order)
    this.slots = [];           // class slot -> label; rows name their class by slot
    this.classIds = {};        // label -> classIndex, never forgotten (knn-classifier's labelToClassId)
    this.nextClassId = 0;
    this.rows = new Uint32Array(0);   // row -> class slot, rows in insertion order
    this.n = 0;
    this.cap = 0;
    this.buffers = {};
    this.bindGroups = new Map();
    this.pipelines = null;
    this.staging = null;
    this.busy = Promise.resolve();
    this.autosaveKey = null;   // see autosave()
    this.saving = null;
    this.dirty = false;
  }

  get numExamples() { return this.n; }
  getNumClasses() { return Object.keys(this.counts).length; }
  getClassExampleCount() { return { ...this.counts }; }

  /** Store one example under `label` (a string or number, used as its string). */
  addExample(features, label) {
    const v = vector(features, 'addExample');
    this.checkSize(v.length, 'addExample');
    this.append(v, 1, String(label), true);
    this.changed();
  }

  /** Remove every example of `label`; throws if it has none, as knn-classifier does. */
  clearClass(label) {
    const key = String(label);
    if (!(key in this.counts)) throw new Error(`Cannot clear invalid class ${key}`);
    const slot = this.slots.indexOf(key);
    const keep = [];
    for (let r = 0; r < this.n; r++) if (this.rows[r] !== slot) keep.push(r);
    if (keep.length) {   // runs of kept rows move down in order: rows keep their insertion order
      const old = this.buffers.examples, bytes = 4 * this.dim;
      const fresh = this.device.createBuffer({ label: 'knn_examples', size: old.size, usage: old.usage });
      const encoder = this.device.createCommandEncoder();
      for (let i = 0, at = 0; i < keep.length;) {
        let j = i + 1;
        while (j < keep.length && keep[j] === keep[j - 1] + 1) j++;
        encoder.copyBufferToBuffer(old, keep[i] * bytes, fresh, at * bytes, (j - i) * bytes);
        at += j - i;
        i = j;
      }
      this.device.queue.submit([encoder.finish()]);
      old.destroy?.();
      this.buffers.examples = fresh;
      this.bindGroups.clear();
    }
    const rows = new Uint32Array(this.cap);   // room kept for the appends to come
    keep.forEach((r, i) => { rows[i] = this.rows[r] > slot ? this.rows[r] - 1 : this.rows[r]; });
    this.rows = rows;
    this.n = keep.length;
    this.slots.splice(slot, 1);
    delete this.counts[key];
    if (this.n) this.device.queue.writeBuffer(this.buffers.rowClass, 0, this.rows, 0, this.n);
    this.writeRanks();
    this.changed();
  }

  clearAllClasses() {
    for (const label of Object.keys(this.counts)) this.clearClass(label);
  }

  /** Classify one query: resolves to {label, classIndex, confidences: {label: votes / min(k, examples)}}. */
  predictClass(features, k = 3) {
    try {
      if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, not ${k}`);
      if (this.n === 0) {
        throw new Error('You have not added any examples to the KNN classifier. ' +
          'Please add examples before calling predictClass.');
      }
      const v = vector(features, 'predictClass');
      this.checkSize(v.length, 'predictClass');
      const result = this.busy.then(() => this.run(v, Math.min(k, this.n)));
      this.busy = result.catch(() => {});
      return result;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The examples as wgslgrad.knn's safetensors file (bytes); in a page also downloaded as `${name}.knn`. */
  async save(name = 'examples') {
    const bytes = await this.toBytes();
    if (typeof document !== 'undefined') {
      const a = Object.assign(document.createElement('a'), {
        href: URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' })), download: `${name}.knn` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    }
    return bytes;
  }

  /** The examples as wgslgrad.knn's safetensors file: examples [N, D] (knn-classifier's row order),
   *  classes [N], and metadata format, dim, labels (class order) and class_ids. */
  async toBytes() {
    // a snapshot taken before the read-back awaits: changes made meanwhile belong to the next save
    const order = Object.keys(this.counts), d = this.dim ?? 0, n = this.n, slots = [...this.slots];
    const rows = this.rows.slice(0, n), ids = { ...this.classIds };
    const flat = n ? await this.read(this.buffers.examples, 4 * n * d, Float32Array) : new Float32Array(0);
    const examples = new Float32Array(n * d), classes = new Int32Array(n);
    let at = 0;
    order.forEach((label, c) => {   // knn-classifier's matrix: the classes concatenated in key order
      const slot = slots.indexOf(label);
      for (let r = 0; r < n; r++) {
        if (rows[r] !== slot) continue;
        examples.set(flat.subarray(r * d, (r + 1) * d), at * d);
        classes[at++] = c;
      }
    });
    const metadata = { format: FORMAT, dim: String(d), labels: JSON.stringify(order),
      class_ids: JSON.stringify(ids) };
    const header = { examples: { dtype: 'F32', shape: [n, d], data_offsets: [0, examples.byteLength] },
      classes: { dtype: 'I32', shape: [n], data_offsets: [examples.byteLength, examples.byteLength + classes.byteLength] },
      __metadata__: metadata };
    let text = JSON.stringify(header);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const head = new TextEncoder().encode(text);
    const bytes = new Uint8Array(8 + head.length + examples.byteLength + classes.byteLength);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(head.length), true);
    bytes.set(head, 8);
    bytes.set(new Uint8Array(examples.buffer), 8 + head.length);
    bytes.set(new Uint8Array(classes.buffer), 8 + head.length + examples.byteLength);
    return bytes;
  }

  /** A classifier holding the examples of a saved file: bytes (ArrayBuffer, Uint8Array) or a URL. */
  static async load(source, { device } = {}) {
    let bytes = source;
    if (typeof source === 'string' || source instanceof URL) {
      const response = await fetch(source);
      if (!response.ok) throw new Error(`cannot fetch ${source}: HTTP ${response.status}`);
      bytes = await response.arrayBuffer();
    }
    // a plain Uint8Array view (Node's Buffer.slice would not copy, and .buffer is its whole pool)
    bytes = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
    const { examples, classes, labels, ids, dim } = parse(bytes);
    const knn = await KNNClassifier.create({ device });
    knn.dim = dim;
    for (const [label, id] of Object.entries(ids)) knn.classIds[label] = id;
    knn.nextClassId = Math.max(-1, ...Object.values(ids)) + 1;
    labels.forEach((label, c) => {
      const idx = [];
      classes.forEach((cls, r) => { if (cls === c) idx.push(r); });
      if (!idx.length) return;
      const rows = new Float32Array(idx.length * dim);
      idx.forEach((r, i) => rows.set(examples.subarray(r * dim, (r + 1) * dim), i * dim));
      knn.append(rows, idx.length, String(label), false);
    });
    return knn;
  }

  /** From now on, keep the examples in IndexedDB under `key` after every change (addExample, clearClass),
   *  so a page that reloads, even in the middle of adding examples, gets back all it had added:
   *  `const knn = await KNNClassifier.loadFromIndexedDB(key) ?? await KNNClassifier.create();
   *  knn.autosave(key);`. Writes are coalesced (one in flight, then one with the latest state); flush()
   *  resolves once the last change is stored. null stops it. */
  autosave(key = 'knn') {
    this.autosaveKey = key;
    if (key !== null) this.changed();
    return this;
  }

  /** Resolves once every change so far is in IndexedDB (with autosave on). */
  flush() {
    return this.saving ?? Promise.resolve();
  }

  changed() {
    if (!this.autosaveKey) return;
    this.dirty = true;
    this.saving ??= (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          await this.saveToIndexedDB(this.autosaveKey);
        }
      } finally {
        this.saving = null;
      }
    })();
  }

  /** Keep the examples in IndexedDB under `key` (the saved file's bytes); loadFromIndexedDB reads them. */
  async saveToIndexedDB(key = 'knn') {
    const bytes = await this.toBytes();
    await idb('readwrite', (store) => store.put(bytes, key));
    return bytes.length;
  }

  /** The classifier saved under `key`, or null when there is none. */
  static async loadFromIndexedDB(key = 'knn', { device } = {}) {
    const bytes = await idb('readonly', (store) => store.get(key));
    return bytes ? KNNClassifier.load(bytes, { device }) : null;
  }

  dispose() {
    for (const b of Object.values(this.buffers)) b.destroy?.();
    this.staging?.destroy?.();
    this.buffers = {};
    this.staging = null;
    this.bindGroups.clear();
  }

  // -- internals -------------------------------------------------------------------------------------
  checkSize(d, what) {
    if (this.dim === null) this.dim = d;
    else if (d !== this.dim) {
      throw new Error(`${what}: the features have ${d} values but the stored examples have ${this.dim} ` +
        '(every example and query of a classifier has one feature size)');
    }
  }

  append(rows, count, key, normalize) {
    const n0 = this.n;
    this.reserve(n0 + count);   // first: an error here leaves the classifier as it was
    if (!(key in this.classIds)) this.classIds[key] = this.nextClassId++;
    if (!this.slots.includes(key)) this.slots.push(key);
    this.counts[key] = (this.counts[key] ?? 0) + count;
    const { queue } = this.device;
    queue.writeBuffer(this.buffers.examples, 4 * n0 * this.dim, rows);
    const slot = this.slots.indexOf(key);
    this.rows.fill(slot, n0, n0 + count);
    queue.writeBuffer(this.buffers.rowClass, 4 * n0, this.rows, n0, count);
    this.n = n0 + count;
    this.writeRanks();
    if (!normalize) return;
    this.uniform('uAdd', { n: this.n, first: n0, count });
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.dispatch(pass, 'normalize', 'examples', [Math.min(count, GX), Math.ceil(count / GX), 1]);
    pass.end();
    queue.submit([encoder.finish()]);
  }

  writeRanks() {
    const order = Object.keys(this.counts);
    const ranks = new Uint32Array(Math.max(this.slots.length, 1));
    this.slots.forEach((label, s) => { ranks[s] = order.indexOf(label); });
    this.ranks = ranks;   // for mergeCandidates
    this.ensure('classRank', 4 * ranks.length);
    this.device.queue.writeBuffer(this.buffers.classRank, 0, ranks);
  }

  reserve(n) {
    if (n <= this.cap) return;
    let cap = Math.max(64, this.cap);
    while (cap < n) cap *= 2;
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (4 * cap * this.dim > limit) {
      throw new Error(`${n} examples of ${this.dim} values need more than this device binds (${limit} bytes)`);
    }
    this.ensure('examples', 4 * cap * this.dim, true);
    this.ensure('rowClass', 4 * cap, true);
    const rows = new Uint32Array(cap);
    rows.set(this.rows.subarray(0, this.n));
    this.rows = rows;
    this.cap = cap;
  }

  ensure(name, size, keep = false) {
    const old = this.buffers[name];
    if (old && old.size >= size) return;
    const fresh = this.device.createBuffer({ label: `knn_${name}`, size: Math.max(16, Math.ceil(size / 4) * 4),
      usage: STORAGE | COPY_SRC | COPY_DST });
    if (keep && old) {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(old, 0, fresh, 0, old.size);
      this.device.queue.submit([encoder.finish()]);
    }
    old?.destroy?.();
    this.buffers[name] = fresh;
    this.bindGroups.clear();
  }

  uniform(name, values) {
    this.buffers[name] ??= this.device.createBuffer({ label: `knn_${name}`, size: 32, usage: UNIFORM | COPY_DST });
    const fields = ['n', 'd', 'q', 'k', 'classes', 'first', 'count', 'pad'];
    const data = { d: this.dim ?? 0, ...values };
    this.device.queue.writeBuffer(this.buffers[name], 0, Uint32Array.from(fields, (f) => data[f] ?? 0));
  }

  dispatch(pass, kernel, target, groups) {
    if (!this.pipelines) {
      this.pipelines = Object.fromEntries(Object.entries(SHADERS).map(([name, code]) => [name,
        this.device.createComputePipeline({ label: `knn_${name}`, layout: 'auto',
          compute: { module: this.device.createShaderModule({ label: `knn_${name}`, code }), entryPoint: 'main' } })]));
    }
    const key = `${kernel}:${target}`;
    if (!this.bindGroups.has(key)) {
      const uniform = target === 'examples' ? 'uAdd' : 'uRun';
      const names = { normalize: [uniform, target],
        scan: [uniform, 'examples', 'queries', 'rowClass', 'classRank', 'cand'],
        similarity: [uniform, 'examples', 'queries', 'sims'],
        topk: [uniform, 'sims', 'rowClass', 'classRank', 'picks', 'votes'] }[kernel];
      this.bindGroups.set(key, this.device.createBindGroup({ layout: this.pipelines[kernel].getBindGroupLayout(0),
        entries: names.map((b, j) => ({ binding: j, resource: { buffer: this.buffers[b] } })) }));
    }
    pass.setPipeline(this.pipelines[kernel]);
    pass.setBindGroup(0, this.bindGroups.get(key));
    pass.dispatchWorkgroups(...groups);
  }

  async run(query, kval) {
    const c = this.slots.length, { device } = this, n = this.n;
    // knn_scan for k up to KMAX (k candidates a thread, merged here), else every similarity and knn_topk
    const scan = kval <= KMAX, groups = Math.min(SCAN_GROUPS, Math.max(1, Math.ceil(n / SCAN_ROWS)));
    const count = groups * WG * kval;
    this.ensure('queries', 4 * this.dim);
    if (scan) this.ensure('cand', 8 * count);
    else {
      this.ensure('sims', 4 * this.cap);
      this.ensure('picks', 4 * kval);
      this.ensure('votes', 4 * c);
    }
    this.uniform('uRun', { n, q: 1, k: kval, classes: c, first: 0, count });
    device.queue.writeBuffer(this.buffers.queries, 0, scaled(query));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    if (scan) this.dispatch(pass, 'scan', 'queries', [groups, 1, 1]);
    else {
      this.dispatch(pass, 'similarity', 'queries', [Math.ceil(n / WG), 1, 1]);
      this.dispatch(pass, 'topk', 'queries', [1, 1, 1]);
    }
    pass.end();
    // the answer comes back in the same submit, through a staging buffer kept between calls (run() calls
    // are serialized by predictClass, so one is enough)
    const bytes = scan ? 8 * count : 4 * c;
    if (!this.staging || this.staging.size < bytes) {
      this.staging?.destroy?.();
      this.staging = device.createBuffer({ label: 'knn_staging', size: Math.max(256, 2 * bytes),
        usage: MAP_READ | COPY_DST });
    }
    encoder.copyBufferToBuffer(scan ? this.buffers.cand : this.buffers.votes, 0, this.staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await this.staging.mapAsync(MAP_MODE_READ, 0, bytes);
    const data = this.staging.getMappedRange(0, bytes).slice(0);
    this.staging.unmap();
    const votes = scan ? mergeCandidates(data, kval, this.rows, this.ranks, c) : new Uint32Array(data);
    const confidences = {};
    let top, best = 0;
    for (const label of Object.keys(this.counts)) {   // calculateTopClass: the first strictly best wins
      const p = votes[this.slots.indexOf(label)] / kval;
      if (p > best) { best = p; top = label; }
      confidences[label] = p;
    }
    return { label: top, classIndex: this.classIds[top], confidences };
  }

  async read(buffer, bytes, Type) {
    const staging = this.device.createBuffer({ size: Math.max(bytes, 4), usage: MAP_READ | COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, Math.max(bytes, 4));
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(MAP_MODE_READ);
    const out = new Type(staging.getMappedRange().slice(0, bytes));
    staging.unmap();
    staging.destroy?.();
    return out;
  }
}

/** knn_scan's candidates (pairs: bits of the similarity, row; row NONE for none) -> the votes by class
 *  slot of their k best in knn-classifier's order: similarity descending, then class rank, then row (the
 *  order of kernels/knn_order.wgsl; wgslgrad.knn.merge_candidates is the same). */
function mergeCandidates(data, k, rowClass, ranks, classes) {
  const u = new Uint32Array(data), f = new Float32Array(data);
  const best = [];   // [v, rank, row], sorted, at most k
  const before = (a, b) => (a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2]);
  for (let i = 0; i < u.length; i += 2) {
    const row = u[i + 1];
    if (row === 0xffffffff) continue;
    if (best.length === k && f[i] < best[k - 1][0]) continue;
    const e = [f[i], ranks[rowClass[row]], row];
    if (best.length === k && !before(e, best[k - 1])) continue;
    let j = Math.min(best.length, k - 1);
    best[j] = e;
    for (; j > 0 && before(e, best[j - 1]); j--) [best[j], best[j - 1]] = [best[j - 1], e];
  }
  const votes = new Uint32Array(classes);
  for (const [, , row] of best) votes[rowClass[row]]++;
  return votes;
}

/** The query times a power of two (exact) bringing its largest magnitude into [1, 2) (wgslgrad.knn's
 *  scale_queries): its similarities keep their order, and their sums neither overflow nor vanish. */
function scaled(v) {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  const s = 2 ** -Math.floor(Math.log2(m));
  return v.map((x) => x * s);
}

/** Read and check a saved classifier's bytes (wgslgrad.knn's safetensors file). */
function parse(bytes) {
  const bad = (msg) => new Error(`not a saved KNN classifier: ${msg}`);
  if (bytes.length < 8) throw bad('the file is too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = Number(view.getBigUint64(0, true));
  if (size > bytes.length - 8) throw bad('its header runs past the end');
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + size)));
  } catch (e) {
    throw bad(`its header is not JSON (${e.message})`);
  }
  const meta = header.__metadata__ ?? {};
  if (meta.format !== FORMAT) throw bad(`its format is ${meta.format}, expected ${FORMAT}`);
  const dim = Number(meta.dim), labels = JSON.parse(meta.labels ?? 'null'), ids = JSON.parse(meta.class_ids ?? 'null');
  if (!Number.isInteger(dim) || dim < 1 || !Array.isArray(labels) || !ids || typeof ids !== 'object') {
    throw bad('its metadata lacks dim, labels or class_ids');
  }
  const tensor = (name, dtype, Type) => {
    const t = header[name];
    if (!t || t.dtype !== dtype) throw bad(`it has no ${dtype} tensor ${name}`);
    const [a, b] = t.data_offsets, start = 8 + size + a;
    if (b - a !== Type.BYTES_PER_ELEMENT * t.shape.reduce((x, y) => x * y, 1) || 8 + size + b > bytes.length) {
      throw bad(`tensor ${name} does not fit the file`);
    }
    return { shape: t.shape, data: new Type(bytes.slice(start, 8 + size + b).buffer) };
  };
  const examples = tensor('examples', 'F32', Float32Array), classes = tensor('classes', 'I32', Int32Array);
  const n = examples.shape[0];
  if (examples.shape.length !== 2 || examples.shape[1] !== dim || classes.shape[0] !== n) {
    throw bad('examples must be [N, dim] and classes [N]');
  }
  if (classes.data.some((c) => c < 0 || c >= labels.length)) throw bad('classes must index the labels');
  if (labels.some((l) => !(String(l) in ids))) throw bad('class_ids must give every label its class index');
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += examples.data[r * dim + j] ** 2;
    if (!(Math.abs(Math.sqrt(s) - 1) <= 1e-3)) throw bad(`example ${r} is not a unit row`);
  }
  return { examples: examples.data, classes: classes.data, labels, ids, dim };
}

/** One IndexedDB transaction on the object store 'knn' of database 'wgslgrad-knn'. */
function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    if (!globalThis.indexedDB) { reject(new Error('IndexedDB is not available here')); return; }
    const open = indexedDB.open('wgslgrad-knn', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('knn');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('knn', mode);
      const req = fn(tx.objectStore('knn'));
      tx.oncomplete = () => { open.result.close(); resolve(req.result); };
      tx.onerror = () => { open.result.close(); reject(tx.error); };
    };
  });
}

export default KNNClassifier;
