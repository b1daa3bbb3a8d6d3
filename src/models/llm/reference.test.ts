// An independent check of the local backend's numbers: a plain TypeScript forward pass of the original
// llama2.c checkpoint of stories260K (checkpoint_legacy.bin, the same trained weights as the GGUF),
// written from the llama2.c format, compared with node-llama-cpp's next-token probabilities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LlamaCppLLM } from './llama-cpp.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const dir = fileURLToPath(new URL('../../../../shared/models/stories260K/', import.meta.url));
const skip = skipUnless([dir + 'checkpoint_legacy.bin', dir + 'stories260K.gguf'], 'the stories260K model');

/** llama2.c "legacy" checkpoint: 7 int32 (dim, hidden, layers, heads, kv heads, vocab, seq), then f32 weights. */
function loadLlama2c(path: string) {
  const buf = readFileSync(path);
  const h = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = [...h] as number[];
  const vocab = Math.abs(vocabSigned!);
  const f = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  let off = 0;
  const take = (n: number) => f.subarray(off, (off += n));
  const hs = dim! / heads!;
  const kvDim = kvHeads! * hs;
  const w = {
    emb: take(vocab * dim!),
    rmsAtt: take(layers! * dim!),
    wq: take(layers! * dim! * dim!),
    wk: take(layers! * dim! * kvDim),
    wv: take(layers! * dim! * kvDim),
    wo: take(layers! * dim! * dim!),
    rmsFfn: take(layers! * dim!),
    w1: take(layers! * dim! * hidden!),
    w2: take(layers! * hidden! * dim!),
    w3: take(layers! * dim! * hidden!),
    rmsFinal: take(dim!),
  };
  take(seqLen! * hs); // freq_cis_real, freq_cis_imag (unused: computed below)
  const wcls = vocabSigned! > 0 ? w.emb : take(vocab * dim!);
  return { dim: dim!, hidden: hidden!, layers: layers!, heads: heads!, kvHeads: kvHeads!, vocab, hs, kvDim, w, wcls };
}

/** Next-token probabilities after each token of `tokens` (teacher forcing), as llama2.c's run.c computes. */
function forward(m: ReturnType<typeof loadLlama2c>, tokens: readonly number[]): Float64Array {
  const { dim, hidden, hs, kvDim, heads, kvHeads, w } = m;
  const matmul = (out: Float64Array, x: Float64Array, W: Float32Array, wOff: number, n: number, d: number) => {
    for (let i = 0; i < d; i++) {
      let s = 0;
      const row = wOff + i * n;
      for (let j = 0; j < n; j++) s += W[row + j]! * x[j]!;
      out[i] = s;
    }
  };
  const rmsnorm = (out: Float64Array, x: Float64Array, W: Float32Array, wOff: number) => {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[j]! * x[j]!;
    const scale = 1 / Math.sqrt(ss / dim + 1e-5);
    for (let j = 0; j < dim; j++) out[j] = W[wOff + j]! * x[j]! * scale;
  };
  const kCache = tokens.map(() => Array.from({ length: m.layers }, () => new Float64Array(kvDim)));
  const vCache = tokens.map(() => Array.from({ length: m.layers }, () => new Float64Array(kvDim)));
  const x = new Float64Array(dim), xb = new Float64Array(dim), xb2 = new Float64Array(dim);
  const q = new Float64Array(dim), hb = new Float64Array(hidden), hb2 = new Float64Array(hidden);
  const logits = new Float64Array(m.vocab);
  for (let pos = 0; pos < tokens.length; pos++) {
    for (let j = 0; j < dim; j++) x[j] = w.emb[tokens[pos]! * dim + j]!;
    for (let l = 0; l < m.layers; l++) {
      rmsnorm(xb, x, w.rmsAtt, l * dim);
      const k = kCache[pos]![l]!, v = vCache[pos]![l]!;
      matmul(q, xb, w.wq, l * dim * dim, dim, dim);
      matmul(k, xb, w.wk, l * dim * kvDim, dim, kvDim);
      matmul(v, xb, w.wv, l * dim * kvDim, dim, kvDim);
      for (let i = 0; i < dim; i += 2) {
        const freq = 1 / Math.pow(10000, (i % hs) / hs);
        const c = Math.cos(pos * freq), s = Math.sin(pos * freq);
        for (const vec of i < kvDim ? [q, k] : [q]) {
          const a = vec[i]!, b = vec[i + 1]!;
          vec[i] = a * c - b * s;
          vec[i + 1] = a * s + b * c;
        }
      }
      for (let h = 0; h < heads; h++) {
        const kvh = Math.floor(h / (heads / kvHeads));
        const att = new Float64Array(pos + 1);
        let max = -Infinity;
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[h * hs + i]! * kCache[t]![l]![kvh * hs + i]!;
          att[t] = s / Math.sqrt(hs);
          max = Math.max(max, att[t]!);
        }
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += att[t] = Math.exp(att[t]! - max);
        for (let i = 0; i < hs; i++) {
          let acc = 0;
          for (let t = 0; t <= pos; t++) acc += (att[t]! / sum) * vCache[t]![l]![kvh * hs + i]!;
          xb[h * hs + i] = acc;
        }
      }
      matmul(xb2, xb, w.wo, l * dim * dim, dim, dim);
      for (let j = 0; j < dim; j++) x[j] += xb2[j]!;
      rmsnorm(xb, x, w.rmsFfn, l * dim);
      matmul(hb, xb, w.w1, l * dim * hidden, dim, hidden);
      matmul(hb2, xb, w.w3, l * dim * hidden, dim, hidden);
      for (let i = 0; i < hidden; i++) hb[i] = (hb[i]! / (1 + Math.exp(-hb[i]!))) * hb2[i]!;
      matmul(xb, hb, w.w2, l * hidden * dim, hidden, dim);
      for (let j = 0; j < dim; j++) x[j] += xb[j]!;
    }
  }
  rmsnorm(xb, x, w.rmsFinal, 0);
  matmul(logits, xb, m.wcls, 0, dim, m.vocab);
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += logits[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < logits.length; i++) logits[i]! /= sum;
  return logits;
}

test('local backend top-k equals an independent forward pass of the llama2.c checkpoint', { skip }, async (t) => {
  const ref = loadLlama2c(dir + 'checkpoint_legacy.bin');
  assert.deepEqual([ref.dim, ref.layers, ref.heads, ref.kvHeads, ref.vocab], [64, 5, 8, 4, 512]);
  const llm = await LlamaCppLLM.load(dir + 'stories260K.gguf');
  try {
    let worst = 0;
    for (const text of ['Once upon a time', 'Lily and Tom went to the park. They saw a big', 'The cat']) {
      const ids = [1, ...(await llm.tokenize(text))];
      const p = forward(ref, ids);
      const [top] = await llm.topK([[{ ids }]], 10, { addBos: false });
      const order = [...p.keys()].sort((a, b) => p[b]! - p[a]!);
      assert.deepEqual(top!.slice(0, 3).map((e) => e.id), order.slice(0, 3), text);
      for (const e of top!) worst = Math.max(worst, Math.abs(e.prob - p[e.id]!));
    }
    t.diagnostic(`largest top-10 probability difference: ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-3, `largest probability difference ${worst}`);
    // Greedy generation follows the reference's argmax token by token.
    const g = await llm.generate('Once upon a time', { maxTokens: 12 });
    const seq = [1, ...(await llm.tokenize('Once upon a time'))];
    for (const id of g.ids) {
      const p = forward(ref, seq);
      assert.equal(id, p.indexOf(Math.max(...p)));
      seq.push(id);
    }
  } finally {
    await llm.dispose();
  }
});
