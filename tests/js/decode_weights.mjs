// Decodes TF.js weight files with the bundle runtime's own loader (no GPU needed) and prints
// {name: [values]} as JSON into RESULT.json: tests/test_bundle.py compares it with read_weights.
//   node decode_weights.mjs MODEL_JSON_PATH RESULT.json
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadWeights } from '../../wgslgrad/export/runtime.js';

const weights = await loadWeights(pathToFileURL(path.resolve(process.argv[2])).href, null, { cache: false });
await writeFile(process.argv[3], JSON.stringify(Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Array.from(v)]))));
