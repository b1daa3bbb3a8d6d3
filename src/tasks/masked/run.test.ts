// Masked restoration and LoRA data end to end on stories260K (real, context 128) with the task fixture
// (random-weight network with an 8x8 grid, STAND-IN codebook and CLIP) and real COCO images, through the
// CLI (`v2l restore --task masked`, handed over by the restore command) and the library (`writeLoraData`).
// Checked: records and PNGs per image; a zero LoRA adapter gives the same predictions as none; a
// sequence longer than the context is refused naming it; the training sequences hold BOS + the global
// text + the encoded local ids, with labels only on the local ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskFixture } from '../test-utils/fixtures.js';
import { loraGgufBytes } from './lora-gguf.js';
import { maskPositions } from './mask.js';
import { querySeed } from '../shots.js';
import { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { tokenizerTokens } from '../image-tokens.js';
import { writeLoraData } from '../lora-data.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const IMAGES = sharedPath('data/coco-captions/images');
const skip = skipUnless([STORIES, IMAGES], 'stories260K and the COCO images');
const MAIN = new URL('../../cli/main.ts', import.meta.url).href;
const RUNNER = `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
const cwd = new URL('../../../', import.meta.url).pathname;
const v2l = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', '-e', RUNNER, ...args], { cwd, encoding: 'utf8' });

interface Rec { index: number; source: string; masked?: number[]; original?: number[]; predicted?: number[]; accuracy?: number; png?: string; error?: string }
const records = (dir: string) => readFileSync(join(dir, 'masked.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);

test('v2l restore --task masked on stories260K: records, PNGs, a zero LoRA changes nothing, the context is checked', { skip, timeout: 300_000 }, async () => {
  const fx = await taskFixture({ llm: 'stories260K', grid: 8 });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-masked-'));
  try {
    const zero = join(tmp, 'zero.gguf');
    const r = 4;
    writeFileSync(zero, loraGgufBytes({ architecture: 'llama', alpha: 32, tensors: [{ name: 'blk.0.attn_q.weight', nIn: 64, nOut: 64, rank: r, a: new Float32Array(r * 64).fill(0.1), b: new Float32Array(64 * r) }] }));
    const images = readdirSync(IMAGES).sort().slice(0, 3).map((f) => join(IMAGES, f));
    const bad = join(tmp, 'broken.jpg');
    writeFileSync(bad, 'not an image');
    const common = ['restore', '--task', 'masked', images[0]!, bad, images[1]!, '--checkpoint', fx.checkpoint, '--codebook', fx.codebook, '--clip', fx.clip,
      '--llm', STORIES, '--global-tokens', '3', '--seed', '2', '--quiet', '--cache-dir', join(tmp, 'cache')];
    const a = v2l([...common, '-o', join(tmp, 'a')]);
    assert.equal(a.status, 0, a.stderr);
    const s = JSON.parse(a.stdout) as { task: string; units: { done: number; failed: number }; figures: { maskedTokenAccuracy: number } };
    assert.equal(s.task, 'masked');
    assert.deepEqual([s.units.done, s.units.failed], [3, 1]);
    const ra = records(join(tmp, 'a'));
    assert.match(ra[1]!.error!, /broken\.jpg/);
    for (const rec of [ra[0]!, ra[2]!]) {
      assert.equal(rec.masked!.length, Math.round(0.3 * 64));
      assert.deepEqual(rec.masked, maskPositions(64, 0.3, querySeed(2, rec.index)));
      assert.equal(rec.predicted!.length, rec.masked!.length);
      assert.ok(rec.accuracy! >= 0 && rec.accuracy! <= 1);
      assert.ok(existsSync(rec.png!));
    }

    const b = v2l([...common, '--lora', zero, '--lora-scale', '2', '-o', join(tmp, 'b')]);
    assert.equal(b.status, 0, b.stderr);
    const rb = records(join(tmp, 'b'));
    assert.deepEqual(rb.map((x) => x.predicted), ra.map((x) => x.predicted));
    assert.match(readFileSync(join(tmp, 'b', 'masked.jsonl.run.json'), 'utf8'), /zero\.gguf/);

    // 16x16 local tokens do not fit stories260K's 128-token context.
    const fx16 = await taskFixture({ llm: 'stories260K', grid: 16 });
    const c = v2l(['restore', '--task', 'masked', images[0]!, '--checkpoint', fx16.checkpoint, '--codebook', fx16.codebook, '--clip', fx16.clip, '--llm', STORIES, '--global-tokens', '3', '--quiet', '-o', join(tmp, 'c'), '--cache-dir', join(tmp, 'cache')]);
    assert.notEqual(c.status, 0);
    assert.match(c.stderr, /the sequence is \d+ tokens \(global-token text and 256 local tokens\): more than the 128-token context/);
    const d = v2l([...common, '--lora', join(tmp, 'none.gguf'), '-o', join(tmp, 'd')]);
    assert.match(d.stderr, /--lora .*none\.gguf: no such file/);
    // A codebook built for stories260K's vocabulary is refused for another LLM before any work.
    const TINY = sharedPath('models/llama2-vocab-random-tiny/llama2-vocab-random-tiny.gguf');
    const e = v2l([...common.map((x) => (x === STORIES ? TINY : x)), '-o', join(tmp, 'e')]);
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /codebook .* does not match the models in use: it has 512 local rows .* the LLM in use has 32000 tokens/);
    assert.ok(!existsSync(join(tmp, 'e', 'masked.jsonl')));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('lora-data: BOS + global-token text + local ids, labels on the local ids only', { skip, timeout: 180_000 }, async () => {
  const fx = await taskFixture({ llm: 'stories260K', grid: 8 });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-lora-data-'));
  const llm = await LlamaCppLLM.load(STORIES, { vocabOnly: true });
  const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  try {
    const images = readdirSync(IMAGES).sort().slice(0, 2).map((f) => join(IMAGES, f));
    const tokens = tokenizerTokens(tok, { cacheDir: join(tmp, 'cache') });
    const out = join(tmp, 'data.jsonl');
    const s = await writeLoraData({ llm, tokens, images, k: 3, out, config: {} });
    assert.equal(s.units.done, 2);
    const enc = await tok.encode(images);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[]; attention_mask: number[]; global_text: string; local_tokens: number });
    const vocab = await llm.vocabulary();
    for (const [i, l] of lines.entries()) {
      const e = enc[i]!;
      assert.ok(!('error' in e));
      const local = 'local' in e ? e.local.ids.flat() : [];
      assert.equal(l.local_tokens, 64);
      assert.deepEqual(l.input_ids.slice(-64), local);
      assert.equal(l.input_ids[0], vocab.bos);
      assert.deepEqual(l.labels, [...l.input_ids.slice(0, -64).map(() => -100), ...local]);
      assert.equal(l.attention_mask.length, l.input_ids.length);
      assert.ok(l.global_text.endsWith('\n') && l.global_text.split(' ').length >= 3);
      assert.deepEqual(l.input_ids.slice(1, -64), await llm.tokenize(l.global_text));
    }
  } finally {
    await tok.dispose();
    await llm.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});
