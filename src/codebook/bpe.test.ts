// A complete codebook package for a byte-level BPE vocabulary: LLaMA-3's 128,256 tokens
// (llama3-vocab-random-tiny, random weights), the task fixture's STAND-IN CLIP and Tiny-ImageNet images,
// then a photo tokenized with it. The expansion is limited to the first 128 subwords (the whole one takes
// minutes; README gives its figures); the local codebook has every row. What is tested: 128,256 local rows
// with readable texts (no "Ġ"), the 256 special tokens neither expanded nor candidates, partial UTF-8
// pieces rendered by their bytes, and readable local and global tokens of a photo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaCppLLM } from '../models/llm/llama-cpp.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';
import { taskFixture, FIXTURE_LLMS, CLIP_MERGES } from '../tasks/test-utils/fixtures.js';
import { buildCodebook, resolveTemplates } from './build.js';
import { loadCodebook, excludedLocalRows } from './package.js';

const IMAGES = sharedPath('data/tiny-imagenet-val/images');
const PHOTO = sharedPath('data/photos/dog.jpg');
const skip = skipUnless([FIXTURE_LLMS['llama3-vocab-random-tiny'], IMAGES, PHOTO, CLIP_MERGES], 'the LLaMA-3-vocabulary GGUF, Tiny-ImageNet and a photo');

test('LLaMA-3 vocabulary: a complete codebook package (128,256 local rows), then a photo tokenized with it', { skip, timeout: 900_000 }, async () => {
  const fx = await taskFixture({ llm: 'llama3-vocab-random-tiny' });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-bpe-codebook-'));
  const llm = await LlamaCppLLM.load(fx.llmPath, { threads: 1 });
  const clip = await loadClip(fx.clip);
  try {
    const images = readdirSync(IMAGES).sort().slice(0, 300).map((f) => join(IMAGES, f));
    const out = join(tmp, 'cb');
    const report = await buildCodebook({
      out, llm, clip, images, templates: resolveTemplates('single'), keep: { topN: 64 }, maxSubwords: 128,
      // 128,256 texts take a minute or two with the stand-in CLIP: kept between runs (keyed by CLIP and text).
      cacheDir: join(tmpdir(), 'v2l-test-cache-llama3-codebook'),
    });
    const cb = loadCodebook(out);
    const vocab = await llm.vocabulary();
    assert.equal(cb.manifest.counts.vocabulary, 128256);
    assert.equal(cb.local.length / cb.dim, 128256);
    assert.equal(cb.manifest.rendering!.tokenStyle, 'bytelevel');
    // The 256 special tokens (128000..128255: <|begin_of_text|>, reserved, ...) are not expanded.
    const skipped = cb.manifest.expansion!.skippedSubwords!;
    assert.equal(skipped.length, 256);
    assert.deepEqual([skipped[0], skipped.at(-1)], [128000, 128255]);
    assert.equal(report.stages.expand.computed, 128 * 2);
    // ... nor searched: the tokenizer's nearest-row search skips their rows (they hold a made-up name's embedding).
    assert.deepEqual(excludedLocalRows(cb.manifest), Array.from({ length: 256 }, (_, i) => 128000 + i));
    // Readable local texts: "Ġworld" -> "world", "Ċ" -> "newline"; a partial UTF-8 piece by its bytes.
    assert.equal(vocab.tokens[1917], 'Ġworld');
    assert.equal(cb.localTexts[1917], 'world');
    assert.equal(cb.localTexts[198], 'newline');
    const partial = vocab.tokens.findIndex((t) => t === 'âĢ');
    assert.ok(partial > 0);
    assert.equal(cb.localTexts[partial], 'bytes 0xE2 0x80');
    // No byte-level marks in the local texts: the one "Ġ" is token 119741 ("Äł"), the letter U+0120 itself.
    assert.deepEqual(cb.localTexts.flatMap((t, id) => (/[ĠĊ]/.test(t) ? [[id, t]] : [])), [[119741, 'Ġ']]);
    // Global entries: none holds a special token, every text readable.
    assert.equal(cb.globalEntries.length, 64);
    for (const e of cb.globalEntries) {
      assert.ok(e.ids!.every((id) => id < 128000), JSON.stringify(e));
      assert.ok(!/[ĠĊ]/.test(e.text) && e.text.trim() === e.text && e.text.length > 0, JSON.stringify(e.text));
    }
    // A photo through the fixture's network (random weights; 128,256 local rows) and this codebook.
    const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: out, clip: fx.clip });
    try {
      const [res] = await tok.encode([PHOTO]);
      assert.ok(res && !('error' in res));
      const local = res.local.tokens.flat();
      assert.equal(local.length, 256);
      assert.ok(local.every((t, i) => t !== null && (!/[ĠĊ]/.test(t) || res.local.ids.flat()[i] === 119741)), 'readable local tokens');
      assert.ok(res.local.ids.flat().every((id, i) => cb.localTexts[id] === local[i]));
      // The rows that carry no text are never chosen: no special token among the image's words.
      assert.ok(res.local.ids.flat().every((id) => id < 128000), 'no special token as a local id');
      assert.equal(res.global.tokens.length, 5);
      assert.ok(res.global.tokens.every((t) => t !== null && !/[ĠĊ]/.test(t)), 'readable global tokens');
    } finally {
      await tok.dispose();
    }
  } finally {
    await llm.dispose();
    await clip.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('LLaMA-3 vocabulary: the viewer\'s raw pieces ("Ġworld" shown as "▁world", bytes as <0xNN>, specials as stored)', { skip }, async () => {
  const { readVocabulary } = await import('../models/llm/gguf-vocabulary.js');
  const { displayPiece } = await import('../serve/token-text.js');
  const { tokenStyleOf } = await import('./render.js');
  const vocab = await readVocabulary(FIXTURE_LLMS['llama3-vocab-random-tiny']);
  const style = tokenStyleOf(vocab);
  assert.equal(style, 'bytelevel');
  const show = (raw: string) => {
    const id = vocab.tokens.indexOf(raw);
    assert.ok(id >= 0, raw);
    return displayPiece(raw, style, vocab.types?.[id]);
  };
  assert.equal(show('Ġworld'), '▁world');
  assert.equal(show('Ċ'), '<0x0A>');
  assert.equal(show('âĢ'), '<0xE2><0x80>');
  assert.equal(show('<|begin_of_text|>'), '<|begin_of_text|>');
  assert.equal(show('Hello'), 'Hello');
});
