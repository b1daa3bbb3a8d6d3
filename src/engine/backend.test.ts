// Backend selection: explicit name, V2L_BACKEND, the tfjs-node probe, wasm by default, clear errors.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { BACKENDS, backendInfo, backendReady, chooseBackend, initBackend, requireBackend } from './backend.js';

const savedEnv = process.env.V2L_BACKEND;
function setEnv(v: string | undefined): void {
  if (v === undefined) delete process.env.V2L_BACKEND;
  else process.env.V2L_BACKEND = v;
}

let tfjsNodeInstalled = true;
try {
  createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
} catch {
  tfjsNodeInstalled = false;
}

describe('initBackend', () => {
  after(async () => {
    setEnv(savedEnv);
    await initBackend('wasm');
  });

  it('defaults to wasm when nothing is asked and tfjs-node is absent (tensorflow when present)', async () => {
    setEnv(undefined);
    const name = await initBackend();
    assert.equal(name, tfjsNodeInstalled ? 'tensorflow' : 'wasm');
    assert.equal(tf.getBackend(), name);
  });

  it('reports wasm with SIMD and one thread in Node', async () => {
    await initBackend('wasm');
    assert.deepEqual(backendInfo(), { name: 'wasm', simd: true, threads: 1 });
  });

  it('an explicit name wins over V2L_BACKEND, which wins over the default', async () => {
    setEnv('cpu');
    assert.equal(await initBackend(), 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(backendInfo().name, 'cpu');
    assert.equal(await initBackend('wasm'), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    setEnv(' WASM ');
    assert.equal(await initBackend(), 'wasm');
    setEnv(undefined);
  });

  it('is idempotent and cheap to call again, also concurrently', async () => {
    await initBackend('wasm');
    const names = await Promise.all([initBackend(), initBackend('wasm'), initBackend()]);
    assert.deepEqual(names, ['wasm', 'wasm', 'wasm']);
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) await initBackend();
    assert.equal(tf.getBackend(), 'wasm');
    // Not a timing assertion on the machine's speed: 1000 calls that do nothing stay far below a second.
    assert.ok(performance.now() - t0 < 1000);
  });

  it('without a name or V2L_BACKEND keeps the backend chosen before', async () => {
    setEnv(undefined);
    await initBackend('cpu');
    assert.equal(await initBackend(), 'cpu');
    assert.equal(await initBackend('wasm'), 'wasm');
    assert.equal(await initBackend(), 'wasm');
  });

  it('recovers when something else switched the backend behind its back', async () => {
    await initBackend('wasm');
    await tf.setBackend('cpu');
    assert.equal(await initBackend('wasm'), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('rejects an unknown name, listing the choices, and leaves the backend as it was', async () => {
    await initBackend('wasm');
    await assert.rejects(initBackend('webgpu'), (e: Error) => e.message.includes("'webgpu'") && BACKENDS.every((b) => e.message.includes(b)));
    setEnv('gpu');
    await assert.rejects(initBackend(), /V2L_BACKEND.*wasm, cpu, tensorflow/);
    setEnv(undefined);
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('explains that tensorflow needs tfjs-node when it is not installed', { skip: tfjsNodeInstalled ? 'tfjs-node is installed here' : false }, async () => {
    await assert.rejects(initBackend('tensorflow'), /@tensorflow\/tfjs-node.*not installed/);
    assert.equal(tf.getBackend(), 'wasm');
  });

  it("the CLI's choice (chooseBackend) is checked at once, names --backend, and wins over V2L_BACKEND", async () => {
    assert.throws(() => chooseBackend('bogus'), /unknown tensor backend 'bogus' \(from --backend\)/);
    setEnv('wasm');
    chooseBackend('cpu');
    try {
      assert.equal(await initBackend(), 'cpu');
    } finally {
      chooseBackend(undefined);
      setEnv(undefined);
    }
    assert.equal(await initBackend('wasm'), 'wasm');
  });

  it('library code checks that a backend is ready and never selects one', async () => {
    await initBackend('wasm');
    assert.equal(backendReady(), true);
    assert.equal(requireBackend('the tokenizer'), 'wasm');
    await tf.setBackend('cpu'); // switched behind initBackend's back: not the chosen one any more
    assert.throws(() => requireBackend('the tokenizer'), /the tokenizer needs a tensor backend: call initBackend\(\) first/);
    assert.equal(tf.getBackend(), 'cpu', 'requireBackend switched nothing');
    await initBackend('wasm');
  });

  it('registers gradients and chained ops, which tfjs-core alone does not', async () => {
    await initBackend('wasm');
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2, 3])).arraySync());
    assert.deepEqual(g, [2, 4, 6]);
    const r = tf.tidy(() => tf.tensor1d([1, 2, 3, 4]).reshape([2, 2]).shape);
    assert.deepEqual(r, [2, 2]);
  });
});
