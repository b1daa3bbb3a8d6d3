// The tokenizer's input preprocessing, on decoded pixels (portable: no sharp, no fs; decoding is
// ./load.ts). Two modes:
// - 'simple' (default): resize so the short side equals the target (Pillow-exact bicubic, antialiased),
//   centre crop target x target, map [0,255] -> [-1,1], NCHW float32.
// - 'reference': what the public PyTorch reference feeds its encoder: CLIP's preprocessing (Pillow
//   bicubic short side -> 224, centre crop 224, /255), then F.interpolate(bilinear, align_corners=False,
//   no antialiasing) to the target, then 2x-1. CLIP's Normalize and the reference's un-normalize cancel
//   (interpolation is linear), so they are skipped; results match to float32 rounding.
// Sizes and crop offsets follow torchvision: long side = int(target * long / short) and the crop
// offset round((size - crop) / 2) with Python's round-half-to-even.
import type { RawImage } from './types.js';
import { interpolateBilinear, resizePillow } from './resample.js';

export type PreprocessMode = 'simple' | 'reference';

export interface PreprocessOptions {
  /** Output side in pixels (128 for the paper's tokenizer). */
  size: number;
  mode?: PreprocessMode;
  /** The CLIP crop used by 'reference' mode (224 for ViT-L/14). */
  clipSize?: number;
}

/** NCHW float32 images in [-1, 1]. */
export interface ImageBatch {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** torchvision's Resize(int) output size: the short side becomes `size`, the long side int(size * long / short). */
export function shortSideSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python's round(): halves to even (torchvision's centre-crop offsets use it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Crops a width x height box (torchvision CenterCrop offsets); the image must be at least that large. */
export function centreCrop(img: RawImage, width: number, height: number): RawImage {
  if (img.width < width || img.height < height) throw new Error(`centre crop ${width}x${height} of a ${img.width}x${img.height} image`);
  const top = roundHalfEven((img.height - height) / 2);
  const left = roundHalfEven((img.width - width) / 2);
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(from, from + width * c), y * width * c);
  }
  return { data: out, width, height, channels: c };
}

/**
 * RGB from 1, 3 or 4 channels: gray is repeated, alpha is composited onto white (as ./load.ts does).
 * Returns the input itself when it already is RGB.
 */
export function toRGB(img: RawImage): RawImage {
  const { width, height, channels } = img;
  if (channels === 3) return img;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    if (channels === 1) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = d[i];
    } else {
      const a = d[i * 4 + 3] / 255;
      for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(d[i * 4 + c] * a + 255 * (1 - a));
    }
  }
  return { data: out, width, height, channels: 3 };
}

/** Short side to `size` with Pillow's bicubic, then centre crop `size` x `size`. */
export function resizeAndCrop(img: RawImage, size: number): RawImage {
  const rgb = toRGB(img);
  const s = shortSideSize(rgb.width, rgb.height, size);
  return centreCrop(resizePillow(rgb, s.width, s.height, 'bicubic'), size, size);
}

/** Writes one RGB image as planar [3, h, w] values in [-1, 1] at `offset` of `out`. */
function writePlanar(img: RawImage, out: Float32Array, offset: number, scale: (v: number) => number): void {
  const n = img.width * img.height;
  const d = img.data;
  for (let i = 0; i < n; i++) {
    out[offset + i] = scale(d[i * 3]);
    out[offset + n + i] = scale(d[i * 3 + 1]);
    out[offset + 2 * n + i] = scale(d[i * 3 + 2]);
  }
}

/** Same-sized images (any of 1/3/4 channels) -> NCHW float32 in [-1, 1] (v / 127.5 - 1). */
export function toNCHW(images: readonly RawImage[]): ImageBatch {
  if (!images.length) throw new Error('toNCHW: no images');
  const { width, height } = images[0];
  const data = new Float32Array(images.length * 3 * width * height);
  images.forEach((img, i) => {
    if (img.width !== width || img.height !== height) throw new Error(`toNCHW: image ${i} is ${img.width}x${img.height}, image 0 is ${width}x${height}`);
    writePlanar(toRGB(img), data, i * 3 * width * height, (v) => v / 127.5 - 1);
  });
  return { data, shape: [images.length, 3, height, width] };
}

/** One image through the chosen preprocessing: planar [3, size, size] in [-1, 1]. */
export function preprocessOne(img: RawImage, opts: PreprocessOptions): Float32Array {
  const { size, mode = 'simple', clipSize = 224 } = opts;
  if (mode === 'simple') {
    const out = new Float32Array(3 * size * size);
    writePlanar(resizeAndCrop(img, size), out, 0, (v) => v / 127.5 - 1);
    return out;
  }
  const clip = resizeAndCrop(img, clipSize);
  const unit = new Float32Array(3 * clipSize * clipSize);
  writePlanar(clip, unit, 0, (v) => Math.fround(v / 255));
  const small = size === clipSize ? unit : interpolateBilinear(unit, 3, clipSize, clipSize, size, size);
  for (let i = 0; i < small.length; i++) small[i] = 2 * small[i] - 1;
  return small;
}

/** A batch through the chosen preprocessing: NCHW [n, 3, size, size] float32 in [-1, 1]. */
export function preprocess(images: readonly RawImage[], opts: PreprocessOptions): ImageBatch {
  const { size } = opts;
  const per = 3 * size * size;
  const data = new Float32Array(images.length * per);
  images.forEach((img, i) => data.set(preprocessOne(img, opts), i * per));
  return { data, shape: [images.length, 3, size, size] };
}
