// The logits capture's fast passes (vectorised expf, only the entries that can change the sum sorted, the
// ladder of lower bounds, the candidates) against the plain computation on distributions no tiny model
// gives: flat ones where every entry counts, peaked ones where fewer than k entries reach 2^-24, logits
// more than 88 below the maximum (libm's expf special cases), ties, odd sizes. The whole path through
// node-llama-cpp is compared with its own Map in distribution.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadLogitsCapture, captureUnavailableReason } from './logits-capture.js';

/** Seeded normal logits times `scale` (mulberry32 + Box-Muller). */
function logits(n: number, scale: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

test('the capture equals libm expf and a sort of every entry on flat, peaked and very wide distributions', (t) => {
  const capture = loadLogitsCapture();
  if (!capture) {
    t.skip(`the logits capture is unavailable here: ${captureUnavailableReason()}`);
    return;
  }
  t.diagnostic(`expf: ${capture.expKind()}`);
  let seed = 1;
  for (const n of [1, 7, 16, 17, 512, 128256]) {
    for (const scale of [0, 0.05, 1, 4, 12, 40, 300]) {
      for (const k of [1, 5, 300, n]) {
        const l = logits(n, scale, seed++);
        assert.equal(capture.check(l, k), '', `n ${n}, scale ${scale}, k ${k}`);
      }
    }
  }
  // Ties at the k-th entry, a lone -Infinity, and values around -88 and -104 below the maximum.
  const ties = new Float32Array(1000).fill(-3);
  ties.fill(2, 0, 10);
  ties[500] = -Infinity;
  for (let i = 600; i < 700; i++) ties[i] = 2 - 80 - (i - 600) * 0.3;
  for (const k of [1, 5, 10, 11, 999]) assert.equal(capture.check(ties, k), '', `ties, k ${k}`);
});
