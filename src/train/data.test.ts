import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchSampler, PrefetchLoader, listImages, splitValidation } from './data.js';

function tree(): string {
  const d = mkdtempSync(join(tmpdir(), 'v2l-data-'));
  mkdirSync(join(d, 'b', 'deep'), { recursive: true });
  mkdirSync(join(d, 'a'));
  for (const f of ['a/2.jpg', 'a/1.PNG', 'b/deep/3.webp', 'b/notes.txt', '.hidden.jpg']) writeFileSync(join(d, f), 'x');
  return d;
}

test('folders are searched recursively for images, sorted; list files resolve relative paths', () => {
  const d = tree();
  try {
    assert.deepEqual(listImages([d]).map((p) => p.slice(d.length + 1)), ['a/1.PNG', 'a/2.jpg', 'b/deep/3.webp']);
    writeFileSync(join(d, 'list.txt'), `# comment\na/2.jpg\n\n${join(d, 'b/deep/3.webp')}\n`);
    assert.deepEqual(listImages([join(d, 'list.txt')]), [join(d, 'a/2.jpg'), join(d, 'b/deep/3.webp')]);
    // One image file is that image (not a list file read as text); a listed file that is absent is named.
    assert.deepEqual(listImages([join(d, 'a/2.jpg')]), [join(d, 'a/2.jpg')]);
    writeFileSync(join(d, 'bad.txt'), 'a/none.jpg\n');
    assert.throws(() => listImages([join(d, 'bad.txt')]), /training data: .*none\.jpg \(listed in .*bad\.txt\) does not exist/);
    assert.throws(() => listImages([join(d, 'nope')]), /nope does not exist/);
    assert.throws(() => listImages([join(d, 'b', 'deep', '..', '..', 'a', '..', 'b', 'deep', '3.webp', 'x')]), /does not exist/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the batch of a step depends only on (seed, step): epochs are distinct permutations, last partial batch dropped', () => {
  const s = new BatchSampler(10, 3, 42);
  assert.equal(s.stepsPerEpoch, 3);
  const epoch0 = [0, 1, 2].flatMap((i) => s.indices(i));
  assert.equal(new Set(epoch0).size, 9);
  const epoch1 = [3, 4, 5].flatMap((i) => s.indices(i));
  assert.notDeepEqual(epoch0, epoch1);
  // A fresh sampler (a resumed run) gives the same batches, in any query order.
  const t = new BatchSampler(10, 3, 42);
  assert.deepEqual(t.indices(4), s.indices(4));
  assert.deepEqual(t.indices(1), s.indices(1));
  assert.notDeepEqual(new BatchSampler(10, 3, 43).indices(0), s.indices(0));
  assert.throws(() => new BatchSampler(2, 3, 0), /fewer than one batch/);
});

test('the validation split is seeded and disjoint', () => {
  const files = Array.from({ length: 100 }, (_, i) => `f${i}`);
  const a = splitValidation(files, 0.1, 1);
  assert.equal(a.val.length, 10);
  assert.equal(a.train.length, 90);
  assert.deepEqual(splitValidation(files, 0.1, 1), a);
  assert.ok(a.val.every((v) => !a.train.includes(v)));
  assert.throws(() => splitValidation(files, 1.5, 1), /val-fraction/);
});

test('the loader returns the sampler\'s batches, decoded in order, and decodes ahead', async () => {
  const files = Array.from({ length: 8 }, (_, i) => `img${i}`);
  const requested: string[] = [];
  const decode = async (p: string) => {
    requested.push(p);
    return new Float32Array(3 * 2 * 2).fill(Number(p.slice(3)));
  };
  const sampler = new BatchSampler(files.length, 2, 7);
  const loader = new PrefetchLoader(files, sampler, decode, 2, 2);
  const b = await loader.get(0);
  assert.deepEqual(b.indices, sampler.indices(0));
  assert.equal(b.images[0], sampler.indices(0)[0]);
  assert.equal(b.images[12], sampler.indices(0)[1]);
  // Steps 1 and 2 were requested while step 0 was being taken.
  assert.equal(requested.length, 6);
  const bad = new PrefetchLoader(files, sampler, async () => new Float32Array(5), 2, 0);
  await assert.rejects(bad.get(0), /decoded to 5 values, expected 3x2x2/);
});
