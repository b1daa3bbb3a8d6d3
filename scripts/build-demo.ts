// npm run build-demo -- [--shared ../shared] [--work tmp/demo-build] [--steps 600] [--stop-after n] [--workers 1]
// Makes demo/ again, the built-in DEMO tokenizer (src/demo/demo.ts), from ../shared in four steps, each
// skipped when its output is already there (so an interrupted build continues):
//   1. the stand-in CLIP (seed 0, the defaults of `v2l models stand-in-clip`);
//   2. a codebook over stories260K's 512-token vocabulary (the README's quick-start command);
//   3. `v2l train --preset small --steps N` on the Tiny-ImageNet validation images (resumed if stopped;
//      `--stop-after n` packs step n of the N-step schedule);
//   4. pack: the network's weights as float16 without optimiser, discriminator and codebook tensors,
//      the codebook package's five files, and demo/demo.json (the CLIP's seed and fingerprint, provenance
//      and the figures measured here: the last validation of the run, then the packed demo's and the
//      float32 checkpoint's PSNR on the shared photos, through the same tokenizer code the CLI uses).
// Needs the compiled CLI (`npm run build`, which `npm run build-demo` runs first).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeStandInClip } from '../src/models/clip/stand-in.js';
import { fingerprintClip } from '../src/models/clip/transformers-clip.js';
import { readSafetensors, writeSafetensors } from '../src/io/files.js';
import { toFloat16, toFloat32, type HostTensor } from '../src/io/dtypes.js';
import { readWeightsMetadata, TOKENIZER_FORMAT, weightsMetadata } from '../src/tokenizer/weights.js';
import { writeJsonAtomic } from '../src/util/atomic.js';
import { DEMO_NOTE, demoModels, type DemoManifest } from '../src/demo/demo.js';
import { V2LTokenizer } from '../src/tokenizer/tokenizer.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const CLIP_OPTIONS = { seed: 0, hidden: 64, layers: 2, projectionDim: 768 };
const CODEBOOK_FILES = ['manifest.json', 'local.safetensors', 'local.json', 'global.safetensors', 'global.json'];

function args(argv: string[]): { shared: string; work: string; steps: number; stopAfter?: number; workers: number } {
  const o: ReturnType<typeof args> = { shared: join(root, '..', 'shared'), work: join(root, 'tmp', 'demo-build'), steps: 600, workers: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--shared') o.shared = resolve(v);
    else if (k === '--work') o.work = resolve(v);
    else if (k === '--steps') o.steps = Number(v);
    else if (k === '--stop-after') o.stopAfter = Number(v);
    else if (k === '--workers') o.workers = Number(v);
    else throw new Error(`unknown argument ${k} (usage: npm run build-demo -- [--shared dir] [--work dir] [--steps n] [--stop-after n] [--workers n])`);
    i++;
  }
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error('--steps must be a positive integer');
  if (o.stopAfter !== undefined && !(Number.isInteger(o.stopAfter) && o.stopAfter >= 1 && o.stopAfter <= o.steps)) throw new Error('--stop-after must be an integer in 1..--steps');
  return o;
}

function v2l(argv: string[]): void {
  console.error(`$ v2l ${argv.join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'v2l.js'), ...argv], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) throw new Error(`v2l ${argv[0]} failed (exit ${r.status})`);
}

/** The last validation at or before `step` (a run may have gone on past the step packed). */
function lastValidation(metrics: string, step: number): Record<string, number> {
  const rows = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const v = rows.filter((r) => r.val_psnr !== undefined && r.step <= step).at(-1);
  if (!v) throw new Error(`${metrics} holds no validation`);
  return v;
}

/** Mean PSNR (dB, [0,1] pixels) of the reconstructions of `images` by a tokenizer. */
async function psnr(tok: V2LTokenizer, images: string[]): Promise<number> {
  const out = await tok.reconstruct(images);
  let sum = 0;
  for (const r of out) {
    if ('error' in r) throw new Error(r.error);
    let se = 0;
    for (let i = 0; i < r.original.data.length; i++) se += ((r.original.data[i] - r.reconstruction.data[i]) / 255) ** 2;
    sum += 10 * Math.log10(1 / Math.max(se / r.original.data.length, 1e-12));
  }
  return Number((sum / out.length).toFixed(2));
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const gguf = join(o.shared, 'models', 'stories260K', 'stories260K.gguf');
  const merges = join(o.shared, 'models', 'clip-tokenizer', 'bpe_simple_vocab_16e6.txt.gz');
  const images = join(o.shared, 'data', 'tiny-imagenet-val', 'images');
  for (const p of [gguf, merges, images]) if (!existsSync(p)) throw new Error(`build-demo needs ${p} (--shared <dir>)`);
  const clip = join(o.work, 'clip');
  const codebook = join(o.work, 'codebook');
  const run = join(o.work, 'run');
  mkdirSync(o.work, { recursive: true });

  // 1. The stand-in CLIP, with its tokenizer files: the codebook build embeds texts.
  if (!existsSync(join(clip, 'config.json'))) writeStandInClip(clip, { ...CLIP_OPTIONS, mergesPath: merges });
  // 2. The codebook.
  if (!existsSync(join(codebook, 'manifest.json'))) {
    v2l(['codebook', 'build', '--llm', gguf, '--clip', clip, '--images', images, '--max-images', '512', '--templates', 'single', '--top-n', '256', '--out', codebook]);
  }
  // 3. Training.
  const last = o.stopAfter ?? o.steps;
  const final = join(run, 'checkpoints', `step-${String(last).padStart(7, '0')}.safetensors`);
  if (!existsSync(final)) {
    const resume = existsSync(join(run, 'checkpoints', 'latest')) ? ['--resume'] : [];
    v2l(['train', '--preset', 'small', '--steps', String(o.steps), '--workers', String(o.workers), '--data', images,
      '--clip', clip, '--codebook', codebook, '--out', run, ...(o.stopAfter ? ['--stop-after', String(o.stopAfter)] : []), ...resume]);
  }

  // 4. Pack.
  const demo = join(root, 'demo');
  const ck = readSafetensors(final);
  const meta = readWeightsMetadata(ck.metadata, final);
  const kept: [string, HostTensor][] = [];
  for (const [name, t] of ck.tensors) {
    // The optimiser and the discriminator are training state; the codebooks come from demo/codebook/.
    if (/^(optimizer|discriminator)\.|^tok_embeddings/.test(name)) continue;
    kept.push([name, t.dtype === 'F32' ? toFloat16(toFloat32(t), t.shape) : t]);
  }
  rmSync(join(demo, 'codebook'), { recursive: true, force: true });
  mkdirSync(join(demo, 'codebook'), { recursive: true });
  for (const f of CODEBOOK_FILES) copyFileSync(join(codebook, f), join(demo, 'codebook', f));
  writeSafetensors(join(demo, 'tokenizer.safetensors'), kept, {
    ...weightsMetadata({ format: TOKENIZER_FORMAT, config: meta.config!, imageSize: meta.imageSize, globalTokens: meta.globalTokens, source: 'demo' }),
    demo: DEMO_NOTE,
  });
  const fingerprint = await fingerprintClip(clip, readdirSync(join(clip, 'onnx')).map((f) => `onnx/${f}`).concat('config.json'));
  const cbManifest = JSON.parse(readFileSync(join(codebook, 'manifest.json'), 'utf8')) as { clip: { fingerprint: string } };
  if (cbManifest.clip.fingerprint !== fingerprint) throw new Error(`the codebook was built with CLIP ${cbManifest.clip.fingerprint}, ${clip} is ${fingerprint}`);
  const val = lastValidation(join(run, 'metrics.jsonl'), last);
  const manifest: DemoManifest = {
    format: 'v2l-demo/1',
    note: `DEMO: ${DEMO_NOTE}`,
    checkpoint: 'tokenizer.safetensors',
    codebook: 'codebook',
    clip: { options: CLIP_OPTIONS, fingerprint },
    build: {
      command: `npm run build-demo -- --steps ${o.steps}${o.stopAfter ? ` --stop-after ${o.stopAfter}` : ''}`,
      network: `v2l train --preset small --steps ${o.steps}${o.stopAfter ? `, stopped after step ${o.stopAfter}` : ''} (robust recipe), 64 px -> 16x16 local tokens, ${meta.globalTokens} global tokens; weights stored as float16`,
      data: 'Tiny-ImageNet validation images (10,100; a seeded 2 % held out)',
      codebook: "stories260K's 512-token vocabulary (MIT) through the stand-in CLIP, --templates single --top-n 256",
      validation: { step: val.step, val_psnr: val.val_psnr, val_psnr_collapsed: val.val_psnr_collapsed, val_local_tokens_used: val.val_local_tokens_used, val_perplexity: val.val_perplexity },
    },
  };
  writeJsonAtomic(join(demo, 'demo.json'), manifest);

  // The packed demo, loaded as the CLI loads it (CLIP generated into a fresh cache), against float32.
  const cache = join(o.work, 'cache');
  rmSync(cache, { recursive: true, force: true });
  const d = await demoModels({ cacheDir: cache });
  const photos = readdirSync(join(o.shared, 'data', 'photos')).filter((f) => /\.(jpe?g|png)$/i.test(f)).map((f) => join(o.shared, 'data', 'photos', f));
  const packed = await V2LTokenizer.load({ checkpoint: d.checkpoint, codebook: d.codebook, clip: d.clip });
  const full = await V2LTokenizer.load({ checkpoint: final, codebook, clip: d.clip });
  try {
    const figures = { photos: photos.length, psnrPacked: await psnr(packed, photos), psnrFloat32: await psnr(full, photos) };
    writeJsonAtomic(join(demo, 'demo.json'), { ...manifest, build: { ...manifest.build, sharedPhotos: figures } });
    console.error(`demo written to ${relative(root, demo)}/: validation at step ${val.step}: ${val.val_psnr?.toFixed(2)} dB (collapsed model ${val.val_psnr_collapsed?.toFixed(2)}), ` +
      `${val.val_local_tokens_used} local tokens used; ${photos.length} shared photos: ${figures.psnrPacked} dB packed (float16), ${figures.psnrFloat32} dB float32`);
  } finally {
    await packed.dispose();
    await full.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(`build-demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
