// `eval restoration` over the restore library with a deterministic test LLM, the LLaMA-2-vocabulary task
// fixture and STAND-IN scoring networks (figures meaningless): every task scored, an unreadable image
// named per task, shards merged equal the unsplit run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { taskFixture, FIXTURE_LLMS } from '../tasks/test-utils/fixtures.js';
import { RecordingLLM } from '../tasks/restore/test-utils/llm.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { writeStandInInception } from './stand-in-inception.js';
import { evaluateRestoration, type RestorationEvalOptions, type RestorationResult } from './restoration.js';
import { mergeEvaluations } from './merge.js';

const PHOTOS = ['coffee.png', 'giraffe.jpg', 'cat.bmp', 'dog.jpg'].map((p) => sharedPath(`data/photos/${p}`));
const HEADS = sharedPath('models/lpips/v0.1_json/alex.json');
const skip = skipUnless([FIXTURE_LLMS['llama2-vocab-random-tiny'], HEADS, ...PHOTOS], 'the LLaMA-2-vocabulary GGUF, LPIPS heads and ../shared photos');

let dir = '';
let tok: V2LTokenizer;
let base: Omit<RestorationEvalOptions, 'out'>;
let unsplit: RestorationResult;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-eval-restore-'));
  const fx = await taskFixture({ llm: 'llama2-vocab-random-tiny' });
  tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  writeFileSync(join(dir, 'broken.png'), 'not an image');
  base = {
    tokenizer: tok, llm: new RecordingLLM(32000), images: [PHOTOS[0], PHOTOS[1], join(dir, 'broken.png'), PHOTOS[2], PHOTOS[3]],
    tasks: ['inpainting', 'rotation'], protocol: 'reference', inception: writeStandInInception(join(dir, 'inception'), { dim: 32 }),
    lpipsBackbone: 'stand-in', lpipsHeads: HEADS, batchSize: 2, saveEvery: 0,
  };
  unsplit = await evaluateRestoration({ ...base, out: join(dir, 'whole') });
});

after(async () => {
  await tok?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('restoration: both tasks scored, the unreadable image named per task, table files written', { skip }, () => {
  assert.deepEqual(unsplit.tasks.map((t) => t.task), ['inpainting', 'rotation']);
  for (const t of unsplit.tasks) {
    assert.equal(t.evaluated, 4);
    for (const v of [t.fid!, t.lpips, t.lpipsReference, t.psnrY, t.ssim]) assert.ok(Number.isFinite(v), `${t.task}: ${v}`);
  }
  assert.equal(unsplit.failures.length, 2);
  assert.ok(unsplit.failures.every((f) => f.source.endsWith('broken.png')));
  assert.equal(unsplit.meaningless, true);
  assert.ok(unsplit.notes.some((n) => /LEAKS/.test(n)));
  const md = readFileSync(join(dir, 'whole', 'table4.md'), 'utf8');
  assert.match(md, /13\.13 \/ 0\.1219/);
  assert.ok(existsSync(join(dir, 'whole', 'table4.png')));
});

test('restoration: shards 0/2 and 1/2 merged equal the unsplit run', { skip }, async () => {
  await evaluateRestoration({ ...base, out: join(dir, 's0'), shard: { index: 0, count: 2 } });
  await evaluateRestoration({ ...base, out: join(dir, 's1'), shard: { index: 1, count: 2 } });
  const { result } = await mergeEvaluations([join(dir, 's0'), join(dir, 's1')], join(dir, 'merged'));
  const m = result as RestorationResult;
  m.tasks.forEach((t, i) => {
    const u = unsplit.tasks[i];
    assert.ok(Math.abs(t.fid! - u.fid!) <= 1e-9 * Math.abs(u.fid!), `${t.fid} vs ${u.fid}`);
    for (const k of ['lpips', 'lpipsReference', 'psnrY', 'ssim'] as const) assert.ok(Math.abs(t[k] - u[k]) <= 1e-12 * Math.abs(u[k]), `${k}`);
  });
  assert.deepEqual(m.failures.map((f) => f.source), unsplit.failures.map((f) => f.source));
});
