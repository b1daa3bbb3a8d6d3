// LPIPS with a STAND-IN backbone: no pretrained VGG16/AlexNet exists on the test machines, so these
// tests check the computation (heads loading, scaling, normalisation, shapes, gradients) with seeded
// random backbone weights; the distances they produce are not perceptual.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { Lpips, standInBackbone, tapChannels } from './lpips.js';
import { readLpipsHeads } from './lpips-files.js';
import { skipUnless } from '../util/test-utils/shared.js';

const LPIPS_DIR = fileURLToPath(new URL('../../../shared/models/lpips/', import.meta.url));
const skip = skipUnless(LPIPS_DIR, 'the LPIPS heads');

before(async () => {
  await initBackend('cpu');
});

test('tap widths are those of the LPIPS heads', () => {
  assert.deepEqual(tapChannels('vgg'), [64, 128, 256, 512, 512]);
  assert.deepEqual(tapChannels('alex'), [64, 192, 384, 256, 256]);
});

test('LPIPS heads read identically from the .pth and the JSON release', { skip }, async () => {
  for (const b of ['alex', 'vgg'] as const) {
    const a = await readLpipsHeads(`${LPIPS_DIR}v0.1/${b}.pth`);
    const j = await readLpipsHeads(`${LPIPS_DIR}v0.1_json/${b}.json`);
    assert.deepEqual([...a.keys()].sort(), [...j.keys()].sort());
    for (const [k, t] of a) assert.deepEqual(Array.from(t.data as Float32Array), Array.from(j.get(k)!.data as Float32Array), k);
  }
});

test('stand-in LPIPS: zero for identical images, symmetric, positive otherwise, differentiable', { skip }, async () => {
  const heads = await readLpipsHeads(`${LPIPS_DIR}v0.1_json/vgg.json`);
  const l = new Lpips({ backbone: 'vgg', backboneWeights: standInBackbone('vgg', 3), heads, standIn: true });
  const a = tf.randomUniform([2, 3, 16, 16], -1, 1, 'float32', 1) as tf.Tensor4D;
  const b = tf.randomUniform([2, 3, 16, 16], -1, 1, 'float32', 2) as tf.Tensor4D;
  assert.deepEqual(Array.from(l.distance(a, a).dataSync()), [0, 0]);
  const ab = l.distance(a, b).dataSync();
  const ba = l.distance(b, a).dataSync();
  ab.forEach((v, i) => {
    assert.ok(v > 0);
    assert.ok(Math.abs(v - ba[i]) < 1e-6);
  });
  const g = tf.grad((x: tf.Tensor) => tf.mean(l.distance(a, x as tf.Tensor4D)))(b);
  assert.deepEqual(g.shape, [2, 3, 16, 16]);
  assert.ok(tf.norm(g).dataSync()[0] > 0);
});

test('one LPIPS layer computed by hand: normalised features, squared difference, head, spatial mean', { skip }, async () => {
  // A backbone whose first tap is the identity of the scaled input (conv = 1x1-like 3x3 with centre 1 on
  // the first 3 channels): the first tap's contribution can then be computed independently.
  const heads = await readLpipsHeads(`${LPIPS_DIR}v0.1_json/vgg.json`);
  const w = standInBackbone('vgg', 5);
  const zero = (k: string) => (w.get(k)!.data as Float32Array).fill(0);
  for (const k of w.keys()) zero(k);
  const c0 = w.get('features.0.weight')!.data as Float32Array; // [64,3,3,3]
  for (let c = 0; c < 3; c++) c0[(c * 3 + c) * 9 + 4] = 1;
  const c2 = w.get('features.2.weight')!.data as Float32Array; // [64,64,3,3]
  for (let c = 0; c < 64; c++) c2[(c * 64 + c) * 9 + 4] = 1;
  const l = new Lpips({ backbone: 'vgg', backboneWeights: w, heads, standIn: true });
  const a = tf.randomUniform([1, 3, 16, 16], 0, 1, 'float32', 7) as tf.Tensor4D;
  const b = tf.randomUniform([1, 3, 16, 16], 0, 1, 'float32', 8) as tf.Tensor4D;
  // Deeper taps see all-zero features (their convs are zero), so only tap 0 contributes.
  const got = l.distance(a, b).dataSync()[0];
  const shift = [-0.03, -0.088, -0.188];
  const scale = [0.458, 0.448, 0.45];
  const A = a.dataSync();
  const B = b.dataSync();
  const head = heads.get('lin0.model.1.weight')!.data as Float32Array;
  let sum = 0;
  const P = 256;
  for (let p = 0; p < P; p++) {
    const fa = [0, 1, 2].map((c) => Math.max(0, (A[c * P + p] - shift[c]) / scale[c]));
    const fb = [0, 1, 2].map((c) => Math.max(0, (B[c * P + p] - shift[c]) / scale[c]));
    const na = Math.hypot(...fa) + 1e-10;
    const nb = Math.hypot(...fb) + 1e-10;
    for (let c = 0; c < 3; c++) sum += head[c] * (fa[c] / na - fb[c] / nb) ** 2;
  }
  assert.ok(Math.abs(got - sum / P) < 1e-5, `${got} vs ${sum / P}`);
});

test('a backbone file with a missing or misshapen layer is refused by name', { skip }, async () => {
  const heads = await readLpipsHeads(`${LPIPS_DIR}v0.1_json/alex.json`);
  const w = standInBackbone('alex', 1);
  w.delete('features.3.weight');
  assert.throws(() => new Lpips({ backbone: 'alex', backboneWeights: w, heads }), /features\.3\.weight.*missing/);
  const w2 = standInBackbone('alex', 1);
  w2.set('features.0.weight', { dtype: 'F32', shape: [64, 3, 3, 3], data: new Float32Array(64 * 27) });
  assert.throws(() => new Lpips({ backbone: 'alex', backboneWeights: w2, heads }), /features\.0\.weight is \[64,3,3,3\], expected \[64,3,11,11\]/);
});
