// `npm run bench -- network [--backend wasm|cpu] [--size 128] [--batch 1] [--train] [--tiny]`:
// times the tokenizer network with the paper configuration (random seeded weights, stand-in codebooks of
// the paper's sizes): building it, projecting the 32,000-row codebook, the nearest-row search, encode,
// decode, and (with --train) one generator forward + backward pass.
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, initBackend } from '../engine/backend.js';
import { paperConfig, type V2LConfig } from './config.js';
import { V2LNetwork } from './v2l-model.js';
import { nearestRows } from './quantize.js';
import { argValue as arg } from '../util/bench-args.js';

/** Milliseconds of one run of `f` after a warm-up, median of `runs`. */
function timeMs(f: () => tf.Tensor | tf.Tensor[], runs: number): number {
  const once = () => {
    const t0 = performance.now();
    tf.tidy(() => {
      const r = f();
      for (const t of Array.isArray(r) ? r : [r]) t.dataSync();
    });
    return performance.now() - t0;
  };
  once();
  const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export async function benchNetwork(args: string[] = []): Promise<void> {
  await initBackend(arg(args, '--backend'));
  const size = Number(arg(args, '--size') ?? 128);
  const batch = Number(arg(args, '--batch') ?? 1);
  const runs = Number(arg(args, '--runs') ?? 3);
  const config: V2LConfig = args.includes('--tiny')
    ? { ...paperConfig(), ch: 32, zChannels: 64, nLocal: 4096, crossAttnDimHead: 128 }
    : paperConfig();
  const info = backendInfo();
  console.log(`backend ${info.name} (simd ${info.simd}, threads ${info.threads}); images ${batch}x3x${size}x${size}; config ${JSON.stringify(config)}`);
  let t0 = performance.now();
  const net = new V2LNetwork(config, { seed: 0 });
  console.log(`build (seeded init, ${[...net.params.values()].reduce((s, v) => s + v.size, 0).toLocaleString()} values)`.padEnd(60), `${(performance.now() - t0).toFixed(0)} ms`);
  const gen = net.generatorVariables();
  console.log(`trainable generator parameters: ${gen.reduce((s, v) => s + v.size, 0).toLocaleString()}`);
  const x = tf.randomUniform([batch, 3, size, size], -1, 1, 'float32', 1) as tf.Tensor4D;
  const clip = tf.randomNormal([batch, config.embedDim], 0, 1, 'float32', 2) as tf.Tensor2D;
  const row = (name: string, ms: number, extra = '') => console.log(name.padEnd(60), `${ms.toFixed(1).padStart(9)} ms`, extra);

  const d = config.embedDim;
  const n = config.nLocal;
  row(`projected codebook (${n}x${d} @ ${d}x${d})`, timeMs(() => net.projectedCodebook(), runs), `${((2 * n * d * d) / 1e9).toFixed(1)} GFLOP`);
  const m = batch * (size / 8) ** 2;
  const z = tf.randomNormal([m, d], 0, 1, 'float32', 3) as tf.Tensor2D;
  const bookT = tf.tidy(() => tf.transpose(net.projectedCodebook()) as tf.Tensor2D);
  row(`nearest-row search (${m} x ${n} x ${d}, codebook [dim, N])`, timeMs(() => nearestRows(z, bookT), runs));
  net.useProjectedCodebookCache(true);
  const encMs = timeMs(() => {
    const e = net.encode(x);
    return [e.zq, e.localIndices];
  }, runs);
  row('encode (projected codebook cached)', encMs, `${(encMs / batch).toFixed(0)} ms/image`);
  const g = net.globalTokens(clip, 5);
  const ids = tf.zeros([batch, size / 8, size / 8], 'int32') as tf.Tensor3D;
  const decMs = timeMs(() => net.decode(ids, g.embeddings), runs);
  row('decode (from token ids, 5 global tokens)', decMs, `${(decMs / batch).toFixed(0)} ms/image`);
  net.useProjectedCodebookCache(false);
  if (args.includes('--train')) {
    t0 = performance.now();
    const ms = timeMs(() => {
      const { value, grads } = tf.variableGrads(() => {
        const o = net.forward(x, clip, 5);
        return tf.add(tf.mean(tf.abs(tf.sub(x, o.reconstruction))), o.vqLoss) as tf.Scalar;
      }, gen);
      return [value, ...Object.values(grads)];
    }, Math.max(1, Math.min(runs, 2)));
    row('generator forward + backward (L1 + VQ)', ms, `${(ms / batch).toFixed(0)} ms/image`);
  }
  tf.dispose([x, clip, z, bookT, ids, g.indices, g.embeddings]);
  net.dispose();
}
