// Image resampling that reproduces Pillow's `Image.resize` bit for bit on 8-bit images (Pillow's
// Resample.c: separable, horizontal pass then vertical, the filter widened by the scale factor when
// shrinking (antialiasing), coefficients in 22-bit fixed point, rounding and clipping to 8 bits after
// each pass). The reference feeds images through CLIP's preprocessing, which is torchvision's Resize on
// a PIL image, i.e. exactly this; doing it here keeps the reference numerics without Python, and keeps
// the preprocessing portable (sharp only decodes). Also torch's `F.interpolate(mode='bilinear',
// align_corners=False)` on float planes, which the reference applies after CLIP's preprocessing.
import type { RawImage } from './types.js';

export type ResampleFilter = 'bicubic' | 'bilinear';

interface Filter {
  support: number;
  fn: (x: number) => number;
}

const FILTERS: Record<ResampleFilter, Filter> = {
  // Keys cubic with a = -0.5, as Pillow's BICUBIC.
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: {
    support: 1,
    fn: (x) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  /** Per output index: first input index and count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  kk: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc, for resizing inSize -> outSize over the whole axis. */
function coeffs(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter.fn((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Resizes an 8-bit interleaved image to width x height exactly as Pillow's `Image.resize(size, filter)`
 * does (no reducing_gap). Any channel count; every channel is filtered independently.
 */
export function resizePillow(img: RawImage, width: number, height: number, filter: ResampleFilter = 'bicubic'): RawImage {
  const { width: inW, height: inH, channels: c } = img;
  if (width < 1 || height < 1) throw new Error(`resize to ${width}x${height}: size must be positive`);
  if (width === inW && height === inH) return { data: new Uint8Array(img.data), width, height, channels: c };
  const f = FILTERS[filter];
  const needH = width !== inW;
  const needV = height !== inH;
  const horiz = coeffs(inW, width, f);
  const vert = coeffs(inH, height, f);
  let src = img.data;
  let srcW = inW;
  let srcH = inH;
  let rowShift = 0;
  if (needH) {
    // Only the rows the vertical pass reads.
    const first = needV ? vert.bounds[0] : 0;
    const last = needV ? vert.bounds[(height - 1) * 2] + vert.bounds[(height - 1) * 2 + 1] : inH;
    const rows = last - first;
    const tmp = new Uint8Array(width * rows * c);
    const half = 1 << (PRECISION_BITS - 1);
    const { ksize, bounds, kk } = horiz;
    for (let y = 0; y < rows; y++) {
      const rowIn = (y + first) * inW * c;
      const rowOut = y * width * c;
      for (let xx = 0; xx < width; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        const k = xx * ksize;
        for (let ch = 0; ch < c; ch++) {
          let ss = half;
          let p = rowIn + xmin * c + ch;
          for (let x = 0; x < xmax; x++, p += c) ss += src[p] * kk[k + x];
          tmp[rowOut + xx * c + ch] = clip8(ss);
        }
      }
    }
    src = tmp;
    srcW = width;
    srcH = rows;
    rowShift = first;
  }
  if (!needV) return { data: src as Uint8Array, width, height: srcH, channels: c };
  const out = new Uint8Array(width * height * c);
  const half = 1 << (PRECISION_BITS - 1);
  const { ksize, bounds, kk } = vert;
  const stride = srcW * c;
  for (let yy = 0; yy < height; yy++) {
    const ymin = bounds[yy * 2] - rowShift;
    const ymax = bounds[yy * 2 + 1];
    const k = yy * ksize;
    const rowOut = yy * width * c;
    for (let i = 0; i < width * c; i++) {
      let ss = half;
      let p = ymin * stride + i;
      for (let y = 0; y < ymax; y++, p += stride) ss += src[p] * kk[k + y];
      out[rowOut + i] = clip8(ss);
    }
  }
  return { data: out, width, height, channels: c };
}

/**
 * torch.nn.functional.interpolate(x, size, mode='bilinear', align_corners=False) without antialiasing,
 * on planar float data [planes, inH, inW] -> [planes, outH, outW].
 */
export function interpolateBilinear(src: Float32Array, planes: number, inH: number, inW: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(planes * outH * outW);
  const axis = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    const i0 = new Int32Array(outSize);
    const i1 = new Int32Array(outSize);
    const l1 = new Float32Array(outSize);
    for (let o = 0; o < outSize; o++) {
      // torch's area_pixel_compute_source_index, clamped at 0 (float32 arithmetic as torch's CPU kernel).
      const s = Math.max(Math.fround(Math.fround(Math.fround(scale) * (o + 0.5)) - 0.5), 0);
      const a = Math.floor(s);
      i0[o] = Math.min(a, inSize - 1);
      i1[o] = Math.min(a + 1, inSize - 1);
      l1[o] = Math.fround(s - a);
    }
    return { i0, i1, l1 };
  };
  const ya = axis(inH, outH);
  const xa = axis(inW, outW);
  for (let p = 0; p < planes; p++) {
    const base = p * inH * inW;
    const ob = p * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = base + ya.i0[y] * inW;
      const r1 = base + ya.i1[y] * inW;
      const wy1 = ya.l1[y];
      const wy0 = 1 - wy1;
      for (let x = 0; x < outW; x++) {
        const x0 = xa.i0[x];
        const x1 = xa.i1[x];
        const wx1 = xa.l1[x];
        const wx0 = 1 - wx1;
        out[ob + y * outW + x] = wy0 * (wx0 * src[r0 + x0] + wx1 * src[r0 + x1]) + wy1 * (wx0 * src[r1 + x0] + wx1 * src[r1 + x1]);
      }
    }
  }
  return out;
}
