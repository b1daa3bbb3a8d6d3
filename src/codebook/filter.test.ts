import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countHits, HitCounter, scorerTable, selectByCount } from './filter.js';
import { onnxTopKScorer } from './score-onnx.js';
import { rand } from '../util/test-utils/rand.js';

function bruteHits(images: Float32Array, table: Float32Array, dim: number, k: number, cosine: boolean): Uint32Array {
  const rows = table.length / dim;
  const counts = new Uint32Array(rows);
  for (let i = 0; i < images.length / dim; i++) {
    const scores: [number, number][] = [];
    for (let r = 0; r < rows; r++) {
      let dot = 0, nn = 0, qq = 0;
      for (let j = 0; j < dim; j++) {
        dot += images[i * dim + j] * table[r * dim + j];
        nn += table[r * dim + j] ** 2;
        qq += images[i * dim + j] ** 2;
      }
      scores.push([cosine ? dot / Math.sqrt(nn * qq) : dot, r]);
    }
    scores.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (const [, r] of scores.slice(0, k)) counts[r]++;
  }
  return counts;
}

test('hit counts equal a brute-force top-5 by cosine and by dot product', () => {
  const dim = 24;
  const images = rand(37 * dim, 1);
  // Rows of unequal norms, so cosine and dot rank differently.
  const table = rand(300 * dim, 2).map((v, i) => v * (1 + (Math.floor(i / dim) % 7)));
  for (const sim of ['cosine', 'dot'] as const) {
    const counts = new Uint32Array(300);
    countHits(images, table, dim, 5, counts, sim);
    assert.deepEqual(counts, bruteHits(images, table, dim, 5, sim === 'cosine'), sim);
    assert.equal(counts.reduce((a, b) => a + b, 0), 37 * 5);
  }
  const cos = new Uint32Array(300);
  const dot = new Uint32Array(300);
  countHits(images, table, dim, 5, cos, 'cosine');
  countHits(images, table, dim, 5, dot, 'dot');
  assert.notDeepEqual(cos, dot, 'the two similarities must differ on rows of unequal norm');
});

test('selection keeps counts strictly above the threshold, or the top N in candidate order', () => {
  const counts = Uint32Array.from([5, 101, 100, 0, 250, 101]);
  assert.deepEqual(selectByCount(counts, { threshold: 100 }), [1, 4, 5]);
  assert.deepEqual(selectByCount(counts, { threshold: 0 }), [0, 1, 2, 4, 5]);
  assert.deepEqual(selectByCount(counts, { topN: 2 }), [1, 4]); // tie 101/101: the earlier candidate
  assert.deepEqual(selectByCount(counts, { topN: 10 }), [0, 1, 2, 3, 4, 5]);
});

test('a counter array of the wrong length is refused', () => {
  assert.throws(() => countHits(new Float32Array(4), new Float32Array(8), 4, 1, new Uint32Array(3)), /3 counters for 2 candidates/);
});

test('HitCounter on onnxruntime and in plain JS both equal the brute force, streamed in batches', async () => {
  const dim = 32;
  const images = rand(50 * dim, 3);
  const table = rand(700 * dim, 4).map((v, i) => v * (1 + (Math.floor(i / dim) % 5)));
  for (const sim of ['cosine', 'dot'] as const) {
    const want = bruteHits(images, table, dim, 5, sim === 'cosine');
    const scorer = await onnxTopKScorer(scorerTable(table, dim, sim), dim, { threads: 1 });
    for (const engine of ['onnx', 'js'] as const) {
      const c = new HitCounter(table, dim, 5, sim, engine === 'onnx' ? scorer : 'js');
      c.add(images.subarray(0, 17 * dim));
      c.add(images.subarray(17 * dim));
      await c.done();
      assert.deepEqual(c.counts, want, `${engine} ${sim}`);
    }
    await scorer.close();
  }
});
