import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { OnnxEmitter } from '../network/onnx.js';
import { Tape } from '../grad/tape.js';
import { checkGradients } from '../grad/test-utils/check.js';
import { randn } from '../util/random.js';
import { tinyConfig } from './test-utils/fixtures.js';
import { tinyStep, tinyStepNames } from './test-utils/tiny-step.js';
import { nearestRowsOnnx } from '../network/quantize.onnx.js';
import { codeUsageOnnx, nearestWithUsageOnnx } from './usage-loss.onnx.js';

/** The term and ids on onnxruntime for z [m, dim] and codes [n, dim], beside the inference search's ids. */
async function usage(z: Float32Array, codes: Float32Array, m: number, n: number, dim: number, temperature: number): Promise<{ u: number; ids: BigInt64Array; searchIds: BigInt64Array }> {
  const t = new Tape();
  const e = new OnnxEmitter(t, new Map());
  const [zi, ci] = [t.input('z', [m, dim]), t.input('codes', [n, dim])];
  const r = nearestWithUsageOnnx(e, zi, ci, n, temperature);
  const sq = e.op('ReduceSum', [e.op('Mul', [ci, ci]), e.ints([1])], { keepdims: 0 });
  const search = nearestRowsOnnx(e, zi, e.op('Transpose', [ci], { perm: [1, 0] }), sq, e.ints([1]))[1];
  const outs = [t.output('u', r.usage), t.output('ids', r.ids), t.output('search', search)];
  const s = await ort.InferenceSession.create(t.build('usage', outs));
  const res = await s.run({ z: new ort.Tensor('float32', z, [m, dim]), codes: new ort.Tensor('float32', codes, [n, dim]) });
  await s.release();
  return { u: (res.u.data as Float32Array)[0], ids: res.ids.data as BigInt64Array, searchIds: res.search.data as BigInt64Array };
}

/** The same in float64 on the host, written out from the definition: mean H(q(z)) - H(mean q(z)). */
function usageHost(z: Float32Array, codes: Float32Array, m: number, n: number, dim: number, temperature: number): number {
  const ent = (p: number[]) => -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);
  const mean = new Array<number>(n).fill(0);
  let perRow = 0;
  for (let i = 0; i < m; i++) {
    const logits = Array.from({ length: n }, (_, j) => {
      let d = 0;
      for (let k = 0; k < dim; k++) d += (z[i * dim + k] - codes[j * dim + k]) ** 2;
      return -d / temperature;
    });
    const top = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - top));
    const sum = ex.reduce((a, b) => a + b, 0);
    const q = ex.map((v) => v / sum);
    perRow += ent(q) / m;
    q.forEach((v, j) => { mean[j] += v / m; });
  }
  return perRow - ent(mean);
}

const unitRows = (n: number, dim: number, seed: number) => {
  const v = randn(n * dim, seed);
  for (let i = 0; i < n; i++) {
    const r = Math.hypot(...v.subarray(i * dim, (i + 1) * dim));
    for (let k = 0; k < dim; k++) v[i * dim + k] /= r;
  }
  return v;
};

test('code usage term: equals its float64 definition on random unit rows; the ids are the inference search\'s', async () => {
  const [m, n, dim] = [7, 5, 6];
  const z = unitRows(m, dim, 3);
  const codes = unitRows(n, dim, 4);
  for (const temperature of [0.05, 0.5, 4]) {
    const got = await usage(z, codes, m, n, dim, temperature);
    const want = usageHost(z, codes, m, n, dim, temperature);
    assert.ok(Math.abs(got.u - want) < 1e-4 * Math.max(1, Math.abs(want)), `T=${temperature}: ${got.u} vs ${want}`);
    assert.deepEqual([...got.ids], [...got.searchIds], 'the ids are the search\'s');
  }
});

test('code usage term: -log n when the outputs sit on n different codes, 0 when all sit on one', async () => {
  const [n, dim] = [4, 4];
  const codes = new Float32Array(n * dim);
  for (let j = 0; j < n; j++) codes[j * dim + j] = 1; // orthonormal codes, 2 apart in squared distance
  const spread = (await usage(codes.slice(), codes, n, n, dim, 0.02)).u;
  assert.ok(Math.abs(spread + Math.log(n)) < 1e-3, `spread: ${spread} vs ${-Math.log(n)}`);
  const one = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) one[i * dim] = 1;
  const collapsed = (await usage(one, codes, n, n, dim, 0.02)).u;
  assert.ok(Math.abs(collapsed) < 1e-3, `collapsed: ${collapsed}`);
});

test('code usage term: its gradient in z matches float64 finite differences (codes fed without gradient)', async () => {
  const [m, n, dim] = [6, 5, 4];
  const r = await checkGradients([
    { name: 'z', shape: [m, dim], values: unitRows(m, dim, 5) },
    { name: 'codes', shape: [n, dim], values: unitRows(n, dim, 6), noGrad: true },
  ], (t, x) => {
    // the partial distances as nearestWithUsageOnnx forms them (its TopK is under sg: no gradient, and
    // ./eval64 has no TopK)
    const e = new OnnxEmitter(t, new Map());
    const sq = e.op('ReduceSum', [e.op('Mul', [x.codes, x.codes]), e.ints([1])], { keepdims: 0 });
    const partial = e.op('Gemm', [x.z, e.op('Transpose', [x.codes], { perm: [1, 0] }), sq], { alpha: { float: -2 }, beta: { float: 1 } });
    return codeUsageOnnx(e, partial, n, 0.5);
  });
  assert.ok(r.checked > 0);
  assert.ok(r.maxRelError < 2e-3, `max relative error ${r.maxRelError.toExponential(2)}`);
});

test('the step graph with the usage term: same codes and reconstruction; the term reaches the encoder only', async () => {
  const config = { ...tinyConfig(), crossAttention: false, cosineCodes: true }; // the robust recipe's network
  const gen = tinyStepNames(config);
  const run = (usage?: { weight: number; temperature: number }) => tinyStep(config, { vqBeta: 0, usage });
  const plain = await run();
  const w = 0.5;
  const withUsage = await run({ weight: w, temperature: 0.01 });
  assert.deepEqual([...withUsage.indices], [...plain.indices], 'the same codes');
  assert.equal(plain.terms.usage_loss, undefined);
  const u = withUsage.terms.usage_loss;
  assert.ok(u <= 0 && u >= -Math.log(config.nLocal), `usage ${u} in [-log n, 0]`);
  for (const k of ['rec_loss', 'vq_loss']) assert.ok(Math.abs(withUsage.terms[k] - plain.terms[k]) <= 1e-6, k);
  assert.ok(Math.abs(withUsage.terms.loss - (plain.terms.loss + w * u)) <= 1e-5, 'loss = plain + w * usage');
  const differs = (name: string) => {
    const [a, b] = [plain.grads.get(name)!, withUsage.grads.get(name)!];
    return a.some((v, i) => Math.abs(v - b[i]) > 1e-6 * (Math.abs(v) + 1e-3));
  };
  assert.ok(differs('quant_conv.weight') && differs('encoder.conv_in.weight'), 'the encoder gets the term\'s gradient');
  for (const name of gen.filter((n) => n.startsWith('decoder.') || n.startsWith('post_quant_conv.'))) assert.ok(!differs(name), `${name}: no gradient from the term`);
});
