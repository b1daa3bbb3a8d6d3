// A worker-thread lane (./lanes.ts) computes what the same MicroStepper computes on this thread, bit for
// bit (with the GAN term: the discriminator's pass and the BatchNorm statistics come back too), the packed
// transfer loses nothing, and a failure inside the worker comes back as a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convOptions } from '../grad/rules.js';
import { NetworkParams } from '../network/network-params.js';
import { randn } from '../util/random.js';
import { pack, unpack, WorkerLane } from './lanes.js';
import { currentForms, MicroStepper, type LaneSpec, type MicroFeeds } from './micro-step.js';
import { tinyConfig } from './test-utils/fixtures.js';

function setup() {
  const net = new NetworkParams({ ...tinyConfig(), cosineCodes: true }, { seed: 3 });
  const { gen, disc } = net.trainableNames();
  const spec: LaneSpec = {
    config: net.config, sd: net.stateDict(), genNames: gen, imageSize: 16,
    graph: { kGlobal: 3, recLoss: 'l1', vqBeta: 0.33 }, discWeight: 0.75, engine: { threads: 1 }, forms: currentForms(),
  };
  const step = {
    params: new Map([...gen, ...disc].map((n) => [n, net.get(n)])),
    localCodebook: net.codebookRows('local'), globalCodebook: net.codebookRows('global'),
    projected: randn(net.config.nLocal * net.config.embedDim, 9),
  };
  const micro = (seed: number, ganFactor: number): MicroFeeds => ({
    images: randn(2 * 3 * 16 * 16, seed).map((v) => Math.tanh(v)), clip: randn(2 * net.config.embedDim, seed + 1), batch: 2, vqWeight: 1, quantized: true, ganFactor,
  });
  return { spec, step, micro };
}

test('pack / unpack: every array back by name, values and lengths', () => {
  const values = new Map([['a', Float32Array.of(1, -0, 3)], ['b', new Float32Array(0)], ['c', Float32Array.of(Number.NaN, 5)]]);
  const back = unpack(pack(values));
  assert.deepEqual([...back.keys()], ['a', 'b', 'c']);
  for (const [k, v] of values) assert.deepEqual([...back.get(k)!].map((x) => Object.is(x, -0) ? '-0' : x), [...v].map((x) => Object.is(x, -0) ? '-0' : x));
});

test('a worker lane gives the same micro-batch results as the same stepper on this thread, bit for bit (generator and discriminator), under the graph forms this thread chose', async () => {
  // A non-default weight-gradient form (other float sums): the worker must build the same graphs.
  const saved = convOptions.weightGrad;
  convOptions.weightGrad = 'im2col';
  const { spec, step, micro } = setup();
  const local = new MicroStepper(spec);
  const lane = new WorkerLane(spec);
  try {
    const feeds = [micro(1, 0), micro(2, 1)];
    const remote = await lane.run(step, feeds);
    assert.equal(remote.length, 2);
    for (const [j, f] of feeds.entries()) {
      const a = await local.run(step, f);
      const b = remote[j];
      assert.deepEqual(b.terms, a.terms);
      assert.deepEqual([...b.indices], [...a.indices]);
      assert.deepEqual([...b.grads.keys()], [...a.grads.keys()]);
      for (const [k, g] of a.grads) assert.deepEqual(b.grads.get(k), g, k);
      assert.equal(b.bn.size, a.bn.size);
      for (const [k, v] of a.bn) assert.deepEqual(b.bn.get(k), v, k);
      assert.equal(Boolean(b.disc), f.ganFactor > 0);
      if (a.disc) for (const [k, g] of a.disc.grads) assert.deepEqual(b.disc!.grads.get(k), g, k);
    }
    assert.ok(remote[1].bn.size > 0, 'the GAN micro-batch has BatchNorm statistics');
  } finally {
    convOptions.weightGrad = saved;
    await local.close();
    await lane.close();
  }
});

test('a failure inside the worker lane is reported as an error naming the lane, and the lane closes', async () => {
  const { spec, step, micro } = setup();
  const lane = new WorkerLane(spec);
  try {
    const bad = { ...micro(1, 0), images: new Float32Array(5) }; // not 2 x 3 x 16 x 16
    await assert.rejects(lane.run(step, [bad]), /training lane \(worker thread\): .*/);
  } finally {
    await lane.close();
  }
});
