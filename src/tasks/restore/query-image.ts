// The query image of a restoration (portable): its per-image seed and, for in/outpainting, the crop with
// the hidden cells blanked. Shared by the run over files (./run.ts) and the browser runtime.
import type { RawImage } from '../../image/types.js';

/** Per-image seed: the run's seed mixed with the file name (FNV-1a), so order and --limit change nothing. */
export function imageSeed(seed: number, source: string): number {
  let h = 2166136261 ^ (seed >>> 0);
  const name = source.slice(source.lastIndexOf('/') + 1); // the file name, as path.basename on POSIX
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h >>> 0;
}

/** The crop with the hidden token cells painted mid-gray (128 = 0.004 in [-1, 1]). */
export function blankHidden(img: RawImage, hidden: readonly boolean[], g: number): RawImage {
  const f = img.width / g;
  const out = new Uint8Array(img.data);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (hidden[Math.floor(y / f) * g + Math.floor(x / f)]) out.fill(128, (y * img.width + x) * 3, (y * img.width + x) * 3 + 3);
    }
  }
  return { ...img, data: out };
}
