// What the viewer (`v2l serve`) shows of one image, beyond encode(): the distance of every chosen token to
// what it stands for, and the nearest alternatives, so a user can see how close a call each token was and
// swap one for its neighbour.
//
//   local:  per position, the m nearest rows of the projected local codebook P(E) to the encoder output z
//           (squared Euclidean, as the quantizer compares them); the first is the chosen token.
//   global: the k chosen + the next nearest rows of the global codebook to the L2-normalised CLIP image
//           embedding, nearest first.
//
// One network pass per image (encoder, one search, decoder), on the tokenizer's engine (the searches of
// encode(): the chosen token is the nearest, ties to the lower id, as encode() picks it), so the viewer
// shows exactly what encode() and decode() give.
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
  const cfg = tok.config;
  const m = Math.min(opts.localAlternatives ?? 8, cfg.nLocal);
  const k = tok.globalTokens;
  const kg = Math.min(k + (opts.globalAlternatives ?? 12), cfg.nGlobal);
  const size = tok.imageSize;
  const pixels = preprocessOne(image, { size, mode: tok.preprocessMode });
  const clipEmb = await tok.clip.embedImages([image]);
  const { z, h, w } = await tok.engine.encodeZ(pixels, 1, size, size);
  const near = await tok.engine.localNearest(z, h * w, m);
  const localIds: number[][] = [];
  const localNearest: TokenChoice[][][] = [];
  for (let r = 0; r < h; r++) {
    localIds.push([]);
    localNearest.push([]);
    for (let c = 0; c < w; c++) {
      const pos = r * w + c;
      localIds[r].push(near.ids[pos * m]);
      localNearest[r].push(Array.from({ length: m }, (_, j) => ({ id: near.ids[pos * m + j], distance: near.distances[pos * m + j] })));
    }
  }
  const [all] = await globalNearest(tok, clipEmb, kg);
  const original = fromNCHW(pixels, [1, 3, size, size])[0];
  // From the ids, exactly as decode() of the same tokens: the viewer's edits decode there too, so an
  // unedited decode equals this baseline.
  const [reconstruction] = await tok.decode([localIds], [all.slice(0, k).map((g) => g.id)]);
  return {
    original, reconstruction, psnr: psnr(original, reconstruction),
    global: all.slice(0, k), globalAlternatives: all.slice(k), localIds, localNearest,
  };
}

/**
 * The k nearest global entries (nearest first, with distances) of each CLIP image embedding ([n * dim],
 * normalised here), as the global quantizer picks them: for browsing which images an entry describes.
 */
export async function globalNearest(tok: V2LTokenizer, clipEmbeddings: Float32Array, k = tok.globalTokens): Promise<TokenChoice[][]> {
  const dim = tok.config.embedDim;
  const n = clipEmbeddings.length / dim;
  if (!Number.isInteger(n)) throw new Error(`globalNearest: ${clipEmbeddings.length} values are not rows of ${dim}`);
  if (n === 0) return [];
  const kk = Math.min(k, tok.config.nGlobal);
  const { ids, distances } = await tok.engine.globalNearest(clipEmbeddings, n, kk);
  return Array.from({ length: n }, (_, i) => Array.from({ length: kk }, (_, j) => ({ id: ids[i * kk + j], distance: distances[i * kk + j] })));
}
