// `npm run bench -- clip [--model <dir>] [--images N] [--texts N] [--threads N]`: embeddings per second of
// a CLIP folder (default: a stand-in generated into a temporary folder) and the speed of the distance
// helper on a codebook of the V2L global size (96,000 x 768), the JS kernel.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStandInClip } from './stand-in.js';
import { loadClip } from './transformers-clip.js';
import { isImagePath } from '../../image/types.js';
import { embedWithTemplates, IMAGENET_TEMPLATES } from './templates.js';
import { topK } from './distance.js';
import { argValue as arg } from '../../util/bench-args.js';

export async function benchClip(args: string[]): Promise<void> {
  let dir = arg(args, '--model');
  const tmp = dir ? null : mkdtempSync(join(tmpdir(), 'v2l-bench-clip-'));
  if (!dir) {
    dir = tmp!;
    writeStandInClip(dir);
  }
  const threads = arg(args, '--threads') ? Number(arg(args, '--threads')) : undefined;
  const nImages = Number(arg(args, '--images') ?? 64);
  const nTexts = Number(arg(args, '--texts') ?? 512);
  try {
    const clip = await loadClip(dir, { batchSize: 32, threads });
    console.log(`model: ${clip.id}${clip.isStandIn ? ' — STAND-IN (random weights; a real ViT-L/14 is far slower)' : ''}, dim ${clip.dim}`);
    const photos = new URL('../../../../shared/data/photos/', import.meta.url).pathname;
    let files: string[] = [];
    try {
      files = readdirSync(photos).filter((f) => isImagePath(f) && !f.endsWith('.bmp')).map((f) => join(photos, f));
    } catch {
      console.log(`(${photos} absent: image files skipped)`);
    }
    if (files.length) {
      const list = Array.from({ length: nImages }, (_, i) => files[i % files.length]);
      await clip.embedImages(list.slice(0, 2));
      const t0 = performance.now();
      await clip.embedImages(list);
      const s = (performance.now() - t0) / 1000;
      console.log(`images from files (decode + CLIP preprocessing + vision tower): ${(nImages / s).toFixed(1)} embeddings/s (${nImages} in ${s.toFixed(2)} s)`);
    }
    const px = new Uint8Array(256 * 256 * 3).map((_, i) => (i * 31) % 256);
    const raws = Array.from({ length: nImages }, () => ({ data: px, width: 256, height: 256, channels: 3 as const }));
    let t0 = performance.now();
    await clip.embedImages(raws);
    let s = (performance.now() - t0) / 1000;
    console.log(`images from 256x256 pixels: ${(nImages / s).toFixed(1)} embeddings/s`);
    const texts = Array.from({ length: nTexts }, (_, i) => `a photo of a ${['cat', 'dog', 'goldfish', 'tabby cat on a sofa'][i % 4]} number ${i}`);
    await clip.embedTexts(texts.slice(0, 2));
    t0 = performance.now();
    await clip.embedTexts(texts);
    s = (performance.now() - t0) / 1000;
    console.log(`texts (tokenize + text tower): ${(nTexts / s).toFixed(1)} embeddings/s`);
    t0 = performance.now();
    await embedWithTemplates(clip, ['goldfish', 'tabby cat', 'great white shark', 'tench'], IMAGENET_TEMPLATES);
    s = (performance.now() - t0) / 1000;
    console.log(`80-template ensemble: ${(4 / s).toFixed(2)} entries/s (${(320 / s).toFixed(0)} prompts/s)`);
    await clip.dispose();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  // The distance helper at codebook scale (the JS kernel; the codebook filter's onnxruntime scorer is in `npm run bench -- codebook`).
  const m = 96000, dim = 768, n = 64;
  const cand = new Float32Array(m * dim).map((_, i) => Math.sin(i * 12.9898) * 0.05);
  const q = new Float32Array(n * dim).map((_, i) => Math.cos(i * 78.233) * 0.05);
  const t1 = performance.now();
  topK(q, cand, dim, 5);
  const s1 = (performance.now() - t1) / 1000;
  console.log(`topK k=5, ${n} queries x ${m} x ${dim} (js kernel): ${(s1 * 1000).toFixed(0)} ms, ${((2 * n * m * dim) / s1 / 1e9).toFixed(2)} GFLOP/s, ${(n / s1).toFixed(1)} queries/s`);
}
