// `import 'v2l/tokenizer'` must not load onnxruntime-node: it is imported when an onnx engine is built
// (load.ts), so a tfjs-only user, or a command that only reads weights, never pays for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./index.ts', import.meta.url));
// In a fresh process: import the entry, then list the packages in the CommonJS cache (onnxruntime-node
// is CommonJS, so an ESM import of it lands there too).
const probe = `
const { createRequire } = await import('node:module');
const require = createRequire(import.meta.url);
await import(${JSON.stringify(entry)});
const pkgs = new Set(Object.keys(require.cache).map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(p)?.[1]).filter(Boolean));
console.log(JSON.stringify([...pkgs]));
`;

test('importing v2l/tokenizer loads no onnxruntime (it loads when an onnx engine is built)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const loaded = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  assert.ok(!loaded.includes('onnxruntime-node') && !loaded.includes('onnxruntime-common'), `loaded: ${loaded.join(', ')}`);
});
