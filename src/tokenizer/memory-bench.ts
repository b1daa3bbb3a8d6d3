// `npm run bench -- tokenize-memory [--images 10000] [--batch 8] [--size 64]`
// Memory of the whole `V2LTokenizer.encode` pipeline over many images: JPEG files decoded by sharp, CLIP
// (the stand-in, random weights) and its preprocessing, the network on the chosen engine, the next batch
// loading while the network runs. The network is narrow (ch 32) so that 10,000 images take minutes, but
// keeps real codebook sizes' code paths (8,000 local and 2,000 global rows); RSS, JS heap and external
// memory are sampled after every call of 500 images and the growth after the first call is reported.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { paperConfig, type V2LConfig } from '../network/config.js';
import { NetworkParams } from '../network/network-params.js';
import { writeSafetensors } from '../io/files.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { Rng } from '../network/rng.js';
import { V2LTokenizer, isFailure } from './tokenizer.js';
import { argNumber } from '../util/bench-args.js';

const arg = (args: string[], name: string, dflt: number): number => argNumber(args, name, dflt, { integer: true });

const mb = (b: number) => (b / 2 ** 20).toFixed(0);

export async function benchTokenizeMemory(args: string[] = []): Promise<void> {
  const total = arg(args, '--images', 10000);
  const batch = arg(args, '--batch', 8);
  const size = arg(args, '--size', 64);
  const engine = 'onnx'; // the tokenizer's only engine
  const dir = mkdtempSync(join(tmpdir(), 'v2l-memory-'));
  try {
    const config: V2LConfig = { ...paperConfig(), ch: 32, zChannels: 64, nLocal: 8000, nGlobal: 2000 };
    const net = new NetworkParams(config, { seed: 2 });
    const ckpt = join(dir, 'tokenizer.safetensors');
    writeSafetensors(ckpt, net.stateDict(), { config: JSON.stringify(config) });
    writeStandInClip(join(dir, 'clip'));
    // 64 distinct JPEGs of random blocks, visited over and over.
    const rng = new Rng(3);
    const files: string[] = [];
    for (let i = 0; i < 64; i++) {
      const px = Buffer.alloc(96 * 80 * 3);
      for (let j = 0; j < px.length; j++) px[j] = Math.floor(rng.uniform() * 256);
      const path = join(dir, `img-${i}.jpg`);
      await sharp(px, { raw: { width: 96, height: 80, channels: 3 } }).jpeg().toFile(path);
      files.push(path);
    }
    const tok = await V2LTokenizer.load({ checkpoint: ckpt, clip: join(dir, 'clip'), imageSize: size, batchSize: batch, onnxCache: null });
    console.log(`tokenize memory: ${total} images (${files.length} JPEG files in turn), ${size} px, batch ${batch}, engine ${engine}, ` +
      `network ch 32 with ${config.nLocal} local / ${config.nGlobal} global codebook rows, stand-in CLIP`);
    const perCall = 500;
    const samples: { done: number; rss: number; heap: number; external: number }[] = [];
    const t0 = performance.now();
    for (let done = 0; done < total;) {
      const n = Math.min(perCall, total - done);
      const results = await tok.encode(Array.from({ length: n }, (_, i) => files[(done + i) % files.length]));
      if (results.some(isFailure)) throw new Error('an image failed');
      done += n;
      const m = process.memoryUsage();
      samples.push({ done, rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers });
      console.log(`${String(done).padStart(6)} images  ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s  rss ${mb(m.rss).padStart(5)} MB  js heap ${mb(m.heapUsed).padStart(4)} MB  external+buffers ${mb(m.external + m.arrayBuffers).padStart(5)} MB`);
    }
    await tok.dispose();
    const first = samples[0];
    const last = samples[samples.length - 1];
    const maxRss = Math.max(...samples.map((s) => s.rss));
    console.log(JSON.stringify({
      bench: 'tokenize-memory', engine, images: total, size, batch,
      rss_mb_after_first_call: Number(mb(first.rss)), rss_mb_at_end: Number(mb(last.rss)), rss_mb_max: Number(mb(maxRss)),
      rss_growth_mb_after_first_call: Number(mb(last.rss - first.rss)), images_per_s: total / ((performance.now() - t0) / 1000),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
