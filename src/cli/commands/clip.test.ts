// `v2l models stand-in-clip` then `v2l clip embed` end to end, and `v2l models list` on an empty cache.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../main.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const shared = (p: string) => fileURLToPath(new URL(`../../../../shared/${p}`, import.meta.url));
const merges = shared('models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
const dog = shared('data/photos/dog.jpg');
const skip = skipUnless([merges, dog], "CLIP's BPE merges and the sample photos");
const tmp = mkdtempSync(join(tmpdir(), 'v2l-cli-clip-'));
process.env.V2L_CACHE = join(tmp, 'cache'); // the CLIP fingerprint memo goes here, not to ~/.cache
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    await (await buildProgram()).exitOverride().parseAsync(['node', 'v2l', ...args]);
  } finally {
    [console.log, console.error] = [log, error];
  }
  return { out: out.join('\n'), err: err.join('\n') };
}

test('v2l models stand-in-clip, then v2l clip embed of an image and a text', { skip }, async () => {
  const dir = join(tmp, 'c');
  const made = await run('models', 'stand-in-clip', dir, '--merges', merges, '--layers', '1');
  assert.match(made.out, /STAND-IN CLIP written/);
  const r = await run('clip', 'embed', '--model', dir, dog, 'a photo of a dog', '--values', '3');
  assert.match(r.err, /STAND-IN/);
  const j = JSON.parse(r.out) as { standIn: boolean; warning: string; embeddings: { kind: string; dims: number; norm: number; values: number[] }[] };
  assert.equal(j.standIn, true);
  assert.match(j.warning, /stand-in/);
  assert.deepEqual(j.embeddings.map((e) => e.kind), ['image', 'text']);
  for (const e of j.embeddings) {
    assert.equal(e.dims, 768);
    assert.ok(Math.abs(e.norm - 1) < 1e-5);
    assert.equal(e.values.length, 3);
  }
  // One unreadable image: an error entry naming it, the others embedded, exit code 1.
  const bad = join(tmp, 'truncated.jpg');
  writeFileSync(bad, readFileSync(dog).subarray(0, 300));
  const partial = await run('clip', 'embed', '--model', dir, bad, dog, '--values', '1');
  const pj = JSON.parse(partial.out) as { embeddings: { input: string; error?: string; dims?: number }[] };
  assert.match(pj.embeddings[0].error ?? '', /truncated\.jpg/);
  assert.equal(pj.embeddings[1].dims, 768);
  assert.equal(process.exitCode, 1);
  process.exitCode = 0;
  const t = await run('clip', 'embed', '--model', dir, '--templates', 'goldfish');
  const norm = (JSON.parse(t.out) as { embeddings: { norm: number }[] }).embeddings[0].norm;
  assert.ok(norm < 1, 'the template ensemble mean is not re-normalised');
});

test('v2l models list on an empty cache lists the presets', async () => {
  const r = await run('models', 'list', '--cache', join(tmp, 'cache'), '--json');
  const j = JSON.parse(r.out) as { cached: unknown[]; presets: { name: string }[] };
  assert.deepEqual(j.cached, []);
  assert.ok(j.presets.some((p) => p.name === 'clip-vit-large-patch14'));
});
