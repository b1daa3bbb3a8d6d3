// The trainer: data and CLIP embeddings in, checkpoints, metrics, loss curves and reconstruction grids
// out. Each iteration takes the batch of its step (a pure function of seed and step), runs one
// data-parallel step, logs, and at fixed intervals validates (val_rec_loss, a grid of originals above
// their reconstructions) and checkpoints. `resume` restores weights, optimiser moments and step from a
// checkpoint, after which the run continues with exactly the numbers an uninterrupted run would use.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { loadImage } from '../image/load.js';
import { preprocessOne, type PreprocessMode } from '../image/preprocess.js';
import { fromNCHW, savePng, sideBySide } from '../image/save.js';
import type { ClipModel } from '../models/clip/types.js';
import type { V2LConfig } from '../network/config.js';
import { configDifferences } from '../network/config-infer.js';
import { NetworkParams } from '../network/network-params.js';
import { permuteLayout } from '../network/param-specs.js';
import type { OnnxEngineOptions } from '../tokenizer/onnx-node.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { ProgressReporter } from '../util/progress.js';
import { loadCheckpoint, resolveCheckpoint, saveCheckpoint } from './checkpoint.js';
import { ClipEmbeddingCache } from './clip-cache.js';
import { BatchSampler, PrefetchLoader, type DecodeImage } from './data.js';
import { loadLpips, type LoadLpipsOptions } from './lpips-files.js';
import { MetricsLog, readMetrics } from './metrics.js';
import { graphBatch, OnnxRunner } from './onnx-runner.js';
import { reconstructionError } from './losses.js';
import { CentreSearch, encoderRows, ValidationForward } from './inference.js';
import { LoopProfile } from './loop-profile.js';
import { plotLossCurves } from './plot.js';
import { Replica, type LossConfig, type OptimConfig } from './replica.js';
import { reseedDeadCodesWith, type CentreQuery, type NearestCentres } from './reseed.js';
import { Rng } from '../network/rng.js';
import { RunLock } from '../util/run-lock.js';

export interface TrainOptions {
  out: string;
  trainFiles: string[];
  valFiles: string[];
  /** Train until this many steps are done (the schedule's length is `optim.totalSteps`). */
  steps: number;
  /** Stop (with a checkpoint) once this many steps are done, e.g. to split a run; default `steps`. */
  stopAfter?: number;
  batchSize: number;
  /** Images per forward/backward (0 or absent: the whole batch). */
  microBatch?: number;
  imageSize: number;
  preprocess: PreprocessMode;
  network: V2LConfig;
  seed: number;
  loss: LossConfig;
  optim: OptimConfig;
  checkpointEvery: number;
  keepLast: number;
  valEvery: number;
  /** At most this many validation images are scored (default all). */
  valImages?: number;
  /** Images in the reconstruction grid (default 8). */
  sampleImages?: number;
  /** Where the steps, validation and re-seeding run: onnxruntime's CPU provider (default) or CUDA. */
  device?: 'cpu' | 'cuda';
  /** onnxruntime intra-op threads (default: all cores). */
  engineThreads?: number;
  /** Data-parallel lanes of the step (./lanes.ts; default 1). */
  workers?: number;
  clip: ClipModel;
  clipCacheDir: string;
  /** Frozen codebooks (reference state-dict keys); absent: the network's seeded random stand-in rows. */
  codebook?: { local: HostTensor; global: HostTensor; source: string };
  lpips: LoadLpipsOptions | null;
  /** A checkpoint file or run folder to continue from (true: this run's own `out`). */
  resume?: string | true;
  prefetch?: number;
  progress?: ProgressReporter;
  log?: (line: string) => void;
  /** Checked after every step; returning true stops the run with a checkpoint (SIGINT handling). */
  shouldStop?: () => boolean;
  /** Log where the loop's wall time went (seconds per phase: step, data, re-seeding, validation, checkpoints) at the end. */
  profileLoop?: boolean;
  /**
   * Dead-code re-seeding (./reseed.ts): every `every` steps while step <= `until`, local codes unused since
   * the last re-seed are moved onto encoder outputs of the current batch. Absent or every 0: off (the reference).
   */
  reseed?: { every: number; until: number; kmeans?: boolean; minUsage?: number; targets?: 'uniform' | 'far' | 'split'; images?: number };
}

/** Validation figures of one validation pass. */
export interface ValidationFigures {
  step: number;
  valRecLoss: number;
  /** Mean over the images of 10 log10(1 / MSE) on [0, 1] pixels (reconstructions clipped to range). */
  psnr: number;
  /** Distinct local tokens over the validation images, and the perplexity exp(H) of their frequencies. */
  codesUsed: number;
  perplexity: number;
}

export interface TrainResult {
  step: number;
  /** The last validation's figures, and the collapsed model's PSNR on the same images (null: no validation). */
  lastValidation: ValidationFigures | null;
  collapsedPsnr: number | null;
  checkpoint: string;
  firstValRecLoss: number | null;
  lastValRecLoss: number | null;
  imagesPerSecond: number;
  curves: string;
}

/** Identity of the training file list (order included): a resumed run must see the same data. */
export function dataFingerprint(files: readonly string[]): string {
  return createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
}

export function makeDecoder(imageSize: number, mode: PreprocessMode): DecodeImage {
  const shrinkTo = mode === 'reference' ? 224 : imageSize;
  return async (path) => preprocessOne(await loadImage(path, { shrinkTo }), { size: imageSize, mode });
}

function gatherRows(all: Float32Array, dim: number, idx: readonly number[]): Float32Array {
  const out = new Float32Array(idx.length * dim);
  idx.forEach((r, k) => out.set(all.subarray(r * dim, (r + 1) * dim), k * dim));
  return out;
}

function sameConfig(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Mean PSNR (dB, pixels mapped from [-1, 1] to [0, 1], reconstructions clipped) of n images of `per` values. */
export function meanPsnr(x: Float32Array, y: Float32Array, n: number): number {
  const per = x.length / n;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let se = 0;
    for (let k = i * per; k < (i + 1) * per; k++) {
      const d = (x[k] - Math.max(-1, Math.min(1, y[k]))) / 2;
      se += d * d;
    }
    sum += 10 * Math.log10(1 / Math.max(se / per, 1e-10));
  }
  return sum / n;
}

/**
 * Says a codebook collapse as it happens: a warning once the codes in use over the validation images stay
 * under the threshold (2% of the rows, or of the positions when fewer, and never under 8) at two
 * validations in a row; again after a recovery.
 */
export class CollapseWatch {
  readonly threshold: number;
  private low = 0;

  constructor(rows: number, positions: number) {
    this.threshold = Math.max(8, Math.ceil(0.02 * Math.min(rows, positions)));
  }

  /** The warning to print after a validation at `step` (step 0, the untrained network, never counts), or null. */
  check(step: number, codesUsed: number, images: number): string | null {
    if (step === 0 || codesUsed >= this.threshold) {
      this.low = 0;
      return null;
    }
    this.low++;
    if (this.low !== 2) return null;
    return `WARNING: codebook collapse: only ${codesUsed} distinct local tokens over ${images} validation images at step ${step} ` +
      `(under ${this.threshold} at two validations in a row): reconstructions are close to the blurred mean image. ` +
      'Train with --recipe robust (docs/training.md).';
  }
}

/**
 * On --resume: checks the checkpoint against this run (network configuration, data, seed, batch size),
 * loads the weights, code counts and optimiser state, truncates the metrics after its step and returns
 * it; otherwise starts a fresh metrics log and returns 0.
 */
function resumeOrStart(o: TrainOptions, net: NetworkParams, replica: Replica, fingerprint: string, metrics: MetricsLog, log: (line: string) => void): number {
  if (!o.resume) {
    if (existsSync(metrics.path)) metrics.truncateAfter(-1);
    return 0;
  }
  const path = resolveCheckpoint(o.resume === true ? o.out : o.resume);
  if (!path) throw new Error(`--resume: no checkpoint in ${o.resume === true ? o.out : o.resume}`);
  const ck = loadCheckpoint(path);
  const saved = ck.extra as { data?: string; seed?: number; batchSize?: number; workers?: number; steps?: number; optimizerSteps?: { gen: number; disc: number }; optimizerLayout?: string };
  if (!sameConfig(ck.config, net.config)) {
    const diff = configDifferences(ck.config as V2LConfig, net.config);
    throw new Error(`${path}: saved for another network configuration (checkpoint vs this run: ${diff.join('; ') || 'same fields, other values'})`);
  }
  if (saved.data !== fingerprint) throw new Error(`${path}: saved for another training file list (${saved.data}, now ${fingerprint}); a resumed run must see the same data`);
  if (saved.seed !== o.seed || saved.batchSize !== o.batchSize) throw new Error(`${path}: saved with --seed ${saved.seed} --batch-size ${saved.batchSize}; resume with the same values (now ${o.seed}, ${o.batchSize})`);
  const savedSchedule = (saved as { optim?: OptimConfig }).optim?.totalSteps;
  if (savedSchedule !== undefined && savedSchedule !== o.optim.totalSteps) log(`note: the checkpoint's learning-rate schedule spanned ${savedSchedule} steps, it now spans ${o.optim.totalSteps}: the run will not match an uninterrupted one`);
  const savedEngine = (saved as { engine?: string }).engine ?? 'tfjs';
  const savedGraphBatch = (saved as { graphBatch?: number }).graphBatch;
  const nowGraphBatch = graphBatch(o.batchSize, o.microBatch ?? 0, o.workers ?? 1);
  if (savedEngine === 'onnx' && savedGraphBatch !== undefined && savedGraphBatch !== nowGraphBatch) log(`note: the checkpoint's steps ran ${savedGraphBatch} images per graph, this run ${nowGraphBatch} (--micro-batch, --workers): the same training up to float rounding, not bit for bit`);
  if (savedEngine !== 'onnx') log(`note: the checkpoint was written by the tfjs trainer of earlier versions${(saved.workers ?? 1) > 1 ? ` with ${saved.workers} workers` : ''}; it resumes on onnxruntime, the same training up to float rounding, not bit for bit`);
  net.loadStateDict(ck.model);
  // Code counts since the last re-seed (only re-seeding reads them).
  for (const [id, c] of (ck.extra as { codeUsage?: [number, number][] }).codeUsage ?? []) if (id < replica.usage.length) replica.usage[id] = c;
  const sums = ck.optimizer.get(Z_SUMS_KEY);
  if (sums && replica.trackCodeMeans) replica.zSums = (sums.data as Float32Array).slice();
  // Moments in PyTorch layout since the onnxruntime trainer; the tfjs trainer wrote its own layout.
  replica.loadOptimizerState(ck.optimizer, saved.optimizerSteps ?? { gen: ck.step, disc: ck.step }, path, saved.optimizerLayout !== 'reference');
  metrics.truncateAfter(ck.step);
  log(`resumed from ${path} at step ${ck.step}`);
  return ck.step;
}

/**
 * The collapsed model's figure: a decoder that ignores the local tokens can at best output one image per
 * global-token set; with no usable local code it reconstructs the blurred mean. Its PSNR is that of the
 * mean training image (up to 512 training images, evenly spaced) against every validation image.
 */
async function collapsedModelPsnr(trainFiles: readonly string[], valImages: Float32Array, nVal: number, decode: DecodeImage, imageSize: number): Promise<number> {
  const per = 3 * imageSize * imageSize;
  const step = Math.max(1, Math.floor(trainFiles.length / 512));
  const pick = trainFiles.filter((_, i) => i % step === 0).slice(0, 512);
  const all = await loadAll(pick, decode, imageSize);
  const mean = new Float32Array(per);
  for (let i = 0; i < pick.length; i++) for (let k = 0; k < per; k++) mean[k] += all[i * per + k] / pick.length;
  const tiled = new Float32Array(valImages.length);
  for (let i = 0; i < nVal; i++) tiled.set(mean, i * per);
  return meanPsnr(valImages, tiled, nVal);
}

/** What one validation needs: the network, the validation images and their CLIP embeddings, where figures go. */
interface ValidationContext {
  o: TrainOptions;
  net: NetworkParams;
  valImages: Float32Array;
  valClip: Float32Array;
  n: number;
  metrics: MetricsLog;
  log: (line: string) => void;
  watch: CollapseWatch;
  collapsedPsnr: number | null;
  /** onnxruntime options of the run (device, threads). */
  engine: OnnxEngineOptions;
  prof: LoopProfile;
}

/**
 * One validation pass: reconstruction and VQ losses, PSNR, local codes used and their perplexity, into
 * metrics.jsonl and the log (with the collapse warning), and a grid of originals over reconstructions.
 */
async function validateAt(v: ValidationContext, step: number): Promise<ValidationFigures> {
  const { o, net, valImages, valClip, metrics, log, watch, collapsedPsnr } = v;
  const dim = o.clip.dim;
  const per = 3 * o.imageSize * o.imageSize;
  const n = v.n;
  const bs = o.batchSize;
  let sum = 0;
  let psnrSum = 0;
  const counts = new Map<number, number>();
  let vqSum = 0;
  let grid = null as Float32Array | null;
  const used = new Set<number>();
  const nGrid = Math.min(o.sampleImages ?? 8, n);
  const fwd = await v.prof.time('validate.open', () => ValidationForward.open(net, v.engine));
  const tRun = v.prof.elapsed();
  try {
    for (let i = 0; i < n; i += bs) {
      const m = Math.min(bs, n - i);
      const x = valImages.subarray(i * per, (i + m) * per);
      const out = await fwd.run(x, valClip.subarray(i * dim, (i + m) * dim), m, o.imageSize, o.loss.kGlobal);
      sum += reconstructionError(x, out.reconstruction, o.loss.recLoss) * m;
      vqSum += out.vqLoss * m;
      for (const id of out.localIds) {
        used.add(id);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      psnrSum += meanPsnr(x, out.reconstruction, m) * m;
      if (i === 0) grid = out.reconstruction;
    }
  } finally {
    await fwd.close();
  }
  v.prof.add('validate.run', v.prof.elapsed() - tRun);
  const valRec = sum / n;
  // Codebook usage: distinct local tokens over the validation images (a collapse shows here first), and
  // the perplexity of their frequencies (the number of equally used codes with the same entropy).
  let total = 0;
  for (const c of counts.values()) total += c;
  let h = 0;
  for (const c of counts.values()) h -= (c / total) * Math.log(c / total);
  const fig: ValidationFigures = { step, valRecLoss: valRec, psnr: psnrSum / n, codesUsed: used.size, perplexity: Math.exp(h) };
  metrics.append({
    step, val_rec_loss: valRec, val_vq_loss: vqSum / n, val_local_tokens_used: used.size, val_perplexity: fig.perplexity,
    val_psnr: fig.psnr, ...(collapsedPsnr !== null ? { val_psnr_collapsed: collapsedPsnr } : {}),
  });
  log(`step ${step}: validation L1 ${valRec.toFixed(4)}, PSNR ${fig.psnr.toFixed(2)} dB (collapsed model: ${collapsedPsnr?.toFixed(2)} dB), ${used.size} local tokens used over ${n} images (perplexity ${fig.perplexity.toFixed(1)})`);
  const warning = watch.check(step, used.size, n);
  if (warning) log(warning);
  if (grid) {
    const originals = fromNCHW(valImages.subarray(0, nGrid * per), [nGrid, 3, o.imageSize, o.imageSize]);
    const recons = fromNCHW(grid.subarray(0, nGrid * per), [nGrid, 3, o.imageSize, o.imageSize]);
    await v.prof.time('validate.png', () => savePng(join(o.out, 'samples', `step-${String(step).padStart(7, '0')}.png`), sideBySide([...originals, ...recons], { columns: nGrid })));
  }
  return fig;
}

/** One training run per output folder (util/run-lock: a live run refused naming its pid, a killed one's lock taken over). */
export async function train(o: TrainOptions): Promise<TrainResult> {
  mkdirSync(o.out, { recursive: true });
  const lock = RunLock.acquire(join(o.out, 'train.lock'), `${o.out} (a training run)`);
  try {
    return await trainLocked(o);
  } finally {
    lock.release();
  }
}

async function trainLocked(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? (() => {});
  const prof = new LoopProfile();
  const stopAfter = Math.min(o.stopAfter ?? o.steps, o.steps);
  mkdirSync(o.out, { recursive: true });
  if (o.trainFiles.length < o.batchSize) throw new Error(`training data: ${o.trainFiles.length} images are fewer than one batch of ${o.batchSize}`);
  if (o.clip.dim !== o.network.embedDim) throw new Error(`CLIP ${o.clip.id} gives ${o.clip.dim}-d embeddings, the network's embedding width is ${o.network.embedDim}`);

  // Files given by the user are read first, so a bad path fails before any long computation.
  const lpips = o.lpips ? await loadLpips(o.lpips) : null;

  // Frozen CLIP embeddings, once (cached on disk across runs).
  const cache = new ClipEmbeddingCache(o.clipCacheDir, o.clip);
  const onProgress = o.progress ? (e: Parameters<ProgressReporter['update']>[0]) => o.progress!.update(e) : undefined;
  const trainClip = await cache.embedFiles(o.trainFiles, { onProgress });
  const valFiles = o.valFiles.slice(0, o.valImages ?? o.valFiles.length);
  const valClip = valFiles.length ? await cache.embedFiles(valFiles, { onProgress }) : new Float32Array(0);
  o.progress?.stop();
  const dim = o.clip.dim;

  // The model: seeded init, codebooks, then (on resume) the checkpoint.
  const net = new NetworkParams(o.network, { seed: o.seed });
  if (o.codebook) net.setCodebooks({ local: o.codebook.local, global: o.codebook.global });
  const replica = new Replica(net, lpips, o.loss, o.optim, o.microBatch ?? 0);
  replica.trackCodeMeans = o.reseed?.kmeans === true && o.reseed.every > 0;
  const fingerprint = dataFingerprint(o.trainFiles);
  const metrics = new MetricsLog(join(o.out, 'metrics.jsonl'));
  const start = resumeOrStart(o, net, replica, fingerprint, metrics, log);

  // Validation and re-seeding's sessions sleep between runs, as the step's do (the CPU goes to the step and the JS work).
  const engine: OnnxEngineOptions = { device: o.device, threads: o.engineThreads, spinning: false };
  const runner = new OnnxRunner(replica, o.imageSize, o.microBatch ?? 0, engine, o.workers ?? 1);

  const sampler = new BatchSampler(o.trainFiles.length, o.batchSize, o.seed);
  const decode = makeDecoder(o.imageSize, o.preprocess);
  const loader = new PrefetchLoader(o.trainFiles, sampler, decode, o.imageSize, o.prefetch ?? 2);
  const valImages = valFiles.length ? await loadAll(valFiles, decode, o.imageSize) : null;
  const collapsedPsnr = valImages ? await collapsedModelPsnr(o.trainFiles, valImages, valFiles.length, decode, o.imageSize) : null;
  const watch = new CollapseWatch(o.network.nLocal, valFiles.length * (o.imageSize / 2 ** (o.network.chMult.length - 1)) ** 2);
  let lastFigures: ValidationFigures | null = null;

  const checkpoint = (step: number): string => {
    const opt = replica.optimizerState();
    // The k-means step's running sums travel with the optimiser state (exact resume between re-seeds).
    if (replica.zSums) opt.tensors.set(Z_SUMS_KEY, { dtype: 'F32', shape: [o.network.nLocal, o.network.embedDim], data: replica.zSums.slice() });
    return saveCheckpoint(o.out, {
      step,
      extra: { codeUsage: sparseUsage(replica.usage), seed: o.seed, data: fingerprint, dataRng: sampler.rngStateAt(step), epoch: sampler.epochOf(step), batchSize: o.batchSize, microBatch: o.microBatch ?? 0, workers: o.workers ?? 1, graphBatch: graphBatch(o.batchSize, o.microBatch ?? 0, o.workers ?? 1), engine: 'onnx', device: o.device ?? 'cpu', optimizerLayout: 'reference', steps: o.steps, optimizerSteps: opt.steps, loss: o.loss, optim: o.optim, imageSize: o.imageSize, preprocess: o.preprocess },
    }, net.stateDict(), opt.tensors, net.config, o.keepLast);
  };

  const validate = async (step: number): Promise<number | null> => {
    if (!valImages) return null;
    lastFigures = await prof.time('validate', () => validateAt({ o, net, valImages, valClip, n: valFiles.length, metrics, log, watch, collapsedPsnr, engine, prof }, step));
    return lastFigures.valRecLoss;
  };

  writeJsonAtomic(join(o.out, 'run.json'), {
    network: net.config, imageSize: o.imageSize, preprocess: o.preprocess, batchSize: o.batchSize, steps: o.steps, seed: o.seed,
    loss: o.loss, optim: o.optim, engine: 'onnx', device: o.device ?? 'cpu',
    clip: { id: o.clip.id, fingerprint: o.clip.fingerprint, standIn: o.clip.isStandIn },
    codebook: o.codebook?.source ?? 'random stand-in codebooks (seeded; not an LLM vocabulary)',
    lpips: o.lpips ? { backbone: o.lpips.backbone, weights: o.lpips.backboneWeights, heads: o.lpips.heads, standIn: o.lpips.backboneWeights === 'stand-in' } : null,
    trainImages: o.trainFiles.length, valImages: valFiles.length, data: fingerprint,
  });

  let lastCkpt = '';
  let firstVal: number | null = null;
  let lastVal: number | null = null;
  prof.add('setup', prof.elapsed());
  if (start === 0 && o.valEvery > 0) firstVal = lastVal = await validate(0);
  const t0 = Date.now();
  let images = 0;
  let step = start;
  // The `far` and `split` targets' nearest-centre search on onnxruntime (exactly the JavaScript scan's answer).
  const centres = o.reseed && o.reseed.every > 0 && (o.reseed.targets === 'far' || o.reseed.targets === 'split') ? await CentreSearch.open(o.network.embedDim, engine) : null;
  try {
    while (step < stopAfter) {
      const batch = await prof.time('data', () => loader.get(step, stopAfter));
      const clip = gatherRows(trainClip, dim, batch.indices);
      // The extra images of a re-seed after this step (drawn by seed and step) decode while the step runs.
      const extra = reseedsAt(o, step + 1) ? extraReseedImages(o, batch.indices.length, decode, step + 1) : null;
      const r = await prof.time('step', () => runner.step(batch.images, clip, batch.indices.length, step));
      step++;
      if (o.reseed && extra) {
        // Seeded by (seed, step), so a resumed run draws the same targets.
        const policy = o.reseed;
        const before = prof.get('reseed.images') + prof.get('reseed.encoder') + prof.get('reseed.math');
        const pool = await prof.time('reseed.images', async () => withExtra(batch.images, batch.indices.length, await extra));
        const z = await prof.time('reseed.encoder', () => encoderRows(net, pool.images, pool.n, o.imageSize, engine));
        const rs = await prof.time('reseed.math', () => reseed(net, replica.takeUsage(), z, new Rng((Math.imul(o.seed + 1, 0x9e3779b1) ^ step) >>> 0), policy, centres));
        if (!o.reseed.kmeans) replica.zSums = null;
        prof.add('reseed', prof.get('reseed.images') + prof.get('reseed.encoder') + prof.get('reseed.math') - before);
        metrics.append({ step, reseeded_codes: rs.reseeded, dead_codes: rs.dead });
      }
      images += batch.indices.length;
      const ips = images / Math.max(1e-3, (Date.now() - t0) / 1000);
      metrics.append({ step, ...r.terms, lr: r.lr, ...(r.gradNorm !== undefined ? { grad_norm: r.gradNorm } : {}), images_per_s: ips });
      o.progress?.update({ stage: 'train', done: step, total: stopAfter, info: { loss: r.terms.loss, rec: r.terms.rec_loss, vq: r.terms.vq_loss, ...(r.terms.g_loss !== undefined ? { g: r.terms.g_loss, d: r.terms.d_loss } : {}), lr: r.lr, 'img/s': ips.toFixed(1) } });
      const stopping = o.shouldStop?.() ?? false;
      if (o.valEvery > 0 && (step % o.valEvery === 0 || step === o.steps)) {
        const v = await validate(step);
        if (firstVal === null) firstVal = v;
        lastVal = v;
      }
      if ((o.checkpointEvery > 0 && step % o.checkpointEvery === 0) || step === stopAfter || stopping) lastCkpt = await prof.time('checkpoint', () => checkpoint(step));
      if (stopping) {
        log(`stopped at step ${step}; continue with --resume`);
        break;
      }
    }
  } finally {
    o.progress?.stop();
    await runner.close();
    await centres?.close();
  }
  if (!lastCkpt) lastCkpt = resolveCheckpoint(o.out) ?? checkpoint(step);
  const curves = join(o.out, 'loss-curves.png');
  await prof.time('plot', () => plotLossCurves(readMetrics(metrics.path), curves, `v2l train (${o.out})`));
  const ips = images / Math.max(1e-3, (Date.now() - t0) / 1000);
  if (o.profileLoop) for (const line of prof.report(images)) log(line);
  // The run's first validation (step 0), also when this process resumed it.
  const vals = readMetrics(metrics.path).filter((r) => typeof r.val_rec_loss === 'number');
  if (vals.length) firstVal = vals[0].val_rec_loss as number;
  return { step, checkpoint: lastCkpt, firstValRecLoss: firstVal, lastValRecLoss: lastVal, imagesPerSecond: ips, curves, lastValidation: lastFigures, collapsedPsnr };
}

const Z_SUMS_KEY = 'optimizer.reseed.z_sums';

/** Whether dead codes are re-seeded after `step` steps. */
function reseedsAt(o: TrainOptions, step: number): boolean {
  return o.reseed !== undefined && o.reseed.every > 0 && step % o.reseed.every === 0 && step <= o.reseed.until;
}

/**
 * The training images, beyond the batch of n, whose encoder outputs re-seeding after `step` steps draws
 * from: up to `reseed.images` in all, drawn by (seed, step) (a resumed run draws the same): 8 images are too
 * few for targets that must stand for the whole data. Decoded images [extra, 3, size, size].
 */
function extraReseedImages(o: TrainOptions, n: number, decode: DecodeImage, step: number): Promise<Float32Array> {
  const extra = Math.max(0, (o.reseed?.images ?? n) - n);
  const rng = new Rng((Math.imul(o.seed + 7, 0x85ebca6b) ^ step) >>> 0);
  const files = Array.from({ length: extra }, () => o.trainFiles[Math.floor(rng.uniform() * o.trainFiles.length)]);
  const p = loadAll(files, decode, o.imageSize);
  p.catch(() => {}); // surfaced where awaited; no unhandled rejection while the step runs
  return p;
}

/** The batch's n images followed by the extra ones: the images re-seeding encodes. */
function withExtra(images: Float32Array, n: number, more: Float32Array): { images: Float32Array; n: number } {
  if (!more.length) return { images, n };
  const all = new Float32Array(images.length + more.length);
  all.set(images);
  all.set(more, images.length);
  return { images: all, n: n + more.length / (images.length / n) };
}

function sparseUsage(u: Float64Array): [number, number][] {
  const out: [number, number][] = [];
  u.forEach((c, id) => { if (c > 0) out.push([id, c]); });
  return out;
}

/**
 * Re-seeds the dead codes of `usage` from encoder outputs z [m, dim] (the current batch's), k-means step with
 * `zSums` (see ./reseed.ts); the projector's weight is updated in place.
 */
async function reseed(net: NetworkParams, { usage, zSums }: { usage: Float64Array; zSums: Float32Array | null }, z: Float32Array, rng: Rng,
  policy: { minUsage?: number; targets?: 'uniform' | 'far' | 'split' }, centres: CentreSearch | null) {
  const dim = net.config.embedDim;
  const wRef = net.get('codebook_projection.weight'); // [out, in]
  const w = permuteLayout(wRef, [dim, dim], 'linear', 'toInternal'); // [in, out]: code = e w + b
  const nearest = centres ? (q: CentreQuery): Promise<NearestCentres> => centres.nearest(q) : undefined;
  const r = await reseedDeadCodesWith(nearest, w, net.get('codebook_projection.bias'), net.get('tok_embeddings.weight'), usage, z, dim, () => rng.uniform(), {
    ...(zSums ? { means: zSums } : {}), unit: net.config.cosineCodes === true, minUsage: policy.minUsage, targets: policy.targets,
  });
  wRef.set(permuteLayout(w, [dim, dim], 'linear', 'toReference'));
  return r;
}

async function loadAll(files: readonly string[], decode: DecodeImage, size: number): Promise<Float32Array> {
  const per = 3 * size * size;
  const out = new Float32Array(files.length * per);
  const chw = await Promise.all(files.map((f) => decode(f)));
  chw.forEach((a, i) => out.set(a, i * per));
  return out;
}
