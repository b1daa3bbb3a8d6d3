// The 32,000-row local codebook of LLaMA-2 (vocab-only GGUF) with the stand-in CLIP: row count, id order,
// cache reuse. One template keeps it to ~30 s here; the 80-template default costs 80x the CLIP calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import { embedWithTemplates } from '../models/clip/templates.js';
import { readVocabulary } from '../models/llm/gguf-vocabulary.js';
import { buildLocalCodebook } from './local.js';
import { EmbeddingCache, textCacheNamespace } from '../models/clip/embedding-cache.js';
import { skipUnless } from '../util/test-utils/shared.js';

const SHARED = new URL('../../../shared/', import.meta.url).pathname;
const LLAMA2 = join(SHARED, 'models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const MERGES = join(SHARED, 'models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
const skip = skipUnless([LLAMA2, MERGES], 'the LLaMA-2 and CLIP tokenizers');

test('LLaMA-2 local codebook: 32,000 rows in id order, each the embedding of its rendered token', { skip, timeout: 180_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-local-'));
  try {
    writeStandInClip(join(tmp, 'clip'), { mergesPath: MERGES });
    const clip = await loadClip(join(tmp, 'clip'), { towers: { text: true, vision: false } });
    const vocab = await readVocabulary(LLAMA2);
    const templates = ['a photo of a {}.'];
    const cache = new EmbeddingCache(join(tmp, 'cache'), textCacheNamespace(clip, templates), clip.dim);
    const local = await buildLocalCodebook(clip, vocab, templates, cache, { batchSize: 2048 });
    const dim = clip.dim;
    assert.equal(local.embeddings.length, 32000 * dim);
    assert.equal(local.texts.length, 32000);
    assert.equal(local.computed, new Set(local.texts).size, 'each distinct text embedded once');
    for (const id of [0, 1, 13, 259, 1024, vocab.tokens.indexOf('▁dog'), 31999]) {
      const direct = await embedWithTemplates(clip, [local.texts[id]], templates);
      let diff = 0;
      for (let j = 0; j < dim; j++) diff = Math.max(diff, Math.abs(direct[j] - local.embeddings[id * dim + j]));
      assert.ok(diff < 1e-4, `row ${id} (${JSON.stringify(vocab.tokens[id])} -> ${JSON.stringify(local.texts[id])}) differs by ${diff}`);
    }
    assert.equal(local.texts[vocab.tokens.indexOf('▁dog')], 'dog');
    // Identical texts share one embedding; distinct texts (almost surely) do not.
    const row = (i: number) => local.embeddings.subarray(i * dim, (i + 1) * dim);
    assert.deepEqual(row(vocab.tokens.indexOf('▁the')), row(vocab.tokens.indexOf('the')));
    assert.notDeepEqual(row(vocab.tokens.indexOf('▁dog')), row(vocab.tokens.indexOf('▁cat')));
    // Second build: everything from the cache.
    const again = await buildLocalCodebook(clip, vocab, templates, new EmbeddingCache(join(tmp, 'cache'), textCacheNamespace(clip, templates), dim));
    assert.equal(again.computed, 0);
    assert.deepEqual(again.embeddings, local.embeddings);
    await clip.dispose();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
