// A data-parallel training worker thread (see ./parallel.ts): builds a replica from the main thread's
// state, then answers 'grads' requests with its shard's gradients and applies every averaged update.
import * as tf from '@tensorflow/tfjs-core';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { loadLpips } from './lpips-files.js';
import type { ReplicaSpec } from './parallel.js';
import { Replica } from './replica.js';

async function main(): Promise<void> {
  const spec = workerData as ReplicaSpec;
  const port = parentPort!;
  let replica: Replica;
  try {
    await initBackend(spec.backend);
    const net = new V2LNetwork(spec.network, { seed: spec.seed, gradientCheckpointing: spec.checkpointActivations ?? false });
    net.loadStateDict(new Map(spec.model));
    const lpips = spec.lpips ? await loadLpips(spec.lpips) : null;
    replica = new Replica(net, lpips, spec.loss, spec.optim, spec.microBatch);
    replica.loadOptimizerState(new Map(spec.optimizer), spec.optimizerSteps, 'main replica state');
  } catch (e) {
    port.postMessage({ kind: 'error', message: (e as Error).stack ?? String(e) });
    return;
  }
  port.postMessage({ kind: 'ready' });
  const size = spec.imageSize;
  port.on('message', (m: { kind: string; images: Float32Array; clip: Float32Array; n: number; step: number; gen: Float32Array[]; disc: Float32Array[] | null; name: string; data: Float32Array }) => {
    try {
      if (m.kind === 'grads') {
        const x = tf.tensor4d(m.images, [m.n, 3, size, size]);
        const c = tf.tensor2d(m.clip, [m.n, m.clip.length / m.n]);
        const g = replica.shardGradients(x, c, m.step);
        x.dispose();
        c.dispose();
        const gen = g.gen.map((t) => t.dataSync() as Float32Array);
        const disc = g.disc?.map((t) => t.dataSync() as Float32Array) ?? null;
        for (const t of [...g.gen, ...(g.disc ?? [])]) t.dispose();
        port.postMessage({ kind: 'grads', n: g.n, gen, disc, terms: g.terms }, [...gen, ...(disc ?? [])].map((a) => a.buffer as ArrayBuffer));
      } else if (m.kind === 'apply') {
        replica.apply(m.gen, m.disc, m.step);
      } else if (m.kind === 'set') {
        const v = replica.net.params.get(m.name);
        if (!v) throw new Error(`no parameter ${m.name}`);
        const t = tf.tensor(m.data, v.shape, 'float32');
        v.assign(t);
        t.dispose();
      }
    } catch (e) {
      port.postMessage({ kind: 'error', message: (e as Error).stack ?? String(e) });
    }
  });
}

void main();
