// The network's host parameters: seeded initialisation, state dict round trip (BatchNorm buffers
// included), loads checked before anything is assigned and done in place (an optimiser holds the arrays),
// PyTorch's running-statistics update; and the declarations against the emitters that read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkParams, updateRunningStats } from './network-params.js';
import { generatorShapes } from './declare.js';
import { tinyConfig } from '../train/test-utils/fixtures.js';
import type { HostTensor } from '../io/dtypes.js';
import type { V2LConfig } from './config.js';
import { decoderModel, encoderModel, projectionModel } from './v2l-model.onnx.js';
import { discriminatorOnnx } from './discriminator.onnx.js';
import { OnnxEmitter } from './onnx.js';
import { GraphBuilder } from '../onnx/graph.js';

test('seeded init is reproducible; the state dict round-trips into a zero network; loads are in place', () => {
  const c = tinyConfig();
  const a = new NetworkParams(c, { seed: 3 });
  const sd = a.stateDict();
  assert.deepEqual(sd, new NetworkParams(c, { seed: 3 }).stateDict());
  assert.notDeepEqual(sd.get('encoder.conv_in.weight'), new NetworkParams(c, { seed: 4 }).stateDict().get('encoder.conv_in.weight'));
  const b = new NetworkParams(c, { init: 'zeros' });
  const held = b.get('decoder.conv_out.weight');
  b.loadStateDict(sd);
  assert.equal(b.get('decoder.conv_out.weight'), held, 'same array object');
  assert.deepEqual(b.stateDict(), sd);
  // The generator's declarations are those inference checks files against.
  for (const [k, shape] of generatorShapes(c)) assert.deepEqual(sd.get(k)!.shape, shape, k);
  assert.ok([...sd.keys()].some((k) => k.endsWith('.num_batches_tracked')));
});

test('a bad state dict is refused naming the key, and changes nothing', () => {
  const c = tinyConfig();
  const net = new NetworkParams(c, { seed: 1 });
  const before = net.stateDict();
  const sd = new NetworkParams(c, { seed: 2 }).stateDict();
  sd.set('quant_conv.weight', { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array(6) });
  assert.throws(() => net.loadStateDict(sd), /misshapen 1: quant_conv\.weight/);
  assert.deepEqual(net.stateDict(), before);
  // A codebook with another number of rows is taken (another LLM), with its shape.
  net.setCodebooks({ local: { dtype: 'F32', shape: [7, c.embedDim], data: new Float32Array(7 * c.embedDim) } });
  assert.equal(net.config.nLocal, 7);
  assert.deepEqual(net.stateDict().get('tok_embeddings.weight')!.shape, [7, c.embedDim]);
});

test('BatchNorm running statistics: momentum 0.1, unbiased variance, float32', () => {
  const buf = { runningMean: Float32Array.of(0, 1), runningVar: Float32Array.of(1, 2), numBatchesTracked: 0 };
  updateRunningStats(buf, Float32Array.of(2, -1), Float32Array.of(4, 0.5), 5);
  assert.deepEqual(Array.from(buf.runningMean), [Math.fround(0.2), Math.fround(Math.fround(0.9) + Math.fround(-0.1))]);
  assert.ok(Math.abs(buf.runningVar[0] - (0.9 + 0.1 * 4 * 5 / 4)) < 1e-6);
  assert.equal(buf.numBatchesTracked, 1);
});

/** The state-dict names the emitters read when they write every model of the network. */
function namesTheEmittersRead(config: V2LConfig, sd: Map<string, HostTensor>): Set<string> {
  const read = new Set<string>();
  const watched = new Proxy(sd, {
    get(target, prop) {
      if (prop === 'get') return (k: string) => { read.add(k); return target.get(k); };
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  encoderModel(config, watched);
  projectionModel(config, watched);
  decoderModel(config, watched);
  for (const training of [false, true]) {
    const g = new GraphBuilder();
    discriminatorOnnx(new OnnxEmitter(g, watched), 'x', [2, config.outCh, 32, 32], config.discLayers, training);
  }
  return read;
}

test('the declarations and the emitters name the same tensors: every declared parameter is read by some model, nothing undeclared is', () => {
  for (const config of [tinyConfig(), { ...tinyConfig(), crossAttention: false, cosineCodes: true }, { ...tinyConfig(), attnResolutions: [8], discLayers: 3 }]) {
    const net = new NetworkParams(config, { seed: 1 });
    const sd = net.stateDict();
    const read = namesTheEmittersRead(net.config, sd);
    // The codebooks are the search's data (fed to the search models), not weights of a model.
    const declared = [...net.specs.specs.keys()].filter((k) => !k.startsWith('tok_embeddings'));
    assert.deepEqual(declared.filter((k) => !read.has(k)), [], 'declared but never read');
    const buffers = [...net.batchNorms.keys()].flatMap((b) => [`${b}.running_mean`, `${b}.running_var`]);
    assert.deepEqual([...read].filter((k) => !declared.includes(k) && !buffers.includes(k)), [], 'read but not declared');
  }
});
