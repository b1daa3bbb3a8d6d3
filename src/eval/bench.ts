// `npm run bench -- eval memory [--images <dir>] [--limit 10000] [--out <dir>] [--image-size 32]`:
// memory of `eval reconstruction` as the image count grows. A tiny random tokenizer and the STAND-IN
// CLIP / Inception / AlexNet (figures meaningless; the pipeline and its accumulators are the real ones,
// with 2048-d FID statistics) run over Tiny-ImageNet's 10,000 validation images by default; RSS and JS
// heap are sampled after every batch and written to `<out>/memory.json`, with the value at 1,000 images
// and at the end. Resumable like the evaluation itself (the samples continue after a restart).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetworkParams } from '../network/network-params.js';
import { writeSafetensors } from '../io/files.js';
import { writeStandInClip, defaultMergesPath } from '../models/clip/stand-in.js';
import { sharedLpipsHeadsPath } from '../train/lpips-files.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { V2LConfig } from '../network/config.js';
import { evaluateReconstruction } from './reconstruction.js';
import { argString as arg } from '../util/bench-args.js';

interface Sample { images: number; rssMiB: number; heapMiB: number; externalMiB: number; seconds: number }

export async function benchEval(args: string[]): Promise<void> {
  const what = args[0];
  if (what !== 'memory') throw new Error('usage: npm run bench -- eval memory [--images <dir>] [--limit n] [--out <dir>] [--image-size px]');
  const images = arg(args, 'images', fileURLToPath(new URL('../../../shared/data/tiny-imagenet-val', import.meta.url)));
  const limit = Number(arg(args, 'limit', '10000'));
  const out = resolve(arg(args, 'out', 'eval-memory'));
  const imageSize = Number(arg(args, 'image-size', '32'));
  mkdirSync(out, { recursive: true });
  // The cheapest network the configuration allows (GroupNorm(32) needs 32 channels; three levels, no
  // channel growth): about 5x faster than the tests' tiny network, so 10,000 images take minutes.
  const config: V2LConfig = {
    ch: 32, chMult: [1, 1, 1], numResBlocks: 1, resolution: 16, attnResolutions: [], inChannels: 3, outCh: 3,
    zChannels: 32, embedDim: 64, nLocal: 64, nGlobal: 32, crossAttnHeads: 2, crossAttnDimHead: 16, discLayers: 1, discNdf: 16,
  };
  const ckpt = join(out, 'tiny-tokenizer.safetensors');
  if (!existsSync(ckpt)) {
    const net = new NetworkParams(config, { seed: 1 });
    writeSafetensors(ckpt, net.stateDict(), { config: JSON.stringify(config), image_size: String(imageSize) });
  }
  const clip = join(out, 'stand-in-clip');
  if (!existsSync(join(clip, 'config.json'))) {
    const merges = defaultMergesPath();
    if (!merges) throw new Error('the stand-in CLIP needs CLIP\'s BPE merges (V2L_CLIP_MERGES or ../shared/models/clip-tokenizer)');
    writeStandInClip(clip, { seed: 1, projectionDim: config.embedDim, mergesPath: merges });
  }
  const logPath = join(out, 'memory.json');
  const samples: Sample[] = existsSync(logPath) ? (JSON.parse(readFileSync(logPath, 'utf8')) as { samples: Sample[] }).samples : [];
  const t0 = Date.now() - (samples.at(-1)?.seconds ?? 0) * 1000;
  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  const at = (n: number): Sample | undefined => samples.find((s) => s.images >= n);
  const write = (done: boolean): void => writeJsonAtomic(logPath, {
    note: 'eval reconstruction memory vs images (STAND-IN networks, tiny tokenizer): RSS and JS heap after each batch',
    imageSize, limit, done, at1000: at(1000) ?? null, last: samples.at(-1) ?? null,
    peakRssAfter1000MiB: Math.max(...samples.filter((s) => s.images >= 1000).map((s) => s.rssMiB), 0), samples,
  });
  const r = await evaluateReconstruction({
    checkpoint: ckpt, clip, images, out: join(out, 'eval'), inception: 'stand-in', lpipsBackbone: 'stand-in',
    lpipsHeads: fileURLToPath(sharedLpipsHeadsPath('alex')), imageSize, globalTokens: 21, batchSize: 32, limit,
    log: (l) => console.error(l),
    onProgress: (e) => {
      const m = process.memoryUsage();
      samples.push({ images: e.done, rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), externalMiB: mib(m.external), seconds: Math.round((Date.now() - t0) / 100) / 10 });
      write(false);
      if (samples.length % 10 === 0) console.error(`${e.done}/${e.total} images: rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB`);
    },
  });
  write(true);
  const a = at(1000);
  const b = samples.at(-1);
  console.log(JSON.stringify({ images: r.images, rssAt1000MiB: a?.rssMiB, rssAtEndMiB: b?.rssMiB, heapAt1000MiB: a?.heapMiB, heapAtEndMiB: b?.heapMiB, fidMeaningless: r.fid }));
}
