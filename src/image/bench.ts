// `npm run bench -- image [dir]`: decoding (sharp, BMP) and the two preprocessing modes over the real
// photos in ../shared/data/photos (or a folder given), per image.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadImages } from './load.js';
import { preprocessOne } from './preprocess.js';
import type { RawImage } from './types.js';

export async function benchImage(args: string[]): Promise<void> {
  const dir = args[0] ?? new URL('../../../shared/data/photos/', import.meta.url).pathname;
  if (!existsSync(dir)) throw new Error(`no image folder ${dir} (pass one as the argument)`);
  const paths = readdirSync(dir).filter((f) => /\.(jpe?g|png|bmp|webp)$/i.test(f)).map((f) => join(dir, f));
  let t0 = performance.now();
  const results = await loadImages(paths, { concurrency: 4 });
  const decode = performance.now() - t0;
  const images = results.flatMap((r) => (r.ok ? [r.value as RawImage] : []));
  const mp = images.reduce((a, i) => a + i.width * i.height, 0) / 1e6;
  console.log(`decode: ${images.length} images (${mp.toFixed(1)} MP) in ${decode.toFixed(0)} ms, ${(decode / images.length).toFixed(1)} ms/image`);
  for (const mode of ['simple', 'reference'] as const) {
    t0 = performance.now();
    for (const img of images) preprocessOne(img, { size: 128, mode });
    const t = performance.now() - t0;
    console.log(`preprocess ${mode} -> 128: ${(t / images.length).toFixed(1)} ms/image`);
  }
}
