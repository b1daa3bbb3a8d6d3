// Every backward rule against float64 central finite differences on small random shapes: strides 1 and 2,
// batch > 1, non-square, the downsample's asymmetric padding, broadcasting both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGradients, type GradInput } from './test-utils/check.js';
import { convOptions, ruleOptions } from './rules.js';
import type { Tape } from './tape.js';
import { OnnxEmitter } from '../network/onnx.js';
import { groupNormOnnx, layerOptions, linearOnnx } from '../network/layers.onnx.js';
import { l2NormalizeOnnx, swishOnnx } from '../network/ops.onnx.js';
import { upsampleNearest2xOnnx } from '../network/sampling.onnx.js';
import { Tape as TapeClass } from './tape.js';
import { gradients } from './backward.js';

const TOL = 2e-3;

async function expectMatch(what: string, inputs: GradInput[], build: (t: Tape, x: Record<string, string>) => string): Promise<void> {
  const r = await checkGradients(inputs, build);
  assert.ok(r.checked > 0, `${what}: nothing checked`);
  assert.ok(r.maxRelError < TOL, `${what}: max relative error ${r.maxRelError.toExponential(2)} over ${r.checked} elements`);
}

const conv = (t: Tape, x: Record<string, string>, attrs: Record<string, number[]>, bias = true) =>
  t.op('Conv', bias ? [x.x, x.w, x.b] : [x.x, x.w], attrs);

const CONV_FORMS = [['folded', 'conv', 'polyphase', 'concat', 'pad'], ['shifts', 'conv', 'zeros', 'pad', 'slice'], ['im2col', 'conv', 'polyphase', 'concat', 'pad'],
  ['taps', 'conv', 'zeros', 'concat', 'pad'], ['conv', 'conv', 'polyphase', 'concat', 'pad'], ['im2col', 'convTranspose', 'polyphase', 'concat', 'pad'],
  ['shifts', 'conv', 'convTranspose', 'concat', 'pad']] as const;
for (const [weightGrad, inputGrad, stridedInputGrad, shiftRows, shiftCols] of CONV_FORMS) {
  const mode = `${weightGrad}${weightGrad === 'shifts' ? ` (rows by ${shiftRows}, columns by ${shiftCols})` : ''}, input gradient by ${inputGrad}, strided by ${stridedInputGrad}`;
  const use = () => Object.assign(convOptions, { weightGrad, inputGrad, stridedInputGrad, shiftRows, shiftCols });
  test(`Conv backward (weight gradient by ${mode}): 3x3 stride 1 pad 1, batch 2, non-square, with bias`, async () => {
    use();
    await expectMatch('conv s1', [{ name: 'x', shape: [2, 3, 5, 7] }, { name: 'w', shape: [4, 3, 3, 3] }, { name: 'b', shape: [4] }],
      (t, x) => conv(t, x, { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }));
    await expectMatch('conv s1 3x2 asymmetric pads', [{ name: 'x', shape: [2, 3, 5, 6] }, { name: 'w', shape: [2, 3, 3, 2] }, { name: 'b', shape: [2] }],
      (t, x) => conv(t, x, { kernel_shape: [3, 2], strides: [1, 1], pads: [0, 1, 2, 0] }));
  });

  test(`Conv backward (${mode}): 3x3 stride 2 with the downsample's asymmetric padding (0,0,1,1), even and odd sizes`, async () => {
    use();
    for (const [h, w] of [[6, 8], [7, 5]]) {
      await expectMatch(`conv s2 ${h}x${w}`, [{ name: 'x', shape: [2, 3, h, w] }, { name: 'w', shape: [2, 3, 3, 3] }, { name: 'b', shape: [2] }],
        (t, x) => conv(t, x, { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }));
    }
  });

  test(`Conv backward (${mode}): 1x1 without bias; 4x4 stride 2 pad 1 (PatchGAN); 3x3 stride 2 pad 1, odd sizes`, async () => {
    use();
    await expectMatch('conv 1x1', [{ name: 'x', shape: [3, 4, 3, 5] }, { name: 'w', shape: [6, 4, 1, 1] }], (t, x) => conv(t, x, { kernel_shape: [1, 1] }, false));
    await expectMatch('conv 4x4 s2', [{ name: 'x', shape: [2, 2, 8, 6] }, { name: 'w', shape: [3, 2, 4, 4] }, { name: 'b', shape: [3] }],
      (t, x) => conv(t, x, { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] }));
    await expectMatch('conv 4x4 s2 odd', [{ name: 'x', shape: [2, 2, 9, 7] }, { name: 'w', shape: [3, 2, 4, 4] }, { name: 'b', shape: [3] }],
      (t, x) => conv(t, x, { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] }));
    await expectMatch('conv 3x3 s2 p1 odd', [{ name: 'x', shape: [2, 2, 9, 6] }, { name: 'w', shape: [3, 2, 3, 3] }],
      (t, x) => conv(t, x, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, false));
  });
}

test('Conv backward, strided input gradient by phases: each interleave; unequal strides (2, 1), (1, 3); stride 3 with a 2x2 kernel; batch 3, odd sides', async () => {
  for (const interleave of ['convTranspose', 'depthToSpace', 'transpose'] as const) {
    Object.assign(convOptions, { weightGrad: 'shifts', inputGrad: 'conv', stridedInputGrad: 'polyphase', interleave });
    await expectMatch(`conv s2 downsample 7x6, interleave ${interleave}`, [{ name: 'x', shape: [3, 2, 7, 6] }, { name: 'w', shape: [3, 2, 3, 3] }, { name: 'b', shape: [3] }],
      (t, x) => conv(t, x, { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }));
  }
  await expectMatch('conv s(2,1)', [{ name: 'x', shape: [3, 2, 7, 5] }, { name: 'w', shape: [3, 2, 3, 3] }, { name: 'b', shape: [3] }],
    (t, x) => conv(t, x, { kernel_shape: [3, 3], strides: [2, 1], pads: [0, 1, 1, 1] }));
  await expectMatch('conv s(1,3)', [{ name: 'x', shape: [3, 2, 5, 11] }, { name: 'w', shape: [2, 2, 3, 4] }],
    (t, x) => conv(t, x, { kernel_shape: [3, 4], strides: [1, 3], pads: [1, 2, 1, 0] }, false));
  await expectMatch('conv 2x2 s3', [{ name: 'x', shape: [3, 2, 8, 7] }, { name: 'w', shape: [3, 2, 2, 2] }, { name: 'b', shape: [3] }],
    (t, x) => conv(t, x, { kernel_shape: [2, 2], strides: [3, 3], pads: [0, 0, 0, 0] }));
});

test('MatMul backward: batched with broadcasting on either side', async () => {
  await expectMatch('matmul [2,3,4]x[4,5]', [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4, 5] }], (t, x) => t.op('MatMul', [x.a, x.b]));
  await expectMatch('matmul [2,1,3,4]x[3,4,2]', [{ name: 'a', shape: [2, 1, 3, 4] }, { name: 'b', shape: [3, 4, 2] }], (t, x) => t.op('MatMul', [x.a, x.b]));
});

test('Gemm backward: every transposition, alpha, beta and a broadcast C', async () => {
  for (const [transA, transB] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
    await expectMatch(`gemm ${transA}${transB}`, [{ name: 'a', shape: transA ? [4, 3] : [3, 4] }, { name: 'b', shape: transB ? [5, 4] : [4, 5] }, { name: 'c', shape: [5] }],
      (t, x) => t.op('Gemm', [x.a, x.b, x.c], { transA, transB, alpha: { float: -2 }, beta: { float: 0.5 } }));
  }
});

test('Add, Sub, Mul, Div backward reduce to each operand\'s broadcast shape', async () => {
  const inputs: GradInput[] = [{ name: 'a', shape: [2, 3, 4, 5] }, { name: 'b', shape: [3, 1, 1], positive: true }, { name: 'c', shape: [1, 4, 1], positive: true }];
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    await expectMatch(op, inputs, (t, x) => t.op(op, [t.op(op, [x.a, x.b]), x.c]));
    await expectMatch(`${op} reversed`, inputs, (t, x) => t.op(op, [x.b, t.op(op, [x.c, x.a])]));
  }
});

test('unary ops: Sigmoid, swish (fan-out), Sqrt, Pow 2 and 3, Abs, Relu, LeakyRelu, Exp, Log, Reciprocal, Neg', async () => {
  const x: GradInput[] = [{ name: 'x', shape: [2, 3, 4] }];
  const pos: GradInput[] = [{ name: 'x', shape: [2, 3, 4], positive: true }];
  await expectMatch('sigmoid', x, (t, v) => t.op('Sigmoid', [v.x]));
  await expectMatch('swish', x, (t, v) => swishOnnx(new OnnxEmitter(t, new Map()), v.x));
  await expectMatch('sqrt', pos, (t, v) => t.op('Sqrt', [v.x]));
  await expectMatch('pow 2', x, (t, v) => t.op('Pow', [v.x, t.scalar('p', 2)]));
  await expectMatch('pow 3', x, (t, v) => t.op('Pow', [v.x, t.scalar('p', 3)]));
  await expectMatch('abs', x, (t, v) => t.op('Abs', [v.x]));
  await expectMatch('relu', x, (t, v) => t.op('Relu', [v.x]));
  await expectMatch('leaky relu', x, (t, v) => t.op('LeakyRelu', [v.x], { alpha: { float: 0.2 } }));
  await expectMatch('exp', x, (t, v) => t.op('Exp', [v.x]));
  await expectMatch('log', pos, (t, v) => t.op('Log', [v.x]));
  await expectMatch('reciprocal', pos, (t, v) => t.op('Reciprocal', [v.x]));
  await expectMatch('neg', x, (t, v) => t.op('Neg', [v.x]));
});

test('Softmax backward on the last axis and on axis 1', async () => {
  await expectMatch('softmax -1', [{ name: 'x', shape: [2, 3, 5] }], (t, v) => t.op('Softmax', [v.x], { axis: -1 }));
  await expectMatch('softmax 1', [{ name: 'x', shape: [2, 3, 5] }], (t, v) => t.op('Softmax', [v.x], { axis: 1 }));
});

test('ReduceSum / ReduceMean backward, keepdims 0 and 1', async () => {
  await expectMatch('reducesum', [{ name: 'x', shape: [2, 3, 4] }], (t, v) => t.op('ReduceSum', [v.x, t.ints('a', [0, 2])], { keepdims: 0 }));
  await expectMatch('reducemean', [{ name: 'x', shape: [2, 3, 4] }], (t, v) => t.op('ReduceMean', [v.x], { axes: [1], keepdims: 1 }));
  await expectMatch('reducemean all', [{ name: 'x', shape: [2, 3, 4] }], (t, v) => t.op('ReduceMean', [v.x], { keepdims: 0 }));
});

test('GroupNorm (the network\'s emitter) with fed parameters: C == 32 groups as one InstanceNormalization with the affine, C == 64 grouped then the affine (BatchNormalization, or Mul and Add)', async () => {
  for (const [c, h, w, bn] of [[32, 3, 5, true], [64, 3, 5, true], [64, 4, 3, false]] as const) {
    Object.assign(layerOptions, { affineBatchNorm: bn });
    await expectMatch(`groupnorm C=${c}`, [{ name: 'x', shape: [2, c, h, w] }, { name: 'n.weight', shape: [c] }, { name: 'n.bias', shape: [c] }], (t, v) => {
      const sd = new Map([['n.weight', { dtype: 'F32' as const, shape: [c], data: new Float32Array(c) }], ['n.bias', { dtype: 'F32' as const, shape: [c], data: new Float32Array(c) }]]);
      return groupNormOnnx(new OnnxEmitter(t, sd, (name) => v[name]), 'n', v.x);
    });
  }
  Object.assign(layerOptions, { affineBatchNorm: true });
});

test('BatchNormalization backward (inference mode): constant mean and variance, general and unit (mean 0, variance + eps == 1)', async () => {
  const stats = (t: Tape, mean: number[], variance: number[]) => [t.weight('m', [mean.length], Float32Array.from(mean)), t.weight('v', [variance.length], Float32Array.from(variance))];
  await expectMatch('batchnorm', [{ name: 'x', shape: [2, 3, 4, 5] }, { name: 's', shape: [3] }, { name: 'b', shape: [3] }],
    (t, v) => t.op('BatchNormalization', [v.x, v.s, v.b, ...stats(t, [0.5, -1, 2], [0.7, 1.5, 3])], { epsilon: { float: 1e-3 } }));
  await expectMatch('batchnorm unit', [{ name: 'x', shape: [3, 2, 7] }, { name: 's', shape: [2] }, { name: 'b', shape: [2] }],
    (t, v) => t.op('BatchNormalization', [v.x, v.s, v.b, ...stats(t, [0, 0], [1 - 2 ** -24, 1 - 2 ** -24])], { epsilon: { float: 2 ** -24 } }));
});

test('InstanceNormalization backward with a fed, non-unit scale and a bias (gradients for x, scale and bias), both forms', async () => {
  for (const affine of [true, false]) {
    Object.assign(ruleOptions, { affineInstanceNorm: affine });
    await expectMatch(`instancenorm (affine form ${affine})`, [{ name: 'x', shape: [2, 3, 4, 5] }, { name: 's', shape: [3] }, { name: 'b', shape: [3] }],
      (t, v) => t.op('InstanceNormalization', [v.x, v.s, v.b], { epsilon: { float: 1e-6 } }));
    await expectMatch(`instancenorm 3-d (affine form ${affine})`, [{ name: 'x', shape: [3, 2, 7] }, { name: 's', shape: [2] }, { name: 'b', shape: [2] }],
      (t, v) => t.op('InstanceNormalization', [v.x, v.s, v.b], { epsilon: { float: 1e-5 } }));
  }
  Object.assign(ruleOptions, { affineInstanceNorm: true });
});

test('linear (fed weight, transposed in the graph), L2 normalisation, nearest x2 upsampling, Reshape/Transpose', async () => {
  await expectMatch('linear', [{ name: 'x', shape: [2, 3, 4] }, { name: 'l.weight', shape: [5, 4] }, { name: 'l.bias', shape: [5] }], (t, v) => {
    const sd = new Map([['l.weight', { dtype: 'F32' as const, shape: [5, 4], data: new Float32Array(20) }], ['l.bias', { dtype: 'F32' as const, shape: [5], data: new Float32Array(5) }]]);
    return linearOnnx(new OnnxEmitter(t, sd, (name) => v[name]), 'l', v.x);
  });
  await expectMatch('l2norm', [{ name: 'x', shape: [2, 6, 3] }], (t, v) => l2NormalizeOnnx(new OnnxEmitter(t, new Map()), v.x, 1));
  for (const poolResize of [true, false]) {
    Object.assign(ruleOptions, { poolResize });
    await expectMatch(`resize (block sum by pooling: ${poolResize})`, [{ name: 'x', shape: [2, 3, 3, 2] }], (t, v) => upsampleNearest2xOnnx(new OnnxEmitter(t, new Map()), v.x));
  }
  Object.assign(ruleOptions, { poolResize: true });
  await expectMatch('reshape/transpose', [{ name: 'x', shape: [2, 3, 4] }], (t, v) => t.op('Transpose', [t.op('Reshape', [v.x, t.ints('s', [4, 6])])], { perm: [1, 0] }));
});

test('MaxPool backward: overlapping 3x3 stride 2 windows (LPIPS AlexNet) and 2x2 stride 2 (VGG)', async () => {
  await expectMatch('maxpool 3/2', [{ name: 'x', shape: [2, 3, 7, 9] }], (t, v) => t.op('MaxPool', [v.x], { kernel_shape: [3, 3], strides: [2, 2] }));
  await expectMatch('maxpool 2/2', [{ name: 'x', shape: [2, 2, 6, 4] }], (t, v) => t.op('MaxPool', [v.x], { kernel_shape: [2, 2], strides: [2, 2] }));
});

test('Pad, Slice and Concat backward', async () => {
  await expectMatch('pad', [{ name: 'x', shape: [2, 3, 4] }], (t, v) => t.op('Pad', [v.x, t.ints('p', [0, 1, 2, 1, 0, 1])]));
  await expectMatch('slice', [{ name: 'x', shape: [2, 5, 4] }], (t, v) => t.op('Slice', [v.x, t.ints('s', [1, 1]), t.ints('e', [4, -1]), t.ints('a', [1, 2])]));
  await expectMatch('concat', [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [2, 2, 4] }], (t, v) => t.op('Concat', [v.a, v.b, v.a], { axis: 1 }));
});

test('stop-gradient cuts the path: d/dx sum(R * x * sg(x)) = R * x, not 2 R x', async () => {
  const t = new TapeClass();
  const x = t.input('x', [3], { grad: true });
  const loss = t.op('ReduceSum', [t.op('Mul', [x, t.stopGradient(x)])], { keepdims: 0 });
  const [g] = gradients(t, loss, [x]);
  const ort = await import('onnxruntime-node');
  const s = await ort.InferenceSession.create(t.build('sg', [t.output('g', g)]));
  const r = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, -2, 3), [3]) });
  assert.deepEqual([...(r.g.data as Float32Array)], [1, -2, 3]);
});

test('Gather backward (rows, repeated rows summed)', async () => {
  await expectMatch('gather rows', [{ name: 'x', shape: [5, 3] }], (t, v) => t.op('Gather', [v.x, t.ints('i', [4, 0, 4, 2, 4, 1])], { axis: 0 }));
  await expectMatch('gather rows 3-d', [{ name: 'x', shape: [4, 2, 3] }], (t, v) => t.op('Gather', [v.x, t.ints('i', [3, 3, 0])], { axis: 0 }));
});

test('an op without a backward rule is refused naming it', () => {
  const t = new TapeClass();
  const x = t.input('x', [3, 4], { grad: true });
  const loss = t.op('ReduceSum', [t.op('Clip', [x, t.scalar('lo', 0), t.scalar('hi', 1)])], { keepdims: 0 });
  assert.throws(() => gradients(t, loss, [x]), /no backward rule for ONNX Clip/);
});

test('grouped Conv backward (input and bias gradients; constant kernels): Winograd\'s depthwise transforms (6x1 stride 4, 6 outputs per channel) and a 3x3 stride-2 conv in 2 groups', async () => {
  await expectMatch('depthwise 6x1 s4', [{ name: 'x', shape: [2, 3, 7, 5] }, { name: 'w', shape: [18, 1, 6, 1], noGrad: true }, { name: 'b', shape: [18] }],
    (t, x) => t.op('Conv', [x.x, x.w, x.b], { kernel_shape: [6, 1], strides: [4, 1], pads: [1, 0, 4, 0], group: 3 }));
  await expectMatch('depthwise 1x6 s4', [{ name: 'x', shape: [2, 4, 3, 9] }, { name: 'w', shape: [8, 1, 1, 6], noGrad: true }],
    (t, x) => t.op('Conv', [x.x, x.w], { kernel_shape: [1, 6], strides: [1, 4], pads: [0, 1, 0, 4], group: 4 }));
  await expectMatch('group 2 3x3 s2', [{ name: 'x', shape: [2, 4, 7, 6] }, { name: 'w', shape: [6, 2, 3, 3], noGrad: true }, { name: 'b', shape: [6] }],
    (t, x) => t.op('Conv', [x.x, x.w, x.b], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 2 }));
});

test('ConvTranspose backward (input and bias gradients; constant kernels): Winograd\'s output transform (4x4 stride 4, 36 inputs per channel) and a 3x3 stride-2 one with pads and output padding', async () => {
  await expectMatch('depthwise 4x4 s4', [{ name: 'x', shape: [2, 6, 3, 2] }, { name: 'w', shape: [6, 1, 4, 4], noGrad: true }, { name: 'b', shape: [2] }],
    (t, x) => t.op('ConvTranspose', [x.x, x.w, x.b], { kernel_shape: [4, 4], strides: [4, 4], group: 2 }));
  await expectMatch('3x3 s2 padded', [{ name: 'x', shape: [2, 3, 4, 3] }, { name: 'w', shape: [3, 2, 3, 3], noGrad: true }],
    (t, x) => t.op('ConvTranspose', [x.x, x.w], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 0] }));
});

test('the weight gradient of a grouped Conv or of a ConvTranspose is refused naming it', () => {
  const t = new TapeClass();
  const x = t.input('x', [1, 2, 4, 4], { grad: true });
  const w = t.input('w', [2, 1, 3, 3], { grad: true });
  const grouped = t.op('ReduceSum', [t.op('Conv', [x, w], { kernel_shape: [3, 3], group: 2 })], { keepdims: 0 });
  assert.throws(() => gradients(t, grouped, [x, w]), /no weight gradient for a grouped convolution \(group 2/);
  const transposed = t.op('ReduceSum', [t.op('ConvTranspose', [x, w], { kernel_shape: [3, 3], group: 2 })], { keepdims: 0 });
  assert.throws(() => gradients(t, transposed, [x, w]), /ConvTranspose backward: no weight gradient/);
});
