// From user settings (a preset plus overrides, paths) to the trainer's options: the data split, the CLIP
// (a user's model folder, or the generated STAND-IN), the codebooks (a codebook package, or random
// stand-in rows), LPIPS (user backbone weights, or the STAND-IN backbone). Everything that is a stand-in
// is reported as such through `notes`. Node edge.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { loadCodebook, resolveCodebookDir } from '../codebook/package.js';
import type { PreprocessMode } from '../image/preprocess.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import type { ClipModel } from '../models/clip/types.js';
import { validateConfig, type V2LConfig } from '../network/config.js';
import { listImages, splitValidation } from './data.js';
import type { LoadLpipsOptions } from './lpips-files.js';
import type { LpipsBackbone } from './lpips.js';
import type { TrainOptions } from './loop.js';
import { getPreset, getRecipe } from './presets.js';
import type { LossConfig, OptimConfig } from './replica.js';

export interface TrainSettings {
  preset: string;
  /** Collapse measures (default: the preset's recipe); see presets.ts RECIPES. */
  recipe?: string;
  /** Dead-code re-seeding interval in steps (0: off) and last step (default: the recipe's). */
  reseedEvery?: number;
  reseedUntil?: number;
  /** With re-seeding, also move the live codes to the mean of their encoder outputs (k-means step). */
  reseedKmeans?: boolean;
  reseedMinUsage?: number;
  reseedTargets?: 'uniform' | 'far' | 'split';
  reseedImages?: number;
  /** Warm-up in epochs of the training data (default: the preset's). */
  warmupEpochs?: number;
  data: string[];
  valData?: string[];
  valFraction?: number;
  valImages?: number;
  out: string;
  steps?: number;
  /** Length of the learning-rate schedule (default: the larger of `steps` and the preset's steps). */
  scheduleSteps?: number;
  stopAfter?: number;
  batchSize?: number;
  microBatch?: number;
  /** Gradient checkpointing of the tfjs trainer of earlier versions: refused (onnxruntime bounds memory with `microBatch`). */
  checkpointActivations?: boolean;
  imageSize?: number;
  preprocess?: PreprocessMode;
  seed?: number;
  network?: Partial<V2LConfig>;
  loss?: Partial<LossConfig>;
  optim?: Partial<Omit<OptimConfig, 'totalSteps'>>;
  checkpointEvery?: number;
  keepLast?: number;
  valEvery?: number;
  /** Data-parallel lanes (./lanes.ts; default: the engine threads on CPU, 1 on CUDA). */
  workers?: number;
  /** Only 'onnx' (the tfjs trainer is gone; the value is accepted so that scripts saying it keep working). */
  engine?: 'tfjs' | 'onnx';
  device?: 'cpu' | 'cuda';
  engineThreads?: number;
  /** A CLIP folder (Hugging Face ONNX layout) or 'stand-in' (generated into `<out>/stand-in-clip`). */
  clip?: string;
  clipCache?: string;
  codebook?: string;
  /** Backbone weights file, or 'stand-in'; absent: no perceptual loss. */
  lpips?: string;
  lpipsBackbone?: LpipsBackbone;
  lpipsHeads?: string;
  resume?: string | true;
  prefetch?: number;
}

/** The LPIPS v0.1 heads of ../shared beside the repository (development machines), if present. */
export function defaultLpipsHeads(backbone: LpipsBackbone): string | null {
  const p = fileURLToPath(new URL(`../../../shared/models/lpips/v0.1_json/${backbone}.json`, import.meta.url));
  return existsSync(p) ? p : null;
}

export interface PreparedRun {
  options: Omit<TrainOptions, 'progress' | 'log' | 'shouldStop'>;
  /** Lines to show the user: stand-ins in use, data sizes. */
  notes: string[];
  clip: ClipModel;
}

/** The training and validation files: --val-data, else a seeded split of --data. */
function dataSplit(s: TrainSettings, seed: number): { trainFiles: string[]; valFiles: string[] } {
  if (!s.data.length) throw new Error('--data is required: an image folder (searched recursively), an image file or a list file');
  const all = listImages(s.data);
  if (s.valData?.length) return { trainFiles: all, valFiles: listImages(s.valData) };
  const split = splitValidation(all, s.valFraction ?? 0.02, seed);
  return { trainFiles: split.train, valFiles: split.val };
}

/** The frozen CLIP: a folder, or the STAND-IN written into the run folder (named as such in the notes). */
async function trainingClip(spec: string, out: string, embedDim: number, notes: string[]): Promise<ClipModel> {
  if (spec !== 'stand-in') {
    const clip = await loadClip(spec, { towers: { vision: true, text: false } });
    notes.push(`CLIP: ${clip.id}${clip.isStandIn ? ' (STAND-IN)' : ''}`);
    return clip;
  }
  const dir = join(out, 'stand-in-clip');
  if (!existsSync(join(dir, 'config.json'))) writeStandInClip(dir, { projectionDim: embedDim });
  notes.push(`CLIP: STAND-IN (random weights, no semantics) in ${dir}: global tokens carry no meaning; pass --clip <folder> for a real CLIP`);
  return loadClip(dir, { towers: { vision: true, text: false } });
}

/** LPIPS settings from --lpips / --lpips-backbone / --lpips-heads (null: off), with a note either way. */
function lpipsOptions(s: TrainSettings, seed: number, notes: string[]): LoadLpipsOptions | null {
  if (!s.lpips) {
    notes.push('LPIPS: off (no --lpips backbone weights given); the perceptual term is skipped');
    return null;
  }
  const backbone = s.lpipsBackbone ?? 'vgg';
  const heads = s.lpipsHeads ?? defaultLpipsHeads(backbone);
  if (!heads) throw new Error(`--lpips needs the LPIPS v0.1 linear heads for ${backbone}: pass --lpips-heads <${backbone}.pth> (from github.com/richzhang/PerceptualSimilarity, lpips/weights/v0.1/)`);
  notes.push(s.lpips === 'stand-in'
    ? `LPIPS: ${backbone} with a STAND-IN random backbone (not perceptual; exercises the loss only)`
    : `LPIPS: ${backbone} backbone ${s.lpips}, heads ${heads}`);
  return { backbone, backboneWeights: s.lpips, heads, seed };
}

/**
 * Where CLIP image embeddings are cached: the codebook build's cache (`<codebook>/cache`, the same
 * cache, so images the filter already embedded are not embedded again) when there is one, else
 * `<out>/clip-cache`.
 */
function defaultClipCache(codebook: string | undefined, out: string): string {
  if (codebook) {
    try {
      const shared = join(resolveCodebookDir(codebook), 'cache');
      if (existsSync(shared)) return shared;
    } catch {
      // the codebook's own errors come from loadCodebook
    }
  }
  return join(out, 'clip-cache');
}

export async function prepareTraining(s: TrainSettings): Promise<PreparedRun> {
  const preset = getPreset(s.preset);
  const notes: string[] = [];
  const out = resolve(s.out);
  const steps = s.steps ?? preset.steps;
  const seed = s.seed ?? 0;
  const { trainFiles, valFiles } = dataSplit(s, seed);
  notes.push(`data: ${trainFiles.length} training images, ${Math.min(valFiles.length, s.valImages ?? 64)} validation images scored`);

  const recipe = getRecipe(s.recipe ?? preset.recipe);
  notes.push(`recipe: ${recipe.name} (${recipe.description})`);
  let network = validateConfig({ ...preset.network, ...recipe.network, ...s.network });
  const clip = await trainingClip(s.clip ?? 'stand-in', out, network.embedDim, notes);
  // The codebooks are CLIP embeddings and the global tokens come from CLIP: the network's embedding
  // width is the CLIP's.
  if (clip.dim !== network.embedDim) {
    notes.push(`embedding width: ${clip.dim} (the CLIP's), instead of the preset's ${network.embedDim}`);
    network = validateConfig({ ...network, embedDim: clip.dim });
  }

  let codebook: TrainOptions['codebook'];
  if (s.codebook) {
    const cb = loadCodebook(s.codebook, { clip: { id: clip.id, fingerprint: clip.fingerprint, dim: clip.dim } });
    codebook = {
      local: { dtype: 'F32', shape: [cb.local.length / cb.dim, cb.dim], data: cb.local },
      global: { dtype: 'F32', shape: [cb.global.length / cb.dim, cb.dim], data: cb.global },
      source: `codebook package ${s.codebook} (${cb.manifest.llm.id})`,
    };
    network.nLocal = codebook.local.shape[0];
    network.nGlobal = codebook.global.shape[0];
    notes.push(`codebooks: ${s.codebook} (${network.nLocal} local rows, ${network.nGlobal} global rows)`);
  } else {
    if (s.network?.nLocal === undefined) network.nLocal = preset.standInCodebookRows.local;
    if (s.network?.nGlobal === undefined) network.nGlobal = preset.standInCodebookRows.global;
    notes.push(`codebooks: RANDOM STAND-IN rows (${network.nLocal} local, ${network.nGlobal} global; seeded, not an LLM vocabulary); pass --codebook <package> to train for an LLM`);
  }

  const lpips = lpipsOptions(s, seed, notes);

  // The schedule's length is not the run's: a run of 150 steps continued to 300 follows the same
  // learning rates as a run of 300 (the reference defines it over 100 epochs, however long one trains).
  const scheduleSteps = s.scheduleSteps ?? Math.max(steps, preset.steps);
  // Warm-up: the reference's is 5 epochs of the data (`warmup_epochs`), whatever the schedule's length.
  const batchSize = s.batchSize ?? preset.batchSize;
  const warmupEpochs = s.warmupEpochs ?? preset.optim.warmupEpochs;
  const warmupSteps = s.optim?.warmupSteps ?? (warmupEpochs !== undefined
    ? Math.min(scheduleSteps, Math.round(warmupEpochs * Math.ceil(trainFiles.length / batchSize)))
    : Math.round(preset.optim.warmupFraction * scheduleSteps));
  const { warmupFraction: _w, warmupEpochs: _e, ...presetOptim } = preset.optim;
  void _w;
  void _e;
  const optim: OptimConfig = { ...presetOptim, ...s.optim, warmupSteps, totalSteps: scheduleSteps };
  const loss: LossConfig = { ...preset.loss, ...recipe.loss, ...s.loss };
  const reseedEvery = s.reseedEvery ?? recipe.reseed?.every ?? 0;
  const reseed = reseedEvery > 0
    ? { every: reseedEvery, until: s.reseedUntil ?? Math.round((recipe.reseed?.untilFraction ?? 1) * scheduleSteps), kmeans: s.reseedKmeans ?? recipe.reseed?.kmeans ?? false,
      minUsage: s.reseedMinUsage ?? recipe.reseed?.minUsage ?? 1, targets: s.reseedTargets ?? recipe.reseed?.targets ?? 'uniform',
      images: s.reseedImages ?? recipe.reseed?.images ?? batchSize }
    : undefined;
  if (s.engine === 'tfjs') throw new Error('--engine tfjs: training runs on onnxruntime only (--engine onnx, the default); use --engine-threads for the threads, --device cuda for a GPU');
  if (s.checkpointActivations) throw new Error('--checkpoint-activations belonged to the tfjs trainer; on onnxruntime bound memory with --micro-batch');
  const options: PreparedRun['options'] = {
    out,
    trainFiles,
    valFiles,
    valImages: s.valImages ?? 64,
    steps,
    stopAfter: s.stopAfter,
    batchSize,
    reseed,
    microBatch: s.microBatch ?? preset.microBatch,
    imageSize: s.imageSize ?? preset.imageSize,
    preprocess: s.preprocess ?? preset.preprocess,
    network,
    seed,
    loss,
    optim,
    checkpointEvery: s.checkpointEvery ?? preset.checkpointEvery,
    keepLast: s.keepLast ?? 3,
    valEvery: s.valEvery ?? preset.valEvery,
    device: s.device,
    engineThreads: s.engineThreads,
    workers: s.workers ?? (s.device === 'cuda' ? 1 : s.engineThreads ?? availableParallelism()),
    clip,
    clipCacheDir: s.clipCache ?? defaultClipCache(s.codebook, out),
    codebook,
    lpips,
    resume: s.resume,
    prefetch: s.prefetch,
  };
  return { options, notes, clip };
}

