// Image decoding (Node edge, sharp/libvips): any format sharp reads (JPEG, PNG, WebP, GIF, TIFF, AVIF,
// SVG ...) plus BMP (./bmp.ts; sharp's libvips has no BMP loader) -> 8-bit RGB RawImage, so that
// everything after it is portable.
// - EXIF orientation is applied (a portrait phone photo comes out portrait). The reference's PIL
//   `Image.open` ignores it and feeds the sensor's orientation; `autoOrient: false` reproduces that.
// - Alpha is composited onto WHITE (transparent pixels become white, not black); the reference's PIL
//   `convert('RGB')` drops alpha instead, which shows whatever colour the transparent pixels hold.
// - Grayscale, CMYK and 16-bit images are converted to 8-bit sRGB.
// - Very large images are refused before decoding (maxPixels, default 100 megapixels, about 300 MB of
//   RGB); callers that know their target size pass `shrinkTo`, and images far larger than needed are
//   decoded shrunk (JPEG/WebP shrink-on-load) to twice the target, which the exact resampler then
//   reduces. That shortcut only applies when the short side exceeds 4x the target.
// Errors name the file. loadImages() keeps going past bad files and reports each one.
import { readFileSync } from 'node:fs';
import { sharp as loadSharp } from './sharp.js';
import type { RawImage } from './types.js';
import type { OnProgress } from '../util/progress.js';
import { preprocessOne, toRGB, type ImageBatch, type PreprocessOptions } from './preprocess.js';
import { bmpSize, decodeBmp, isBmp } from './bmp.js';

export const DEFAULT_MAX_PIXELS = 100_000_000;

export interface LoadImageOptions {
  /** Refuse images with more stored pixels than this, before decoding; `false` lifts the guard. */
  maxPixels?: number | false;
  /** The preprocessing's target short side: enables shrink-on-load for images over 4x larger. */
  shrinkTo?: number;
  /** Name for errors when the input is a Buffer (default "<buffer>"). */
  name?: string;
  /** Apply EXIF orientation (default true; false = the reference's PIL behaviour). */
  autoOrient?: boolean;
}

/** Decodes one image file (or encoded bytes) to 8-bit RGB. */
export async function loadImage(src: string | Uint8Array, opts: LoadImageOptions = {}): Promise<RawImage> {
  const name = typeof src === 'string' ? src : (opts.name ?? '<buffer>');
  const max = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let input: Buffer | Uint8Array;
  if (typeof src === 'string') {
    try {
      input = readFileSync(src);
    } catch (e) {
      throw new Error(`cannot read image ${name}: ${(e as Error).message}`);
    }
  } else {
    input = src;
  }
  try {
    if (isBmp(input)) {
      const { width, height } = bmpSize(input, name);
      if (max !== false && width * height > max) throw new Error(`${width}x${height} exceeds the ${max}-pixel limit (raise maxPixels, --max-pixels on the command line, to load it)`);
      return toRGB(decodeBmp(input, name));
    }
    const sharp = await loadSharp();
    // Header only: the size guard below gives the dimensions in its message.
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    if (max !== false && meta.width * meta.height > max) {
      throw new Error(`${meta.width}x${meta.height} exceeds the ${max}-pixel limit (raise maxPixels, --max-pixels on the command line, to load it)`);
    }
    const orient = opts.autoOrient ?? true;
    let pipeline = sharp(input, { limitInputPixels: max, failOn: 'error' });
    if (orient) pipeline = pipeline.autoOrient();
    const w = orient ? (meta.autoOrient?.width ?? meta.width) : meta.width;
    const h = orient ? (meta.autoOrient?.height ?? meta.height) : meta.height;
    if (opts.shrinkTo && Math.min(w, h) > 4 * opts.shrinkTo) {
      const target = 2 * opts.shrinkTo;
      pipeline = pipeline.resize(w <= h ? { width: target, kernel: 'cubic' } : { height: target, kernel: 'cubic' });
    }
    const { data, info } = await pipeline
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected RGB`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    const msg = decoderMessage((e as Error).message);
    const hint = /pixel limit/i.test(msg) && !/maxPixels/.test(msg) ? ` (limit ${String(max)} pixels; raise maxPixels, --max-pixels on the command line, to load it)` : '';
    throw new Error(`cannot decode image ${name}: ${msg}${hint}`);
  }
}

/**
 * libvips keeps one error buffer per thread and appends to it, so a decoder's message can repeat its
 * lines a varying number of times (and carry lines of an earlier failure): keep each line once, in order.
 */
export function decoderMessage(message: string): string {
  const lines = message.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const l of lines) {
    // "Input buffer has corrupt header: VipsJpeg: x" and a later "VipsJpeg: x" are the same line.
    const tail = l.replace(/^[^:]*corrupt header:\s*/i, '');
    if (seen.has(tail)) continue;
    seen.add(tail);
    parts.push(l);
  }
  return parts.join('; ');
}

export type LoadResult<T = RawImage> =
  | { source: string; ok: true; value: T }
  | { source: string; ok: false; error: Error };

export interface LoadImagesOptions extends LoadImageOptions {
  /** Images decoded at once (default 4; libvips also threads inside each decode). */
  concurrency?: number;
  onProgress?: OnProgress;
}

/** Runs `work` over `items` with at most `concurrency` in flight; results in input order, errors kept. */
async function settleAll<I, T>(items: readonly I[], concurrency: number, label: (i: I) => string, work: (i: I) => Promise<T>, onProgress?: OnProgress, stage = 'load images'): Promise<LoadResult<T>[]> {
  const results = new Array<LoadResult<T>>(items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      try {
        results[k] = { source: label(items[k]), ok: true, value: await work(items[k]) };
      } catch (e) {
        results[k] = { source: label(items[k]), ok: false, error: e as Error };
      }
      onProgress?.({ stage, done: ++done, total: items.length });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

/** Decodes many images; a bad file gives an error entry and the rest still load. */
export function loadImages(paths: readonly string[], opts: LoadImagesOptions = {}): Promise<LoadResult[]> {
  return settleAll(paths, opts.concurrency ?? 4, (p) => p, (p) => loadImage(p, opts), opts.onProgress);
}

export interface LoadedBatch {
  /** NCHW float32 in [-1, 1] for the images that loaded, in input order. */
  batch: ImageBatch;
  /** The sources in `batch`, in order. */
  sources: string[];
  /** Files that could not be loaded, each with an error naming it. */
  failures: { source: string; error: Error }[];
}

/**
 * Loads and preprocesses files for the tokenizer (decode + shrink-on-load at the edge, the portable
 * preprocessing after), keeping going past unreadable files.
 */
export async function loadBatch(paths: readonly string[], opts: PreprocessOptions & LoadImagesOptions): Promise<LoadedBatch> {
  const shrinkTo = opts.shrinkTo ?? (opts.mode === 'reference' ? (opts.clipSize ?? 224) : opts.size);
  const results = await settleAll(paths, opts.concurrency ?? 4, (p) => p, async (p) => preprocessOne(await loadImage(p, { ...opts, shrinkTo }), opts), opts.onProgress);
  const per = 3 * opts.size * opts.size;
  const ok = results.filter((r): r is Extract<LoadResult<Float32Array>, { ok: true }> => r.ok);
  const data = new Float32Array(ok.length * per);
  ok.forEach((r, i) => data.set(r.value, i * per));
  return {
    batch: { data, shape: [ok.length, 3, opts.size, opts.size] },
    sources: ok.map((r) => r.source),
    failures: results.filter((r): r is Extract<LoadResult<Float32Array>, { ok: false }> => !r.ok).map(({ source, error }) => ({ source, error })),
  };
}
