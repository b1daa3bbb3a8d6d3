// What the viewer (`v2l serve`) shows of one image, beyond encode(): the distance of every chosen token to
// what it stands for, and the nearest alternatives, so a user can see how close a call each token was and
// swap one for its neighbour.
//
//   local:  per position, the m nearest rows of the projected local codebook P(E) to the encoder output z
//           (squared Euclidean, as the quantizer compares them); the first is the chosen token.
//   global: the k chosen + the next nearest rows of the global codebook to the L2-normalised CLIP image
//           embedding, nearest first.
//
// One network pass per image (encoder, one search, decoder). Built only on the tokenizer's public parts
// (network.encode / projectedCodebook, decodeAsync, clip, codebook), so it follows the tokenizer's math.
import * as tf from '@tensorflow/tfjs-core';
import type { RawImage } from '../models/clip/types.js';
import { preprocessOne } from '../image/preprocess.js';
import { fromNCHW } from '../image/pixels.js';
import type { V2LTokenizer } from './tokenizer.js';

export interface TokenChoice {
  id: number;
  /** Squared Euclidean distance to the encoder output (local) or the normalised CLIP embedding (global). */
  distance: number;
}

export interface ImageInspection {
  /** The preprocessed input and its reconstruction from the tokens, RGB 8-bit, imageSize square. */
  original: RawImage;
  reconstruction: RawImage;
  /** PSNR of the reconstruction against the preprocessed input, dB. */
  psnr: number;
  /** The image's global tokens (tokenizer.globalTokens of them), nearest first. */
  global: TokenChoice[];
  /** The next nearest global entries after the chosen ones, nearest first. */
  globalAlternatives: TokenChoice[];
  /** [h][w]: the chosen local id at each position (= encode()'s). */
  localIds: number[][];
  /** [h][w][m]: the m nearest local rows at each position, nearest first (index 0 is the chosen one). */
  localNearest: TokenChoice[][][];
}

export interface InspectOptions {
  /** Nearest local rows kept per position (default 8). */
  localAlternatives?: number;
  /** Global entries kept after the chosen ones (default 12). */
  globalAlternatives?: number;
}

// P(E)^T [dim, N] and |P(E)|^2 per tokenizer: projecting a 32,000-row codebook costs ~20 GFLOP, once.
const projected = new WeakMap<V2LTokenizer, { t: tf.Tensor2D; sq: tf.Tensor2D }>();

function projectedCodebookT(tok: V2LTokenizer): { t: tf.Tensor2D; sq: tf.Tensor2D } {
  let p = projected.get(tok);
  if (!p) {
    p = tf.tidy(() => {
      const t = tf.transpose(tok.network.projectedCodebook()) as tf.Tensor2D;
      return { t: tf.keep(t), sq: tf.keep(tf.sum(tf.square(t), 0, true) as tf.Tensor2D) };
    });
    projected.set(tok, p);
  }
  return p;
}

/** Computes the projected local codebook now (a server does it at start, not on its first request). */
export function prepareInspection(tok: V2LTokenizer): void {
  projectedCodebookT(tok);
}

/** Frees the cached projected codebook of `tok` (call before disposing the tokenizer). */
export function releaseInspection(tok: V2LTokenizer): void {
  const p = projected.get(tok);
  if (p) tf.dispose([p.t, p.sq]);
  projected.delete(tok);
}

/** PSNR in dB of two 8-bit images of the same size (capped at 120 dB for identical images). */
export function psnr(a: RawImage, b: RawImage): number {
  if (a.data.length !== b.data.length) throw new Error(`psnr: images differ in size (${a.width}x${a.height} vs ${b.width}x${b.height})`);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += ((a.data[i] - b.data[i]) / 255) ** 2;
  return 10 * Math.log10(1 / Math.max(se / a.data.length, 1e-12));
}

/** Encodes one decoded image and reports tokens, distances, nearest alternatives and the reconstruction. */
export async function inspectImage(tok: V2LTokenizer, image: RawImage, opts: InspectOptions = {}): Promise<ImageInspection> {
  if (!tok.clip) throw new Error('inspecting an image needs a CLIP for the global tokens (--clip <dir>)');
  const cfg = tok.network.config;
  const m = Math.min(opts.localAlternatives ?? 8, cfg.nLocal);
  const k = tok.globalTokens;
  const kg = Math.min(k + (opts.globalAlternatives ?? 12), cfg.nGlobal);
  const size = tok.imageSize;
  const pixels = preprocessOne(image, { size, mode: tok.preprocessMode });
  const clipEmb = await tok.clip.embedImages([image]);
  const p = projectedCodebookT(tok);
  const [localIdx, localNear, localDist, globalIdx, globalDist] = tf.tidy(() => {
    const enc = tok.network.encode(tf.tensor4d(pixels, [1, 3, size, size]));
    const [, d, h, w] = enc.z.shape;
    const z = tf.reshape(tf.transpose(enc.z, [0, 2, 3, 1]), [h * w, d]) as tf.Tensor2D;
    const dl = tf.sub(tf.add(tf.sum(tf.square(z), 1, true), p.sq), tf.mul(2, tf.matMul(z, p.t)));
    const tl = tf.topk(tf.neg(dl), m, true);
    const g = tf.tensor2d(clipEmb, [1, cfg.embedDim]);
    const gn = tf.div(g, tf.norm(g, 'euclidean', 1, true));
    const cb = tok.network.params.get('tok_embeddings_global.weight')! as tf.Tensor2D;
    const dg = tf.sub(tf.add(tf.sum(tf.square(gn), 1, true), tf.reshape(tf.sum(tf.square(cb), 1), [1, -1])), tf.mul(2, tf.matMul(gn, cb, false, true)));
    const tg = tf.topk(tf.neg(dg), kg, true);
    return [enc.localIndices, tl.indices, tf.neg(tl.values), tg.indices, tf.neg(tg.values)];
  });
  const [, h, w] = localIdx.shape;
  const ids = localIdx.dataSync();
  const near = localNear.dataSync();
  const nd = localDist.dataSync();
  const gi = globalIdx.dataSync();
  const gd = globalDist.dataSync();
  const original = fromNCHW(pixels, [1, 3, size, size])[0];
  tf.dispose([localIdx, localNear, localDist, globalIdx, globalDist]);
  // Rounding can make a tiny squared distance negative; a distance is never below 0.
  const choice = (id: number, dist: number): TokenChoice => ({ id, distance: Math.max(0, dist) });
  const localIds: number[][] = [];
  const localNearest: TokenChoice[][][] = [];
  for (let r = 0; r < h; r++) {
    localIds.push([]);
    localNearest.push([]);
    for (let c = 0; c < w; c++) {
      const pos = r * w + c;
      localIds[r].push(ids[pos]);
      const list = Array.from({ length: m }, (_, j) => choice(near[pos * m + j], nd[pos * m + j]));
      // Ties aside, the quantizer's pick is the nearest; keep it first whatever the order of equals.
      const at = list.findIndex((x) => x.id === ids[pos]);
      if (at > 0) list.unshift(...list.splice(at, 1));
      localNearest[r].push(list);
    }
  }
  const all = Array.from(gi, (id, j) => choice(id, gd[j]));
  // From the ids, exactly as decodeAsync() of the same tokens (the straight-through zq differs by rounding),
  // on the engine the tokenizer was loaded with: the viewer's edits decode there too, so an unedited
  // decode equals this baseline.
  const [reconstruction] = await tok.decodeAsync([localIds], [all.slice(0, k).map((g) => g.id)]);
  return {
    original, reconstruction, psnr: psnr(original, reconstruction),
    global: all.slice(0, k), globalAlternatives: all.slice(k), localIds, localNearest,
  };
}

/**
 * The k nearest global entries (nearest first, with distances) of each CLIP image embedding ([n * dim],
 * normalised here), as the global quantizer picks them: for browsing which images an entry describes.
 */
export function globalNearest(tok: V2LTokenizer, clipEmbeddings: Float32Array, k = tok.globalTokens): TokenChoice[][] {
  const cfg = tok.network.config;
  const n = clipEmbeddings.length / cfg.embedDim;
  if (!Number.isInteger(n)) throw new Error(`globalNearest: ${clipEmbeddings.length} values are not rows of ${cfg.embedDim}`);
  if (n === 0) return [];
  const [idx, dist] = tf.tidy(() => {
    const g = tf.tensor2d(clipEmbeddings, [n, cfg.embedDim]);
    const gn = tf.div(g, tf.norm(g, 'euclidean', 1, true));
    const cb = tok.network.params.get('tok_embeddings_global.weight')! as tf.Tensor2D;
    const d = tf.sub(tf.add(tf.sum(tf.square(gn), 1, true), tf.reshape(tf.sum(tf.square(cb), 1), [1, -1])), tf.mul(2, tf.matMul(gn, cb, false, true)));
    const t = tf.topk(tf.neg(d), Math.min(k, cfg.nGlobal), true);
    return [t.indices, tf.neg(t.values)];
  });
  const ids = idx.dataSync();
  const ds = dist.dataSync();
  const kk = idx.shape[1]!;
  tf.dispose([idx, dist]);
  return Array.from({ length: n }, (_, i) => Array.from({ length: kk }, (_, j) => ({ id: ids[i * kk + j], distance: Math.max(0, ds[i * kk + j]) })));
}
