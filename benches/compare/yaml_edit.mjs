// npm `yaml` side of the lossless-edit benchmark (see benches/README.md).
//
// Same edit set and output names as examples/corpus_edits.rs: for each named
// entry of `images:`, set `newTag`, and separately set `digest`, each on the
// original text, with parseDocument / setIn / toString (default options).
// Prints a JSON summary.

import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMap, isSeq, parseDocument } from 'yaml';

const TAG = 'v9.9.9-ferry';
const DIGEST = 'sha256:' + 'ab'.repeat(32);
const version = createRequire(import.meta.url)('yaml/package.json').version;

const { values: args } = parseArgs({
  options: {
    input: { type: 'string' },
    output: { type: 'string' },
    iterations: { type: 'string', default: '20' },
  },
});
const iterations = Number(args.iterations);

const files = readdirSync(args.input)
  .sort()
  .filter((name) => statSync(join(args.input, name)).isFile())
  .map((name) => [name, readFileSync(join(args.input, name), 'utf8')]);

// The edit set: [id, source text, entry index, key, value].
const edits = [];
const fileErrors = {};
for (const [name, src] of files) {
  const doc = parseDocument(src);
  if (doc.errors.length > 0) {
    fileErrors[name] = doc.errors[0].message;
    continue;
  }
  const images = isMap(doc.contents) ? doc.contents.get('images') : null;
  if (!isSeq(images)) continue;
  images.items.forEach((entry, i) => {
    if (isMap(entry) && entry.has('name')) {
      edits.push([`${name}.${i}.tag`, src, i, 'newTag', TAG]);
      edits.push([`${name}.${i}.digest`, src, i, 'digest', DIGEST]);
    }
  });
}

// One edit: parse, assign, emit.
function edit(src, index, key, value) {
  const doc = parseDocument(src);
  doc.setIn(['images', index, key], value);
  return doc.toString();
}

// One untimed pass writes the results (and warms up).
mkdirSync(args.output, { recursive: true });
const refused = {};
for (const [id, ...e] of edits) {
  try {
    writeFileSync(join(args.output, id), edit(...e));
  } catch (err) {
    refused[id] = String(err);
  }
}

const start = process.hrtime.bigint();
for (let n = 0; n < iterations; n++) {
  for (const [, ...e] of edits) {
    try {
      edit(...e);
    } catch {
      // recorded above
    }
  }
}
const elapsed = process.hrtime.bigint() - start;
const meanNs = Number(elapsed / BigInt(Math.max(1, edits.length * iterations)));

console.log(JSON.stringify({
  tool: 'yaml (npm)',
  version,
  edits: edits.length,
  iterations,
  mean_ns: meanNs,
  refused,
  file_errors: fileErrors,
}));
