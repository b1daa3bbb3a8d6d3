// CLIP's own image preprocessing, as OpenAI's `clip.load` defines it and the V2L reference applies it:
// torchvision Resize(224, BICUBIC) on a PIL image (short side to 224, long side int(224 * long / short),
// Pillow's antialiased bicubic), CenterCrop(224) (offsets round((size - crop) / 2)), RGB, ToTensor (/255),
// Normalize(CLIP mean, std). The resampling is src/image's Pillow-exact resizer, so pixel values match
// the Python pipeline to float32 rounding. (transformers.js's own processor resizes with libvips' affine
// bicubic, which does not antialias when shrinking.) The sizes, mean and std come from the model folder's
// preprocessor_config.json. Portable: pixels in, NCHW float32 out.
import type { RawImage } from '../../image/types.js';
import { centreCrop, shortSideSize, toRGB } from '../../image/preprocess.js';
import { resizePillow } from '../../image/resample.js';

export interface ClipImageConfig {
  /** Resize: the short side to `shortestEdge`, or exactly to width x height. */
  resize: { shortestEdge: number } | { width: number; height: number } | null;
  crop: { width: number; height: number } | null;
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

function triple(v: unknown, fallback: [number, number, number], key: string, file: string): [number, number, number] {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return [v, v, v];
  if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number')) return v as [number, number, number];
  throw new Error(`${file}: "${key}" must be a number or 3 numbers`);
}

function box(v: unknown, key: string, file: string): { width: number; height: number } | { shortestEdge: number } {
  if (typeof v === 'number') return { shortestEdge: v };
  const o = v as Record<string, unknown> | null;
  if (o && typeof o.shortest_edge === 'number') return { shortestEdge: o.shortest_edge };
  if (o && typeof o.width === 'number' && typeof o.height === 'number') return { width: o.width, height: o.height };
  throw new Error(`${file}: "${key}" must be a number, {shortest_edge} or {height, width} (got ${JSON.stringify(v)})`);
}

/**
 * Reads a preprocessor_config.json object. An integer `size` means the shortest edge (as Python's
 * CLIPImageProcessor reads it); an integer `crop_size` means a square.
 */
export function clipImageConfig(json: Record<string, unknown>, file = 'preprocessor_config.json'): ClipImageConfig {
  const doResize = json.do_resize ?? true;
  const doCrop = json.do_center_crop ?? true;
  const resize = doResize ? box(json.size ?? 224, 'size', file) : null;
  let crop: ClipImageConfig['crop'] = null;
  if (doCrop) {
    const c = box(json.crop_size ?? 224, 'crop_size', file);
    crop = 'shortestEdge' in c ? { width: c.shortestEdge, height: c.shortestEdge } : c;
  }
  const normalize = json.do_normalize ?? true;
  return {
    resize,
    crop,
    rescale: json.do_rescale === false ? 1 : typeof json.rescale_factor === 'number' ? json.rescale_factor : 1 / 255,
    mean: normalize ? triple(json.image_mean, CLIP_MEAN, 'image_mean', file) : [0, 0, 0],
    std: normalize ? triple(json.image_std, CLIP_STD, 'image_std', file) : [1, 1, 1],
  };
}

/** One image to CLIP's input size, still 8-bit RGB. */
export function clipResizeCrop(img: RawImage, cfg: ClipImageConfig): RawImage {
  let x = toRGB(img);
  if (cfg.resize) {
    const s = 'shortestEdge' in cfg.resize ? shortSideSize(x.width, x.height, cfg.resize.shortestEdge) : cfg.resize;
    x = resizePillow(x, s.width, s.height, 'bicubic');
  }
  if (cfg.crop) x = centreCrop(x, cfg.crop.width, cfg.crop.height);
  return x;
}

/** Images -> pixel_values, NCHW float32 [n, 3, h, w]; every image must come out the same size. */
export function clipPixelValues(images: readonly RawImage[], cfg: ClipImageConfig): { data: Float32Array; dims: [number, number, number, number] } {
  if (!images.length) throw new Error('clipPixelValues: no images');
  const ready = images.map((img) => clipResizeCrop(img, cfg));
  const { width: w, height: h } = ready[0];
  const n = w * h;
  const data = new Float32Array(images.length * 3 * n);
  // Float32 at each step, as ToTensor and Normalize compute in float32 tensors.
  const f = Math.fround;
  // ToTensor divides by 255; other factors multiply.
  const div255 = Math.abs(cfg.rescale - 1 / 255) < 1e-12;
  const rescale = f(cfg.rescale);
  const mean = cfg.mean.map(f);
  const std = cfg.std.map(f);
  ready.forEach((img, i) => {
    if (img.width !== w || img.height !== h) throw new Error(`image ${i} preprocesses to ${img.width}x${img.height}, image 0 to ${w}x${h} (set a crop size)`);
    const o = i * 3 * n;
    const d = img.data;
    for (let p = 0; p < n; p++) {
      for (let c = 0; c < 3; c++) {
        const v = div255 ? f(d[p * 3 + c] / 255) : f(d[p * 3 + c] * rescale);
        data[o + c * n + p] = f(f(v - mean[c]) / std[c]);
      }
    }
  });
  return { data, dims: [images.length, 3, h, w] };
}
