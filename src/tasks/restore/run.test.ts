// Restoration of real image files with the test fixture's tokenizer (tiny random network, stand-in CLIP):
// the clean protocol never lets a clean query token reach the LLM or the decoder (the query's clean
// crop is encoded to sentinel ids that occur nowhere else; the reference protocol, which leaks, shows
// them), an unreadable image is a failed record and the run goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { loadImage } from '../../image/load.js';
import { resizeAndCrop } from '../../image/preprocess.js';
import type { RawImage } from '../../models/clip/types.js';
import { taskFixture, FIXTURE_LLMS } from '../test-utils/fixtures.js';
import { restoreImages, restoreToDir, type RestoreRecord } from './run.js';
import { RecordingLLM } from './test-utils/llm.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const PHOTOS = ['coffee.png', 'giraffe.jpg', 'cat.bmp', 'dog.jpg'].map((p) => sharedPath(`data/photos/${p}`));
const skip = skipUnless([FIXTURE_LLMS['llama2-vocab-random-tiny'], ...PHOTOS], 'the LLaMA-2-vocabulary GGUF and ../shared photos');
const SENTINEL = 40000; // above LLaMA-2's 32,000 ids

const same = (a: RawImage, b: RawImage) => a.width === b.width && a.height === b.height && a.data.every((v, i) => v === b.data[i]);

/** The tokenizer with the query's clean crop encoded to sentinel ids and every decode input recorded. */
function tainted(tok: V2LTokenizer, cleanCrop: RawImage, decoded: number[][]): V2LTokenizer {
  return new Proxy(tok, {
    get(target, prop, recv) {
      if (prop === 'encode') {
        return async (images: (string | RawImage)[]) => {
          const res = await target.encode(images);
          return res.map((r, i) => {
            const img = images[i];
            if ('error' in r || typeof img === 'string' || !same(img, cleanCrop)) return r;
            return { ...r, local: { ...r.local, ids: r.local.ids.map((row, y) => row.map((_, x) => SENTINEL + y * row.length + x)) } };
          });
        };
      }
      if (prop === 'decode') {
        return (local: number[][][], global: number[][]) => {
          decoded.push(...local.map((g) => g.flat()), ...global);
          return target[prop](local.map((g) => g.map((row) => row.map((id) => (id >= SENTINEL ? 0 : id)))), global);
        };
      }
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

test('restoration of files: the clean protocol never shows a clean query token to the LLM or the decoder; the reference does', { skip }, async () => {
  const fx = await taskFixture({ llm: 'llama2-vocab-random-tiny' });
  const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  try {
    const query = PHOTOS[0];
    const cleanCrop = resizeAndCrop(await loadImage(query, { shrinkTo: tok.imageSize }), tok.imageSize);
    for (const task of ['inpaint', 'deblur'] as const) {
      for (const protocol of ['clean', 'reference'] as const) {
        const llm = new RecordingLLM(32000);
        const decoded: number[][] = [];
        const results = [];
        for await (const r of restoreImages({
          task, protocol, tokenizer: tainted(tok, cleanCrop, decoded), llm, images: [query], contextImages: PHOTOS.slice(1, 3), copies: 4, n: 8,
        })) results.push(r);
        assert.equal(results.length, 1);
        assert.equal(results[0].record.status, 'ok', results[0].record.error);
        const inPrompts = llm.prompts.flat().filter((id) => id >= SENTINEL).length;
        const inDecode = decoded.flat().filter((id) => id >= SENTINEL).length;
        if (protocol === 'clean') {
          assert.ok(llm.prompts.length > 0);
          assert.equal(inPrompts, 0, `${task}: clean query tokens reached the LLM`);
          assert.equal(inDecode, 0, `${task}: clean query tokens reached the decoder`);
        } else {
          assert.ok(inPrompts > 0, `${task}: the reference protocol should show the query's clean tokens (its leak)`);
        }
        const r = results[0];
        for (const img of [r.original!, r.corrupted!, r.restored!, r.reconstructionOfCorrupted!]) {
          assert.equal(img.width, tok.imageSize);
          assert.equal(img.height, tok.imageSize);
        }
        if (task === 'deblur') assert.ok([5, 7, 9, 11].includes(r.record.corruption!.kernel));
      }
    }
  } finally {
    await tok.dispose();
  }
});

test('an unreadable image marks its unit failed, names the file, and the run goes on', { skip }, async () => {
  const fx = await taskFixture({ llm: 'llama2-vocab-random-tiny' });
  const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  const dir = mkdtempSync(join(tmpdir(), 'v2l-restore-'));
  try {
    const bad = join(dir, 'broken.jpg');
    writeFileSync(bad, 'not an image');
    const totals = await restoreToDir({
      task: 'outpaint', tokenizer: tok, llm: new RecordingLLM(32000), images: [PHOTOS[0], bad, PHOTOS[1]], copies: 2, n: 4, outDir: join(dir, 'out'),
    });
    assert.deepEqual(totals.records.map((r) => r.status), ['ok', 'failed', 'ok']);
    assert.match(totals.records[1].error!, /broken\.jpg/);
    const lines = readFileSync(join(dir, 'out', 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RestoreRecord);
    assert.deepEqual(lines.map((r) => r.index), [0, 1, 2]);
    assert.equal(lines[2].steps, 64);
  } finally {
    await tok.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('restoration of a 1x1 and a 20000x20 image: restored, with the resampling stated in the record and the summary', { skip }, async () => {
  const fx = await taskFixture({ llm: 'llama2-vocab-random-tiny' });
  const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  const dir = mkdtempSync(join(tmpdir(), 'v2l-restore-odd-'));
  try {
    const sharp = (await import('sharp')).default;
    const tiny = join(dir, 'one-pixel.png');
    const strip = join(dir, 'strip.png');
    await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toFile(tiny);
    await sharp({ create: { width: 20000, height: 20, channels: 3, background: { r: 40, g: 200, b: 40 } } }).png().toFile(strip);
    const out: RestoreRecord[] = [];
    for await (const r of restoreImages({ task: 'shift', tokenizer: tok, llm: new RecordingLLM(32000), images: [tiny, strip], contextImages: PHOTOS.slice(0, 1), copies: 1 })) out.push(r.record);
    assert.deepEqual(out.map((r) => r.status), ['ok', 'ok'], out.map((r) => r.error).join('; '));
    const S = tok.imageSize;
    assert.equal(out[0]!.resampling, `enlarged ${S}x (bicubic) from 1x1 to a ${S} px short side: the restoration is of that ${S}x${S} crop`);
    assert.match(out[1]!.resampling!, new RegExp(`^enlarged 1\\.6x \\(bicubic\\) from 20000x20 to a ${S} px short side; the centre crop keeps 0\\.10 % of the width`));
    const { restoreSummary } = await import('./summary.js');
    const s = restoreSummary({ task: 'shift', protocol: 'clean', records: out, resumed: 0, total: 2, llm: null, wallSeconds: 1, notes: [] });
    assert.ok(s.notes.some((n) => /^2 image\(s\) resampled strongly before restoration: .*one-pixel\.png \(enlarged/.test(n)), s.notes.join('\n'));
  } finally {
    await tok.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
