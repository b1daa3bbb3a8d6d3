// The configuration read back from a state dict: any layout the reference code can produce.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { V2LConfig } from './config.js';
import { configDifferences, describeConfig, inferConfig, shapesOf } from './config-infer.js';
import { NetworkParams } from './network-params.js';

before(async () => {
});

const base: V2LConfig = {
  ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 8, attnResolutions: [8], inChannels: 3, outCh: 3,
  zChannels: 8, embedDim: 16, nLocal: 40, nGlobal: 12, crossAttnHeads: 2, crossAttnDimHead: 64, discLayers: 2, discNdf: 8,
};

function shapes(c: V2LConfig) {
  const net = new NetworkParams(c, { init: 'zeros' });
  return shapesOf(net.stateDict());
}

test('every field the shapes fix is read back, for several layouts', () => {
  const variants: V2LConfig[] = [
    base,
    { ...base, chMult: [1, 2, 4], numResBlocks: 2, resolution: 16, attnResolutions: [8], zChannels: 4, crossAttnHeads: 1, crossAttnDimHead: 128, discLayers: 3, discNdf: 16 },
    { ...base, ch: 64, chMult: [1, 1, 2], attnResolutions: [], crossAttnHeads: 3, crossAttnDimHead: 128, embedDim: 24, nLocal: 50, nGlobal: 7 },
    { ...base, crossAttention: false, crossAttnHeads: 8 }, // heads unused without the cross-attention: the default
  ];
  for (const c of variants) {
    const { config, assumed } = inferConfig(shapes(c), { resolution: c.resolution });
    assert.deepEqual(configDifferences(config, c), [], `${describeConfig(c)}: ${assumed.join('; ')}`);
  }
});

test('heads x width is ambiguous: the reference rule (width = mid-block width) or the hint, and it is said', () => {
  const c = { ...base, crossAttnHeads: 4, crossAttnDimHead: 16 };
  const plain = inferConfig(shapes(c), { resolution: 8 });
  assert.equal(plain.config.crossAttnHeads * plain.config.crossAttnDimHead, 64);
  assert.ok(plain.assumed.some((a) => a.includes('cross-attention')), plain.assumed.join('; '));
  const hinted = inferConfig(shapes(c), { resolution: 8, crossAttnHeads: 4 });
  assert.equal(hinted.config.crossAttnDimHead, 16);
  assert.throws(() => inferConfig(shapes(c), { crossAttnHeads: 4, crossAttnDimHead: 8 }), /inner width 64/);
});

test('an inference-only file (no discriminator, no codebooks) gets documented defaults, listed', () => {
  const sd = shapes(base);
  for (const k of [...sd.keys()]) if (k.startsWith('discriminator.') || k.startsWith('tok_embeddings')) sd.delete(k);
  const { config, assumed } = inferConfig(sd, { resolution: 8 });
  assert.equal(config.ch, 32);
  assert.equal(assumed.length, 4, assumed.join('; ')); // codebook rows x2, heads x width, discriminator
});

test('a state dict of another configuration: the error counts, names a few keys, and says what the file looks like', () => {
  const other = new NetworkParams({ ...base, chMult: [1, 2, 2], numResBlocks: 2 }, { seed: 1 });
  const net = new NetworkParams(base, { init: 'zeros' });
  const sd = other.stateDict();
  assert.throws(() => net.loadStateDict(sd), (e: Error) => {
    assert.match(e.message, /unexpected \d+: .*\(\d+ more\)/);
    assert.match(e.message, /looks like: ch 32, ch_mult \[1,2,2\], 2 res blocks/);
    assert.ok(e.message.length < 2000, `short message (${e.message.length} chars)`);
    return true;
  });
});

test('a file that is no V2L network is said to be one', () => {
  const net = new NetworkParams(base, { init: 'zeros' });
  const sd = new Map([['fc.weight', { dtype: 'F32' as const, shape: [2, 2], data: new Float32Array(4) }]]);
  assert.throws(() => net.loadStateDict(sd), /does not look like a V2L network \(.*encoder\.conv_in\.weight/);
});
