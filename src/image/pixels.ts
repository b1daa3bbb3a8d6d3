// From network output back to pixels, and grids of images (original | reconstruction, training
// previews). Portable: RawImage in and out; PNG encoding is in ./save.ts.
import type { RawImage } from './types.js';
import { toRGB } from './preprocess.js';

/** [-1, 1] -> 8-bit: clamp, (x + 1) * 127.5, round half up. NaN becomes 0. */
export function unitToByte(x: number): number {
  if (!(x > -1)) return 0;
  if (x >= 1) return 255;
  return Math.round((x + 1) * 127.5);
}

/** NCHW (or CHW) float data in [-1, 1] with 1 or 3 channels -> one RGB RawImage per batch entry. */
export function fromNCHW(data: ArrayLike<number>, shape: readonly number[]): RawImage[] {
  const [n, c, h, w] = shape.length === 3 ? [1, ...shape] : shape;
  if (shape.length !== 3 && shape.length !== 4) throw new Error(`fromNCHW: expected NCHW or CHW, got shape [${shape}]`);
  if (c !== 1 && c !== 3) throw new Error(`fromNCHW: ${c} channels; 1 or 3 expected`);
  if (data.length !== n * c * h * w) throw new Error(`fromNCHW: ${data.length} values for shape [${shape}]`);
  const plane = h * w;
  const out: RawImage[] = [];
  for (let b = 0; b < n; b++) {
    const px = new Uint8Array(plane * 3);
    const base = b * c * plane;
    for (let i = 0; i < plane; i++) {
      for (let ch = 0; ch < 3; ch++) px[i * 3 + ch] = unitToByte(data[base + (c === 1 ? 0 : ch) * plane + i]);
    }
    out.push({ data: px, width: w, height: h, channels: 3 });
  }
  return out;
}

export interface GridOptions {
  /** Images per row (default: all in one row). */
  columns?: number;
  /** Pixels between cells (default 2). */
  gap?: number;
  /** Gray level of the gaps and empty cell area (default 255, white). */
  background?: number;
}

/**
 * Lays images out in a grid, row by row, each centred in a cell as large as the largest image.
 * `sideBySide([original, reconstruction])` is one row; a batch of originals then their reconstructions
 * with `columns: n` gives two rows.
 */
export function sideBySide(images: readonly RawImage[], opts: GridOptions = {}): RawImage {
  if (!images.length) throw new Error('sideBySide: no images');
  const columns = Math.max(1, Math.min(opts.columns ?? images.length, images.length));
  const rows = Math.ceil(images.length / columns);
  const gap = opts.gap ?? 2;
  const cellW = Math.max(...images.map((i) => i.width));
  const cellH = Math.max(...images.map((i) => i.height));
  const width = columns * cellW + (columns - 1) * gap;
  const height = rows * cellH + (rows - 1) * gap;
  const out = new Uint8Array(width * height * 3).fill(opts.background ?? 255);
  images.forEach((img, k) => {
    const rgb = toRGB(img);
    const x0 = (k % columns) * (cellW + gap) + Math.floor((cellW - img.width) / 2);
    const y0 = Math.floor(k / columns) * (cellH + gap) + Math.floor((cellH - img.height) / 2);
    for (let y = 0; y < img.height; y++) {
      out.set(rgb.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * width + x0) * 3);
    }
  });
  return { data: out, width, height, channels: 3 };
}
