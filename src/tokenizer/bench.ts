// `npm run bench -- tokenize [--batch 8] [--size 128] [--reps 2] [--backend wasm|cpu|tensorflow] [--quick]`
// Tokenizer throughput with the paper's network and codebook sizes (ch 128, ch_mult [1,2,2,4], z 256,
// embed 768; a 32,000-row local and an 11,908-row global codebook), random weights:
//   encode = encoder + quant_conv + L2 norm + local quantization + global quantization (CLIP excluded:
//            the global quantizer gets a ready image embedding, as CLIP is a separate frozen model);
//   decode = local token ids -> projected codebook rows -> post_quant_conv -> decoder (cross-attention).
// As a baseline measured in the same run, the local+global quantization is also timed alone, so the
// report says what share of encode the codebook search takes.
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, initBackend } from '../engine/backend.js';
import { paperConfig, downFactor } from '../network/config.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { quantizeGlobal } from '../network/quantize.js';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer (got "${args[i + 1]}")`);
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Seconds per call of f (after one warm-up), median of `reps`. */
function time(reps: number, f: () => tf.Tensor | tf.Tensor[]): number {
  const once = () => {
    const t0 = performance.now();
    const out = f();
    for (const t of Array.isArray(out) ? out : [out]) {
      t.dataSync();
      t.dispose();
    }
    return (performance.now() - t0) / 1000;
  };
  once();
  return median(Array.from({ length: reps }, once));
}

export async function benchTokenize(args: string[] = []): Promise<void> {
  const bi = args.indexOf('--backend');
  await initBackend(bi >= 0 ? args[bi + 1] : undefined);
  const quick = args.includes('--quick');
  const batch = arg(args, '--batch', quick ? 2 : 8);
  const size = arg(args, '--size', quick ? 64 : 128);
  const reps = arg(args, '--reps', quick ? 1 : 2);
  const config = paperConfig();
  const info = backendInfo();
  console.log(`tokenize benchmark: backend ${info.name} (simd ${info.simd ?? '?'}, threads ${info.threads ?? '?'}), paper network, ${size} px, batch ${batch}, ` +
    `local codebook ${config.nLocal} rows, global ${config.nGlobal} rows, median of ${reps} after a warm-up`);
  const t0 = performance.now();
  const net = new V2LNetwork(config, { seed: 1 });
  net.useProjectedCodebookCache(true);
  console.log(`built random-weight network in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const images = tf.randomUniform([batch, 3, size, size], -1, 1, 'float32', 7) as tf.Tensor4D;
  const clip = tf.randomNormal([batch, config.embedDim], 0, 1, 'float32', 8) as tf.Tensor2D;
  const k = 5;

  const encode = time(reps, () => tf.tidy(() => {
    const e = net.encode(images);
    const g = net.globalTokens(clip, k);
    return [e.localIndices, g.indices];
  }));
  const h = size / downFactor(config);
  // Codebook search alone, as encode does it (projected codebook computed once, distances by a
  // non-transposed matMul): nearest projected local row per position, and the global top-k.
  const z = tf.tidy(() => net.encode(images).z);
  const zRows = tf.tidy(() => tf.reshape(tf.transpose(z, [0, 2, 3, 1]), [batch * h * h, config.embedDim])) as tf.Tensor2D;
  const globalRows = net.params.get('tok_embeddings_global.weight')! as unknown as tf.Tensor2D;
  const globalT = tf.transpose(globalRows) as tf.Tensor2D;
  const projT = tf.tidy(() => tf.transpose(net.projectedCodebook())) as tf.Tensor2D;
  const projSq = tf.tidy(() => tf.sum(tf.mul(projT, projT), 0));
  const quant = time(reps, () => tf.tidy(() => {
    const d = tf.sub(projSq, tf.mul(2, tf.matMul(zRows, projT)));
    return [tf.argMin(d, 1), quantizeGlobal(clip, globalRows, globalT, k).indices];
  }));
  const localIds = tf.tidy(() => net.encode(images).localIndices);
  const gEmb = tf.tidy(() => net.globalTokens(clip, k).embeddings);
  const decode = time(reps, () => tf.tidy(() => net.decode(localIds, gEmb)));
  tf.dispose([images, clip, z, zRows, globalT, projT, projSq, localIds, gEmb]);
  net.dispose();

  const rows = [
    ['encode (encoder + local + global quantization)', encode],
    ['  of which codebook search (local 32k + global 11.9k)', quant],
    ['decode (ids -> image)', decode],
  ] as const;
  for (const [name, s] of rows) console.log(`${name.padEnd(56)} ${(s * 1000).toFixed(0).padStart(8)} ms/batch ${(batch / s).toFixed(2).padStart(8)} images/s`);
  console.log(JSON.stringify({
    bench: 'tokenize', backend: info.name, size, batch,
    encode_images_per_s: batch / encode, decode_images_per_s: batch / decode,
    codebook_search_share_of_encode: quant / encode,
  }));
}
