// Fast path for matMul on wasm. wasm's BatchMatMul reaches XNNPACK speed (~25 GFLOP/s) only for a
// plain product of two matrices; with transposeA/transposeB, or with a batch, it falls back to a loop
// that runs 10–40x slower. Training needs the transposed forms all the time (the gradient of
// y = a b is dy b^T and a^T dy), so this override rewrites a product into plain 2-D products:
// - a transposed operand is transposed once in memory (O(size), far cheaper than the product), or,
//   where cheaper, the product is taken transposed so the operands can be used as stored;
// - a batch against a single matrix becomes one 2-D product on the batch-flattened operand;
// - two batches of large matrices become one 2-D product per batch entry.
// Small products keep the original kernel, where the extra ops would cost more than they save.
import * as tf from '@tensorflow/tfjs-core';
import { BatchMatMul, broadcast_util } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, KernelConfig, NamedAttrMap } from '@tensorflow/tfjs-core';
import { compositeKernel, runKernelConfig } from './composite.js';
import { fastPathsEnabled } from './fast_paths.js';

/** Below this many multiply-adds per matrix product the original kernel is kept. */
export const MATMUL_SMALL = 4 * 1024;
/** From this many multiply-adds per batch entry, a batch of products is run as a loop of 2-D products. */
export const MATMUL_LOOP_MIN = 1 << 20;

function swapLast2(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  perm[t.rank - 2] = t.rank - 1;
  perm[t.rank - 1] = t.rank - 2;
  return tf.transpose(t, perm);
}

const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * The product a·b (with optional transposes) computed through `plain`, a function that multiplies
 * two untransposed operands of rank 2. Returns null when the fast path does not apply.
 */
export function fastMatMul(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
  plain: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D,
): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.rank < 2 || b.rank < 2) return null;
  const m = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2];
  const k = transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  const kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2];
  const n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
  if (k !== kb) return null; // let the original kernel report the mismatch
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = prod(outerA);
  const batchB = prod(outerB);
  const work = m * k * n;
  const plain2d = batchA === 1 && batchB === 1;
  if (plain2d && !transposeA && !transposeB && a.rank === 2 && b.rank === 2) return null; // already the fast case
  if (work < MATMUL_SMALL && !(batchB === 1 && !transposeA && batchA > 1)) return null;
  let outer: number[];
  try {
    outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  if (plain2d && transposeB && (transposeA || 2 * m * k + m * n < 2 * k * n)) {
    // XNNPACK packs the right operand on every call with a new tensor (~15 ns/element), the left one
    // it reads as is. So take y = (b a^T)^T: b stays the left operand untouched, only the (smaller)
    // a^T is transposed and packed, and the small result is transposed back. With both operands
    // transposed no input needs transposing at all: a^T b^T = (b a)^T.
    const b2 = tf.reshape(b, [n, k]) as tf.Tensor2D;
    const aT = (transposeA ? tf.reshape(a, [k, m]) : tf.transpose(tf.reshape(a, [m, k]))) as tf.Tensor2D;
    return tf.reshape(tf.transpose(plain(b2, aT)), [...outer, m, n]);
  }
  if (batchB === 1) {
    // Flatten a's batch into rows: one 2-D product.
    const a3 = transposeA ? swapLast2(a) : a;
    const b2 = tf.reshape(transposeB ? swapLast2(b) : b, [k, n]) as tf.Tensor2D;
    const y = plain(tf.reshape(a3, [batchA * m, k]) as tf.Tensor2D, b2);
    return tf.reshape(y, [...outer, m, n]);
  }
  const sameBatch = batchA === batchB && outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
  if (!(sameBatch || batchA === 1) || work < MATMUL_LOOP_MIN) return null;
  const a3 = tf.reshape(transposeA ? swapLast2(a) : a, [batchA, m, k]);
  const b3 = tf.reshape(transposeB ? swapLast2(b) : b, [batchB, k, n]);
  const a2 = batchA === 1 ? (tf.reshape(a3, [m, k]) as tf.Tensor2D) : null;
  const outs: tf.Tensor2D[] = [];
  for (let i = 0; i < batchB; i++) {
    const ai = a2 ?? (tf.reshape(tf.slice(a3, [i, 0, 0], [1, m, k]), [m, k]) as tf.Tensor2D);
    const bi = tf.reshape(tf.slice(b3, [i, 0, 0], [1, k, n]), [k, n]) as tf.Tensor2D;
    outs.push(plain(ai, bi));
  }
  return tf.reshape(tf.stack(outs), [...outer, m, n]);
}

/** BatchMatMul override that falls back to `original` wherever the fast path does not apply. */
export function batchMatMulOverride(original: KernelConfig): KernelConfig {
  const plain = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D =>
    runKernelConfig(original, { a, b }, { transposeA: false, transposeB: false }) as tf.Tensor2D;
  return {
    ...original,
    kernelFunc: compositeKernel<BatchMatMulAttrs>(BatchMatMul, ({ a, b }, attrs) => {
      const fast = fastPathsEnabled() ? fastMatMul(a, b, attrs.transposeA, attrs.transposeB, plain) : null;
      return fast ?? runKernelConfig(original, { a, b }, attrs as unknown as NamedAttrMap);
    }),
  };
}
