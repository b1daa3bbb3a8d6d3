// Shared by the training tests: a tiny network configuration, a folder of small real PNG images made
// with sharp (smooth colour fields, so reconstruction can improve), and the STAND-IN CLIP (random
// weights; it needs CLIP's BPE merges from ../shared, so tests that use it skip without them).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { V2LConfig } from '../../network/config.js';
import { writeStandInClip } from '../../models/clip/stand-in.js';
import { loadClip } from '../../models/clip/transformers-clip.js';
import type { ClipModel } from '../../models/clip/types.js';
import { skipUnless } from '../../util/test-utils/shared.js';

export const MERGES = fileURLToPath(new URL('../../../../shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz', import.meta.url));
export const SKIP_NO_MERGES = skipUnless(MERGES, "CLIP's BPE merges (for the stand-in CLIP)");

/** A tiny tokenizer network (16 px images -> 8x8 tokens, 64-d embeddings). */
export function tinyConfig(): V2LConfig {
  return {
    ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 16, attnResolutions: [], inChannels: 3, outCh: 3,
    zChannels: 32, embedDim: 64, nLocal: 64, nGlobal: 32, crossAttnHeads: 2, crossAttnDimHead: 16, discLayers: 1, discNdf: 16,
  };
}

/** `n` 16x16 PNGs of smooth colour gradients in `dir`. */
export async function writeImages(dir: string, n: number): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(16 * 16 * 3);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        const o = (y * 16 + x) * 3;
        px[o] = (x * 16 + i * 37) % 256;
        px[o + 1] = (y * 16 + i * 59) % 256;
        px[o + 2] = (i * 97) % 256;
      }
    }
    const p = join(dir, `img${String(i).padStart(3, '0')}.png`);
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(p);
    paths.push(p);
  }
  return paths;
}

/** The stand-in CLIP (vision tower only) with `dim`-wide embeddings, written into `dir`. */
export async function standInClip(dir: string, dim: number): Promise<ClipModel> {
  if (!existsSync(join(dir, 'config.json'))) writeStandInClip(dir, { seed: 1, projectionDim: dim, mergesPath: MERGES });
  return loadClip(dir, { towers: { vision: true, text: false } });
}
