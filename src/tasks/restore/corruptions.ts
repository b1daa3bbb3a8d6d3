// The pixel corruptions of the restoration tasks, exactly as the reference applies them to its 128 x 128
// crop (tasks-spec.md §3, eval_denoising_generation.py:145-199). Portable: RawImage in, RawImage out.
//
// - deblur: albumentations `GaussianBlur(blur_limit=(5, 11), p=1)`, i.e. an odd kernel size drawn as
//   randrange(5, 12) with even draws moved up (5 w.p. 1/7, 7/9/11 w.p. 2/7 each), sigma 0 so OpenCV
//   decides the kernel: fixed tables for k = 5, 7, 9 (not the Gaussians of sigma 1.1/1.4/1.7) and
//   sigma 0.3((k-1)/2 - 1) + 0.8 = 2.0 for k = 11, checked against cv2 4.6 (getGaussianKernel and
//   GaussianBlur on float32); separable filter with BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba).
// - rotate: `np.rot90`, 90 degrees counter-clockwise.
// - shift: short side to the crop size, then the bottom-right crop (the clean image is the centre crop),
//   so a 4:3 photo moves by about 22 px and a square one not at all.
// In/outpainting corrupt nothing in pixels: they hide tokens (./masks.ts).
//
// One deviation: the reference blurs float pixels; we blur 8-bit pixels in float and round once, since
// the tokenizer takes 8-bit images (at most 0.5/255 per value).
import type { RawImage } from '../../models/clip/types.js';
import { resizePillow } from '../../image/resample.js';
import { shortSideSize, toRGB } from '../../image/preprocess.js';

export type PixelCorruption = 'deblur' | 'rotate' | 'shift';

/** OpenCV's sigma for a Gaussian kernel of size k given sigma <= 0 (getGaussianKernel). */
export function opencvSigma(k: number): number {
  return 0.3 * ((k - 1) * 0.5 - 1) + 0.8;
}

// OpenCV's fixed kernels (getGaussianKernelBitExact), used instead of the formula when sigma <= 0 and
// k <= 9; k = 9 is [4 13 30 51 60 51 30 13 4] / 256, as cv2 4.6 returns.
const SMALL_GAUSSIAN: Record<number, readonly number[]> = {
  1: [1],
  3: [0.25, 0.5, 0.25],
  5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
  7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
  9: [4, 13, 30, 51, 60, 51, 30, 13, 4].map((v) => v / 256),
};

/**
 * OpenCV's 1-D Gaussian kernel (cv2.getGaussianKernel(k, sigma)), normalised to sum 1. With sigma <= 0
 * (what albumentations passes) sizes up to 9 take OpenCV's fixed tables and larger ones `opencvSigma(k)`.
 */
export function gaussianKernel(k: number, sigma = 0): number[] {
  if (!Number.isInteger(k) || k < 1 || k % 2 !== 1) throw new Error(`Gaussian kernel size must be a positive odd integer (got ${k})`);
  if (sigma <= 0 && SMALL_GAUSSIAN[k]) return [...SMALL_GAUSSIAN[k]];
  const s = sigma > 0 ? sigma : opencvSigma(k);
  const w: number[] = [];
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const x = i - (k - 1) / 2;
    const v = Math.exp(-(x * x) / (2 * s * s));
    w.push(v);
    sum += v;
  }
  return w.map((v) => v / sum);
}

/** Index into [0, n) under BORDER_REFLECT_101 (no edge repeat): -1 -> 1, n -> n - 2. */
export function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** cv2.GaussianBlur(img, (k, k), 0) with the default reflect-101 border, on 8-bit RGB, rounded once. */
export function gaussianBlur(img: RawImage, k: number): RawImage {
  const f = gaussianBlurValues(img, k);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(f[i])));
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/** The blur before rounding: interleaved RGB values on the 0..255 scale. */
export function gaussianBlurValues(img: RawImage, k: number): Float64Array {
  const rgb = toRGB(img);
  const { width: w, height: h } = rgb;
  const kern = gaussianKernel(k);
  const r = (k - 1) / 2;
  const c = 3;
  const tmp = new Float64Array(w * h * c);
  // Rows first, then columns, as OpenCV's separable filter does.
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += kern[t] * rgb.data[(y * w + reflect101(x + t - r, w)) * c + ch];
        tmp[(y * w + x) * c + ch] = s;
      }
    }
  }
  const out = new Float64Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += kern[t] * tmp[(reflect101(y + t - r, h) * w + x) * c + ch];
        out[(y * w + x) * c + ch] = s;
      }
    }
  }
  return out;
}

/**
 * albumentations' GaussianBlur kernel size for blur_limit (5, 11) from one uniform draw u in [0, 1):
 * randrange(5, 12), an even size moved to the next odd one (5: 1/7; 7, 9, 11: 2/7 each).
 */
export function blurKernelSize(u: number, lo = 5, hi = 11): number {
  const k = lo + Math.floor(u * (hi - lo + 1));
  return k % 2 === 1 ? k : (k + 1) % (hi + 1);
}

/** np.rot90(img): 90 degrees counter-clockwise; out[i][j] = in[j][w - 1 - i]. */
export function rot90(img: RawImage): RawImage {
  const { width: w, height: h, channels: c } = img;
  const out = new Uint8Array(img.data.length);
  // Output is h' = w rows of w' = h columns.
  for (let i = 0; i < w; i++) {
    for (let j = 0; j < h; j++) {
      const from = (j * w + (w - 1 - i)) * c;
      const to = (i * h + j) * c;
      for (let ch = 0; ch < c; ch++) out[to + ch] = img.data[from + ch];
    }
  }
  return { data: out, width: h, height: w, channels: c };
}

/** The bottom-right size x size crop of an image at least that large. */
export function bottomRightCrop(img: RawImage, size: number): RawImage {
  const { width: w, height: h, channels: c } = img;
  if (w < size || h < size) throw new Error(`bottom-right crop ${size}x${size} of a ${w}x${h} image`);
  const out = new Uint8Array(size * size * c);
  for (let y = 0; y < size; y++) {
    const from = ((h - size + y) * w + (w - size)) * c;
    out.set(img.data.subarray(from, from + size * c), y * size * c);
  }
  return { data: out, width: size, height: size, channels: c };
}

/** The shift corruption of a full decoded image: short side to `size` (the tokenizer's resampling), bottom-right crop. */
export function shiftCrop(full: RawImage, size: number): RawImage {
  const rgb = toRGB(full);
  const s = shortSideSize(rgb.width, rgb.height, size);
  return bottomRightCrop(resizePillow(rgb, s.width, s.height, 'bicubic'), size);
}

export interface Corrupted {
  image: RawImage;
  /** What was drawn, for the record (the blur's kernel size). */
  params: Record<string, number>;
}

/**
 * Applies a pixel corruption. `clean` is the tokenizer's size x size crop, `full` the decoded file (shift
 * needs the pixels outside the centre crop), `u` one uniform draw (the blur's kernel size).
 */
export function corrupt(kind: PixelCorruption, clean: RawImage, full: RawImage, u: number): Corrupted {
  switch (kind) {
    case 'deblur': {
      const k = blurKernelSize(u);
      return { image: gaussianBlur(clean, k), params: { kernel: k } };
    }
    case 'rotate':
      return { image: rot90(toRGB(clean)), params: {} };
    case 'shift':
      return { image: shiftCrop(full, clean.width), params: {} };
  }
}
