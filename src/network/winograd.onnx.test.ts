// Winograd F(4x4, 3x3) against the direct Conv on onnxruntime: one convolution (even and odd sides, with
// and without bias, the weights as an initializer and as a fed input), the whole decoder (pixels), and in
// training graphs: the gradients through Winograd's graph (src/grad) against the direct Conv's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph.js';
import { OnnxEmitter } from './onnx.js';
import { conv2dOnnx } from './layers.onnx.js';
import { winogradConv3x3Onnx } from './winograd.onnx.js';
import { decoderModel, encoderModel } from './v2l-model.onnx.js';
import { NetworkParams } from './network-params.js';
import { tinyConfig } from '../train/test-utils/fixtures.js';
import type { HostTensor } from '../io/dtypes.js';
import { Tape } from '../grad/tape.js';
import { gradients } from '../grad/backward.js';

const wave = (n: number, f: number, a: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f + 0.3) * a);

async function run(model: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)])));
    return new Float32Array(out.y.data as Float32Array);
  } finally {
    await s.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

test('one 3x3 convolution: Winograd equals the direct Conv (even and odd sides, bias or not, fed weights)', async () => {
  const [cout, cin] = [48, 40];
  for (const [b, h, w, bias] of [[2, 12, 10, true], [1, 7, 5, true], [1, 1, 1, false], [1, 6, 9, false], [1, 16, 13, true]] as const) {
    const sd = new Map<string, HostTensor>([['c.weight', { dtype: 'F32', shape: [cout, cin, 3, 3], data: wave(cout * cin * 9, 1.7, 0.1) }]]);
    if (bias) sd.set('c.bias', { dtype: 'F32', shape: [cout], data: wave(cout, 0.9, 0.5) });
    const x = { data: wave(b * cin * h * w, 0.37, 1), dims: [b, cin, h, w] };
    const build = (winograd: boolean, fed: boolean) => {
      const g = new GraphBuilder();
      const e = new OnnxEmitter(g, sd, fed ? (name) => (name === 'c.weight' ? 'w' : null) : undefined);
      g.op('Identity', [winograd ? winogradConv3x3Onnx(e, 'c', 'x') : conv2dOnnx(e, 'c', 'x', { pad: 1 })], {}, 'y');
      const inputs = [{ name: 'x', type: 'float32' as const, shape: [b, cin, h, w] }];
      if (fed) inputs.push({ name: 'w', type: 'float32', shape: [cout, cin, 3, 3] });
      return g.build('conv', inputs, [{ name: 'y', type: 'float32', shape: [b, cout, h, w] }]);
    };
    const direct = await run(build(false, false), { x });
    let scale = 0;
    for (const v of direct) scale = Math.max(scale, Math.abs(v));
    const wino = await run(build(true, false), { x });
    const winoFed = await run(build(true, true), { x, w: { data: sd.get('c.weight')!.data as Float32Array, dims: [cout, cin, 3, 3] } });
    assert.ok(maxAbsDiff(direct, wino) <= 1e-5 * scale, `${b}x${h}x${w}: ${maxAbsDiff(direct, wino)} of ${scale}`);
    assert.ok(maxAbsDiff(direct, winoFed) <= 1e-5 * scale, `fed ${b}x${h}x${w}: ${maxAbsDiff(direct, winoFed)} of ${scale}`);
  }
});

test('the decoder with Winograd convolutions: pixels within a tenth of a grey level of the direct one', async () => {
  const c = tinyConfig();
  const sd = new NetworkParams(c, { seed: 5 }).stateDict();
  const [b, side, k] = [2, 8, 3];
  const feeds = { zq: { data: wave(b * c.embedDim * side * side, 0.61, 1), dims: [b, c.embedDim, side, side] }, global_embeddings: { data: wave(b * k * c.embedDim, 0.23, 1), dims: [b, k, c.embedDim] } };
  const decode = async (winograd: boolean) => {
    const s = await ort.InferenceSession.create(decoderModel(c, sd, { winograd }), { intraOpNumThreads: 1 });
    try {
      const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([n, v]) => [n, new ort.Tensor('float32', v.data, v.dims)])));
      return new Float32Array(out.image.data as Float32Array);
    } finally {
      await s.release();
    }
  };
  const [direct, wino] = [await decode(false), await decode(true)];
  assert.notEqual(decoderModel(c, sd, { winograd: true }).length, decoderModel(c, sd).length, 'the Winograd graph differs');
  const greyLevels = maxAbsDiff(direct, wino) * 127.5; // the image's [-1, 1] as 0..255
  assert.ok(greyLevels < 0.1, `${greyLevels} grey levels`);
});

test('the encoder with Winograd convolutions: z (L2-normalised) within 1e-5 of the direct one', async () => {
  const c = tinyConfig();
  const sd = new NetworkParams(c, { seed: 6 }).stateDict();
  const image = new ort.Tensor('float32', wave(2 * 3 * 32 * 32, 0.13, 1), [2, 3, 32, 32]);
  const encode = async (winograd: boolean) => {
    const s = await ort.InferenceSession.create(encoderModel(c, sd, { winograd }), { intraOpNumThreads: 1 });
    try {
      return new Float32Array((await s.run({ image })).z.data as Float32Array);
    } finally {
      await s.release();
    }
  };
  assert.notEqual(encoderModel(c, sd, { winograd: true }).length, encoderModel(c, sd).length, 'the Winograd graph differs');
  const d = maxAbsDiff(await encode(false), await encode(true));
  assert.ok(d < 1e-5, `${d}`);
});

/** A training tape: y = conv(x) with the weight and bias fed, loss sum(y * r), and the three gradients. */
function trainingConv(shape: number[], cout: number, how: 'direct' | 'winograd' | 'folded' | 'recomputed' | { minChannels: number; minSide: number }): { model: Uint8Array; nodes: string[] } {
  const [b, cin, h, w] = shape;
  const t = new Tape();
  const x = t.input('x', shape, { grad: true });
  const sd = new Map<string, HostTensor>([['c.weight', { dtype: 'F32', shape: [cout, cin, 3, 3], data: new Float32Array(cout * cin * 9) }], ['c.bias', { dtype: 'F32', shape: [cout], data: new Float32Array(cout) }]]);
  const e = new OnnxEmitter(t, sd, (name, s) => t.input(name, s, { grad: true }));
  if (typeof how === 'object') e.trainWinograd = how;
  const y = typeof how === 'string' && how !== 'direct' ? winogradConv3x3Onnx(e, 'c', x, { foldBatch: how !== 'winograd', recompute: how === 'recomputed' }) : conv2dOnnx(e, 'c', x, { pad: 1 });
  const loss = t.op('ReduceSum', [t.op('Mul', [y, t.input('r', [b, cout, h, w])])], { keepdims: 0 });
  const grads = gradients(t, loss, ['x', 'c.weight', 'c.bias']);
  return { model: t.build('conv_step', [t.output('loss', loss), ...grads.map((g, i) => t.output(`grad${i}`, g))]), nodes: t.nodes.map((n) => n.op) };
}

test('training graphs: gradients through Winograd (x, fed weight, bias; both MatMul layouts; the transformed input kept or recomputed) equal the direct Conv\'s within 5e-5 of their scale (measured up to 1.1e-5 for x, 2.6e-5 for the weight)', async () => {
  const [cout, cin] = [40, 36];
  for (const [b, h, w] of [[2, 12, 10], [3, 7, 5], [1, 16, 13], [2, 8, 12]]) {
    const shape = [b, cin, h, w];
    const feeds = {
      x: new ort.Tensor('float32', wave(b * cin * h * w, 0.37, 1), shape),
      'c.weight': new ort.Tensor('float32', wave(cout * cin * 9, 1.7, 0.1), [cout, cin, 3, 3]),
      'c.bias': new ort.Tensor('float32', wave(cout, 0.9, 0.5), [cout]),
      r: new ort.Tensor('float32', wave(b * cout * h * w, 0.53, 1), [b, cout, h, w]),
    };
    const runAll = async (model: Uint8Array) => {
      const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
      try {
        const out = await s.run(feeds);
        return ['grad0', 'grad1', 'grad2'].map((k) => new Float32Array(out[k].data as Float32Array));
      } finally {
        await s.release();
      }
    };
    const direct = await runAll(trainingConv(shape, cout, 'direct').model);
    for (const how of ['winograd', 'folded', 'recomputed'] as const) {
      const wino = await runAll(trainingConv(shape, cout, how).model);
      direct.forEach((d, i) => {
        const scale = d.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assert.ok(scale > 0 && maxAbsDiff(d, wino[i]) <= 5e-5 * scale, `${how} ${b}x${h}x${w} gradient ${i}: ${maxAbsDiff(d, wino[i])} of ${scale}`);
      });
    }
  }
});

test('training graphs take Winograd only where the emitter\'s trainWinograd thresholds allow (channels in and out, plane sides)', () => {
  const uses = (shape: number[], cout: number, t: { minChannels: number; minSide: number }) => trainingConv(shape, cout, t).nodes.includes('ConvTranspose');
  assert.ok(uses([1, 32, 8, 8], 32, { minChannels: 32, minSide: 8 }));
  assert.ok(!uses([1, 32, 8, 8], 32, { minChannels: 64, minSide: 8 }), 'too few channels');
  assert.ok(!uses([1, 64, 8, 8], 32, { minChannels: 64, minSide: 8 }), 'too few output channels');
  assert.ok(!uses([1, 32, 8, 7], 32, { minChannels: 32, minSide: 8 }), 'a side too short');
  assert.ok(!trainingConv([1, 32, 8, 8], 32, 'direct').nodes.includes('ConvTranspose'), 'no thresholds: direct');
  // Recomputed: the backward transforms x again (two more depthwise Convs), so the forward's copy is not kept.
  const count = (how: 'folded' | 'recomputed') => trainingConv([1, 32, 8, 8], 32, how).nodes.filter((op) => op === 'Conv').length;
  assert.equal(count('recomputed'), count('folded') + 2);
});
