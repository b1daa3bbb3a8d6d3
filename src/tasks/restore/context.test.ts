import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REFERENCE_RATES, otherImageExamples, referenceCopies, referenceExamples, visibleWindowExamples } from './context.js';
import { predictionMask } from './masks.js';

test('reference copies: int(r * 277) replaced positions = 138 130 121 113 105 96 88 80 72 63, local only, same in A and B', () => {
  const k = 21;
  const clean = Array.from({ length: 277 }, (_, i) => 40000 + i); // outside [0, 32000): replaced ids are visible
  const corrupted = clean.map((v) => v + 1000);
  const c = referenceCopies(clean, corrupted, { k, vocabSize: 32000, seed: 0 });
  assert.deepEqual(c.replaced, [138, 130, 121, 113, 105, 96, 88, 80, 72, 63]);
  assert.equal(c.clean.length, REFERENCE_RATES.length);
  c.clean.forEach((a, i) => {
    const changed = a.flatMap((v, j) => (v !== clean[j] ? [j] : []));
    assert.equal(changed.length, c.replaced[i]);
    assert.ok(changed.every((j) => j >= k), 'global positions are never replaced');
    for (const j of changed) {
      assert.ok(a[j] >= 0 && a[j] < 32000);
      assert.equal(c.corrupted[i][j], a[j], 'B_i gets the same id at the same position');
    }
    c.corrupted[i].forEach((v, j) => { if (!changed.includes(j)) assert.equal(v, corrupted[j]); });
  });
  // Seeded: the same seed gives the same copies, another seed others.
  assert.deepEqual(referenceCopies(clean, corrupted, { k, vocabSize: 32000, seed: 0 }), c);
  assert.notDeepEqual(referenceCopies(clean, corrupted, { k, vocabSize: 32000, seed: 1 }).clean, c.clean);
});

test('reference examples: windows of A_i before p (in/outpainting) or B_i at p (pixel tasks), outputs A_i[p:p+m]', () => {
  const seqA = [[1, 2, 3, 4, 5, 6]];
  const seqB = [[11, 12, 13, 14, 15, 16]];
  const copies = { clean: seqA, corrupted: seqB, replaced: [0] };
  assert.deepEqual(referenceExamples(copies, 3, { maskTask: true, m: 2, n: 2 }), [{ input: [2, 3], output: [4, 5] }]);
  assert.deepEqual(referenceExamples(copies, 3, { maskTask: false, m: 2, n: 2 }), [{ input: [14, 15], output: [4, 5] }]);
});

test('visible windows never touch the hidden region and come nearest last', () => {
  const g = 16;
  const hidden = predictionMask('inpaint', g);
  const local = Array.from({ length: g * g }, (_, i) => i);
  const p = 4 * g + 4;
  const ex = visibleWindowExamples(local, hidden, p, { g, m: 2, n: 16, count: 10 });
  assert.equal(ex.length, 10);
  for (const e of ex) {
    assert.equal(e.input.length, 16);
    assert.equal(e.output.length, 2);
    for (const id of [...e.input, ...e.output]) assert.equal(hidden[id], false, `position ${id} is hidden`);
  }
  const dist = (q: number) => (Math.floor(q / g) - 4) ** 2 + ((q % g) - 4) ** 2;
  const ds = ex.map((e) => dist(e.output[0]));
  assert.deepEqual([...ds].sort((a, b) => b - a), ds, 'farthest first');
});

test('other-image examples: same positions; pixel tasks pair corrupted -> clean', () => {
  const o = { clean: [1, 2, 3, 4, 5, 6], corrupted: [7, 8, 9, 10, 11, 12] };
  assert.deepEqual(otherImageExamples([o], 2, { maskTask: false, m: 2, n: 2 }), [{ input: [9, 10], output: [3, 4] }]);
  assert.deepEqual(otherImageExamples([o], 2, { maskTask: true, m: 2, n: 2 }), [{ input: [1, 2], output: [3, 4] }]);
  assert.deepEqual(otherImageExamples([o], 1, { maskTask: true, m: 2, n: 2 }), []);
});
