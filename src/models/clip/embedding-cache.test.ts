import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStandInClip } from './stand-in.js';
import { loadClip } from './transformers-clip.js';
import { EmbeddingCache, embedTextsCached, imageCacheNamespace, streamImageEmbeddings, textCacheNamespace } from './embedding-cache.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const IMAGES = sharedPath('data/tiny-imagenet-val/images');
const MERGES = sharedPath('models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
const skip = skipUnless([IMAGES, MERGES], 'tiny-imagenet-val and the CLIP tokenizer');

test('image and text embeddings are streamed in batches, cached by content, and a bad file is named', { skip }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-embcache-'));
  try {
    writeStandInClip(join(tmp, 'clip'), { mergesPath: MERGES });
    const clip = await loadClip(join(tmp, 'clip'));
    const dim = clip.dim;
    const paths = readdirSync(IMAGES).sort().slice(0, 6).map((f) => join(IMAGES, f));
    // The same bytes under another name share one cache entry.
    copyFileSync(paths[0], join(tmp, 'copy.jpg'));
    paths.push(join(tmp, 'copy.jpg'));
    const cache = new EmbeddingCache(join(tmp, 'cache'), imageCacheNamespace(clip), dim);
    const seen: number[] = [];
    const first = new Float32Array(paths.length * dim);
    const r1 = await streamImageEmbeddings(clip, paths, cache, (emb, start) => {
      seen.push(start);
      first.set(emb, start * dim);
    }, { batchSize: 4 });
    assert.deepEqual(seen, [0, 4]);
    assert.equal(r1.computed, 6, 'the copy comes from the cache');
    assert.equal(cache.size, 6, 'identical files are one entry');
    const direct = await clip.embedImages(paths.slice(0, 2));
    for (let j = 0; j < 2 * dim; j++) assert.ok(Math.abs(direct[j] - first[j]) < 1e-5);
    const again = new Float32Array(paths.length * dim);
    const r2 = await streamImageEmbeddings(clip, paths, new EmbeddingCache(join(tmp, 'cache'), imageCacheNamespace(clip), dim), (emb, start) => again.set(emb, start * dim), { batchSize: 3 });
    assert.equal(r2.computed, 0);
    assert.deepEqual(again, first);

    writeFileSync(join(tmp, 'broken.jpg'), 'not a jpeg');
    await assert.rejects(
      streamImageEmbeddings(clip, [paths[1], join(tmp, 'broken.jpg'), paths[2]], new EmbeddingCache(join(tmp, 'cache2'), imageCacheNamespace(clip), dim), () => {}),
      new RegExp(`cannot embed image ${join(tmp, 'broken.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );

    const tcache = new EmbeddingCache(join(tmp, 'cache'), textCacheNamespace(clip, ['a photo of a {}.']), dim);
    const t1 = await embedTextsCached(clip, ['dog', 'cat', 'dog'], ['a photo of a {}.'], tcache, { batchSize: 1 });
    assert.equal(t1.computed, 2);
    assert.deepEqual(t1.embeddings.subarray(0, dim), t1.embeddings.subarray(2 * dim));
    const t2 = await embedTextsCached(clip, ['cat', 'dog', 'bird'], ['a photo of a {}.'], tcache);
    assert.equal(t2.computed, 1);
    assert.deepEqual(t2.embeddings.subarray(0, dim), t1.embeddings.subarray(dim, 2 * dim));
    await clip.dispose();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
