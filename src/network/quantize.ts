// The two quantizers of VQModel_LLaMA.
// Local: every position's feature z picks the nearest row of the projected LLM codebook by squared distance
// d = |z|^2 + |e|^2 - 2 z.e; the decoder sees the straight-through z + sg(zq - z); the VQ loss is the
// reference's mean((sg(zq) - z)^2) + 0.33 * mean((zq - sg(z))^2) (weight 1 on the commitment term, 0.33 on
// the codebook/projector term).
// Global: the Kg nearest rows of the (unprojected) global codebook to the L2-normalised CLIP image embedding.
import * as tf from '@tensorflow/tfjs-core';
import { stopGradient, l2NormalizeLast } from './ops.js';

/** Weight of the codebook (projector) term of the VQ loss in the reference. */
export const CODEBOOK_TERM_WEIGHT = 0.33;

/** Rows of z searched at once: bounds the [rows, N] distance matrix (256 x 32,000 floats = 32 MB). */
const SEARCH_CHUNK = 256;

/**
 * Index of the nearest codebook row for each row of z, by d = (|z|^2 + |e|^2) - 2 z.e in float32 as the
 * reference computes it. `codebookT` is the codebook transposed, [dim, N]: a plain (non-transposed) right
 * operand keeps the matMul on wasm's fast path. Not differentiable (call it outside the tape or under
 * customGrad).
 */
export function nearestRows(z: tf.Tensor2D, codebookT: tf.Tensor2D, codebookSqNorm?: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const esq = codebookSqNorm ?? tf.sum(tf.square(codebookT), 0);
    const m = z.shape[0];
    const parts: tf.Tensor1D[] = [];
    for (let start = 0; start < m; start += SEARCH_CHUNK) {
      const zc = m <= SEARCH_CHUNK ? z : tf.slice(z, [start, 0], [Math.min(SEARCH_CHUNK, m - start), -1]);
      const d = tf.sub(tf.add(tf.sum(tf.square(zc), 1, true), esq), tf.mul(2, tf.matMul(zc, codebookT)));
      parts.push(tf.argMin(d, 1));
    }
    return parts.length === 1 ? parts[0] : tf.concat(parts);
  });
}

export interface LocalQuantized {
  /** Straight-through quantized features z + sg(zq - z), [M, dim]: the decoder's input. */
  zq: tf.Tensor2D;
  /** Chosen codebook rows, int32 [M]. */
  indices: tf.Tensor1D;
  /** Scalar VQ loss with the reference's gradient split. */
  vqLoss: tf.Scalar;
}

/**
 * Local quantization of z [M, dim] against the projected codebook P(E) = E W^T + b. `codebookTermWeight`
 * weighs the codebook/projector term of the VQ loss (the reference's 0.33).
 * `projectedT()` gives P(E) transposed [dim, N] for the search; it is called with the tape off, so neither
 * the search nor the big projection is ever differentiated. `frozen` is E itself [N, dim] (not trainable).
 * `project(rows)` applies the trainable projector to the chosen raw rows on the tape, so the 0.33 term
 * reaches the projector's weight and bias at the cost of M rows, not N.
 */
export function quantizeLocal(z: tf.Tensor2D, frozen: tf.Tensor2D, projectedT: () => tf.Tensor2D, project: (rows: tf.Tensor2D) => tf.Tensor2D,
  codebookTermWeight = CODEBOOK_TERM_WEIGHT): LocalQuantized {
  let indices: tf.Tensor1D | null = null;
  // Search + gather of frozen rows without a backward pass: the gradient to z through this path is zero
  // (z's gradient comes from the straight-through estimator and the VQ loss below).
  const pick = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const zIn = args[0] as tf.Tensor2D;
    const idx = nearestRows(zIn, projectedT());
    indices = tf.keep(idx);
    return { value: tf.gather(frozen, idx) as tf.Tensor, gradFunc: () => tf.zerosLike(zIn) };
  });
  const rows = pick(z) as tf.Tensor2D;
  const zqRaw = project(rows);
  const commitment = tf.mean(tf.square(tf.sub(stopGradient(zqRaw), z)));
  const codebook = tf.mean(tf.square(tf.sub(zqRaw, stopGradient(z))));
  const vqLoss = tf.add(commitment, tf.mul(codebookTermWeight, codebook)) as tf.Scalar;
  const zq = tf.add(z, stopGradient(tf.sub(zqRaw, z))) as tf.Tensor2D;
  return { zq, indices: indices as unknown as tf.Tensor1D, vqLoss };
}

export interface GlobalQuantized {
  /** int32 [B, k], nearest first. */
  indices: tf.Tensor2D;
  /** The selected rows, [B, k, dim]. */
  embeddings: tf.Tensor3D;
}

/**
 * Global quantization: the k nearest rows of `codebook` [N, dim] (transposed copy `codebookT` [dim, N]) to
 * each L2-normalised CLIP image embedding [B, dim], nearest first. No gradient (the codebook is frozen and
 * CLIP is not trained).
 */
export function quantizeGlobal(clipEmbeds: tf.Tensor2D, codebook: tf.Tensor2D, codebookT: tf.Tensor2D, k: number): GlobalQuantized {
  const n = codebook.shape[0];
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`global tokens: k must be an integer in [1, ${n}] (got ${k})`);
  if (clipEmbeds.shape[1] !== codebook.shape[1]) {
    throw new Error(`global tokens: CLIP embeddings have width ${clipEmbeds.shape[1]}, the global codebook ${codebook.shape[1]}`);
  }
  return tf.tidy(() => {
    const g = l2NormalizeLast(clipEmbeds);
    const esq = tf.sum(tf.square(codebookT), 0);
    const d = tf.sub(tf.add(tf.sum(tf.square(g), 1, true), esq), tf.mul(2, tf.matMul(g, codebookT)));
    const { indices } = tf.topk(tf.neg(d), k, true);
    const b = clipEmbeds.shape[0];
    const embeddings = tf.reshape(tf.gather(codebook, tf.reshape(indices, [-1])), [b, k, codebook.shape[1]]) as tf.Tensor3D;
    return { indices: indices as tf.Tensor2D, embeddings };
  });
}
