// The CLIP embedding cache with the STAND-IN CLIP (random weights): computed once, read back from disk by
// a new cache object, keyed by file content.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClipImageInput, ClipModel } from '../models/clip/types.js';
import { ClipEmbeddingCache } from './clip-cache.js';
import { SKIP_NO_MERGES, standInClip, writeImages } from './test-utils/fixtures.js';

const skip = SKIP_NO_MERGES;
let root = '';
let clip: ClipModel | null = null;

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'v2l-clipcache-'));
  clip = await standInClip(join(root, 'clip'), 64);
});

after(async () => {
  await clip?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** The real stand-in CLIP, counting the images it is asked to embed. */
function counting(c: ClipModel): ClipModel & { calls: number } {
  const w = Object.create(c) as ClipModel & { calls: number };
  w.calls = 0;
  w.embedImages = async (images: readonly ClipImageInput[]) => {
    w.calls += images.length;
    return c.embedImages(images);
  };
  return w;
}

test('embeddings are computed once, then served from disk; identical files share one entry', { skip }, async () => {
  const files = await writeImages(join(root, 'images'), 5);
  const dup = join(root, 'images', 'copy-of-0.png');
  copyFileSync(files[0], dup);
  const list = [...files, dup];
  const c1 = counting(clip!);
  const first = await new ClipEmbeddingCache(join(root, 'cache'), c1).embedFiles(list, { batchSize: 2 });
  assert.equal(c1.calls, 5);
  assert.equal(first.length, 6 * 64);
  assert.deepEqual(Array.from(first.subarray(5 * 64)), Array.from(first.subarray(0, 64)));
  const direct = await clip!.embedImages([files[3]]);
  assert.deepEqual(Array.from(first.subarray(3 * 64, 4 * 64)), Array.from(direct));
  const c2 = counting(clip!);
  const cache2 = new ClipEmbeddingCache(join(root, 'cache'), c2);
  const second = await cache2.embedFiles(list);
  assert.equal(c2.calls, 0);
  assert.equal(cache2.size, 5);
  assert.deepEqual(Array.from(second), Array.from(first));
  // Shards (one per batch) live under the CLIP's fingerprint, where `v2l codebook build` keeps its image embeddings.
  assert.equal(readdirSync(cache2.dir).filter((f) => f.endsWith('.safetensors')).length, 3);
  assert.ok(cache2.dir.endsWith(`image-${clip!.fingerprint.slice(0, 16)}`));
  await assert.rejects(cache2.embedFiles([join(root, 'missing.png')]), /cannot read image .*missing\.png/);
});
