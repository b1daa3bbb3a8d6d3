// Image encoding (Node edge, sharp): RawImage or NCHW [-1, 1] tensors -> PNG, written atomically.
// The pixel math (clamp, round, grids) is portable in ./pixels.ts.
import { sharp as loadSharp } from './sharp.js';
import type { RawImage } from './types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { fromNCHW, sideBySide, type GridOptions } from './pixels.js';

export { fromNCHW, sideBySide, type GridOptions };

/** Encodes 8-bit pixels (1, 3 or 4 channels) as PNG. */
export async function encodePng(img: RawImage): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  })
    .png()
    .toBuffer();
}

/** Writes one image as PNG (atomically: a killed job leaves no half-written file). */
export async function savePng(path: string, img: RawImage): Promise<void> {
  writeFileAtomic(path, await encodePng(img));
}

/**
 * Writes NCHW (or CHW) float data in [-1, 1] as one PNG: a single image as is, a batch as a grid
 * (`columns` per row, default all in one row).
 */
export async function saveTensorPng(path: string, data: ArrayLike<number>, shape: readonly number[], grid: GridOptions = {}): Promise<void> {
  const images = fromNCHW(data, shape);
  await savePng(path, images.length === 1 ? images[0] : sideBySide(images, grid));
}
