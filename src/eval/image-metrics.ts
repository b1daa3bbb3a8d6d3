// Full-reference image metrics over [3, H, W] float images in [0, 1], computed in float64:
// PSNR over RGB, PSNR over BT.601 Y (pyiqa's `psnr` with test_y_channel, colour space ycbcr) and SSIM as
// piq's `ssim` (11x11 Gaussian window σ 1.5, valid filtering, k1 0.01, k2 0.03, data range 1, the image
// average-pooled by round(min(H, W) / 256) first when that is above 1). Portable: plain TypeScript.
import type { HostTensor } from '../io/dtypes.js';
import { toFloat32 } from '../io/dtypes.js';

/** An image as [3, H, W] values (a host tensor, or a bare array with its shape). */
export type ImageLike = HostTensor | { shape: readonly number[]; data: ArrayLike<number> };

function values(t: ImageLike): ArrayLike<number> {
  const h = t as HostTensor;
  if (typeof h.dtype === 'string' && h.dtype !== 'F32' && h.dtype !== 'F64') return toFloat32(h);
  return t.data as ArrayLike<number>;
}

function pair(x: ImageLike, y: ImageLike, what: string): { c: number; h: number; w: number; a: ArrayLike<number>; b: ArrayLike<number> } {
  if (x.shape.length !== 3) throw new Error(`${what}: images must be [C, H, W] (got [${x.shape}])`);
  if (x.shape.join(',') !== y.shape.join(',')) throw new Error(`${what}: image shapes differ: [${x.shape}] vs [${y.shape}]`);
  const [c, h, w] = x.shape;
  return { c, h, w, a: values(x), b: values(y) };
}

/**
 * pyiqa adds eps = 1e-8 to the mean squared error (so identical images give 80 dB, not infinity);
 * the same here. `eps: 0` gives the textbook 10·log10(1 / MSE).
 */
export interface PsnrOptions {
  eps?: number;
}
const PSNR_EPS = 1e-8;

/** PSNR over all channels, peak 1. */
export function psnr(x: ImageLike, y: ImageLike, opts: PsnrOptions = {}): number {
  const { a, b } = pair(x, y, 'psnr');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return 10 * Math.log10(1 / (s / a.length + (opts.eps ?? PSNR_EPS)));
}

/** BT.601 luma as pyiqa's to_y_channel (ycbcr): (65.481 R + 128.553 G + 24.966 B + 16) / 255, [H*W]. */
export function yChannel(data: ArrayLike<number>, h: number, w: number): Float64Array {
  const p = h * w;
  const out = new Float64Array(p);
  for (let i = 0; i < p; i++) out[i] = (65.481 * data[i] + 128.553 * data[p + i] + 24.966 * data[2 * p + i]) / 255 + 16 / 255;
  return out;
}

/** PSNR of the BT.601 Y channel, peak 1 (pyiqa `psnr_y`). */
export function psnrY(x: ImageLike, y: ImageLike, opts: PsnrOptions = {}): number {
  const { c, h, w, a, b } = pair(x, y, 'psnrY');
  if (c !== 3) throw new Error(`psnrY: needs 3 channels (got ${c})`);
  const ya = yChannel(a, h, w);
  const yb = yChannel(b, h, w);
  let s = 0;
  for (let i = 0; i < ya.length; i++) s += (ya[i] - yb[i]) ** 2;
  return 10 * Math.log10(1 / (s / ya.length + (opts.eps ?? PSNR_EPS)));
}

/** Python's round(): halves go to the even neighbour (piq's downsampling factor uses it). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The normalised 11x11 Gaussian as piq's gaussian_filter, separable factor (outer(g, g) = the 2-D window). */
function gaussian1d(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size);
  let s = 0;
  for (let i = 0; i < size; i++) {
    const c = i - (size - 1) / 2;
    g[i] = Math.exp(-(c * c) / (2 * sigma * sigma));
    s += g[i];
  }
  for (let i = 0; i < size; i++) g[i] /= s;
  return g;
}

/** Valid (unpadded) separable correlation of one plane. */
function filterValid(src: Float64Array, h: number, w: number, g: Float64Array): Float64Array {
  const k = g.length;
  const ow = w - k + 1;
  const oh = h - k + 1;
  const tmp = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += src[y * w + x + i] * g[i];
      tmp[y * ow + x] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += tmp[(y + i) * ow + x] * g[i];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/** avg_pool2d(kernel f, stride f), floor mode, one plane. */
function avgPool(src: ArrayLike<number>, off: number, h: number, w: number, f: number): { data: Float64Array; h: number; w: number } {
  const oh = Math.floor(h / f);
  const ow = Math.floor(w / f);
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) s += src[off + (y * f + i) * w + x * f + j];
      out[y * ow + x] = s / (f * f);
    }
  }
  return { data: out, h: oh, w: ow };
}

export interface SsimOptions {
  kernelSize?: number;
  sigma?: number;
  k1?: number;
  k2?: number;
  /** piq's `downsample` (default true). */
  downsample?: boolean;
}

/** SSIM as piq.ssim (data range 1, mean over the map, then over channels). */
export function ssim(x: ImageLike, y: ImageLike, opts: SsimOptions = {}): number {
  const { c, h, w, a, b } = pair(x, y, 'ssim');
  const size = opts.kernelSize ?? 11;
  const g = gaussian1d(size, opts.sigma ?? 1.5);
  const c1 = (opts.k1 ?? 0.01) ** 2;
  const c2 = (opts.k2 ?? 0.03) ** 2;
  const f = Math.max(1, roundHalfEven(Math.min(h, w) / 256));
  const down = f > 1 && (opts.downsample ?? true);
  const ph = down ? Math.floor(h / f) : h;
  const pw = down ? Math.floor(w / f) : w;
  if (ph < size || pw < size) throw new Error(`ssim: image ${ph}x${pw} is smaller than the ${size}x${size} window`);
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    const plane = (src: ArrayLike<number>): Float64Array =>
      down ? avgPool(src, ch * h * w, h, w, f).data : Float64Array.from({ length: h * w }, (_, i) => src[ch * h * w + i]);
    const px = plane(a);
    const py = plane(b);
    const n = px.length;
    const xx = new Float64Array(n);
    const yy = new Float64Array(n);
    const xy = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      xx[i] = px[i] * px[i];
      yy[i] = py[i] * py[i];
      xy[i] = px[i] * py[i];
    }
    const mx = filterValid(px, ph, pw, g);
    const my = filterValid(py, ph, pw, g);
    const sxx = filterValid(xx, ph, pw, g);
    const syy = filterValid(yy, ph, pw, g);
    const sxy = filterValid(xy, ph, pw, g);
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const mxx = mx[i] * mx[i];
      const myy = my[i] * my[i];
      const mxy = mx[i] * my[i];
      const cs = (2 * (sxy[i] - mxy) + c2) / (sxx[i] - mxx + (syy[i] - myy) + c2);
      s += ((2 * mxy + c1) / (mxx + myy + c1)) * cs;
    }
    total += s / mx.length;
  }
  return total / c;
}
