// `v2l eval reconstruction` (the paper's Table 3): images -> tokens -> images, scored with FID, LPIPS,
// PSNR and SSIM. Reference protocol (eval_reconstruction.py, tasks-spec.md §5): short side 256 + centre
// crop 256, [-1, 1]; forward with k = 21 global tokens; LPIPS on the unclamped reconstruction; then the
// reconstruction clamped to [-1, 1] and both mapped to [0, 1] floats (no 8-bit rounding) for PSNR (BT.601
// Y as pyiqa; RGB also reported), SSIM (piq) and FID (pytorch-fid Inception pool3 statistics of the
// originals vs the reconstructions). Node edge.
import { join, resolve } from 'node:path';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { downFactor } from '../network/config.js';
import { loadImage } from '../image/load.js';
import { preprocessOne } from '../image/preprocess.js';
import type { RawImage } from '../models/clip/types.js';
import { listEvalImages, selectionKey } from './images.js';
import { sha256, sha256File } from '../util/hash.js';
import { loadEvalLpips, type EvalLpips } from './lpips-alexnet.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { psnr, psnrY, ssim } from './image-metrics.js';
import { frechetDetail, FeatureStats } from './fid.js';
import { loadInception, type FeatureNet } from './inception.js';
import { addSum, mean, newState, resumeOrStart, withOutputFolder, saveState, isDone, type EvalState, type EvalRunOptions, type Shard } from './run-state.js';
import { TABLE3 } from './paper.js';
import { markdownTable, writeBarChart } from './chart.js';

/** LPIPS input range: 'correct' feeds [-1, 1] images; 'reference' reproduces pyiqa's double mapping (net sees 2v - 1 of [-1, 1] inputs). */
export type LpipsProtocol = 'correct' | 'reference';

export interface ReconstructionOptions extends EvalRunOptions {
  checkpoint: string;
  codebook?: string;
  /** CLIP folder (Hugging Face ONNX layout). */
  clip: string;
  /** A folder of images or a list file. */
  images: string;
  out: string;
  /** Inception ONNX (pytorch-fid weights) or 'stand-in'. */
  inception: string;
  /** torchvision AlexNet weights: state dict (.pth / .safetensors), an ONNX export, or 'stand-in'. */
  lpipsBackbone: string;
  /** LPIPS v0.1 alex heads (.pth or .json). */
  lpipsHeads: string;
  lpipsProtocol?: LpipsProtocol;
  /** Side of the square input (default 256, the reference's evaluation). */
  imageSize?: number;
  /** Global tokens (default 21). */
  globalTokens?: number;
  limit?: number;
}

export interface ReconstructionResult {
  table: 'Table 3: reconstruction';
  images: { selected: number; evaluated: number; failed: number };
  failures: { source: string; error: string }[];
  tokensPerImage: number;
  imageSize: number;
  globalTokens: number;
  fid: number | null;
  fidError?: string;
  lpips: number;
  lpipsProtocol: LpipsProtocol;
  psnrY: number;
  psnrRgb: number;
  ssim: number;
  standIns: string[];
  meaningless: boolean;
  shard?: Shard;
  merged?: number[];
  settings: Record<string, unknown>;
}

const log0 = (): void => {};

/**
 * Notes on the evaluation's image size and global tokens against the checkpoint's: a value told that
 * differs from what the checkpoint was trained with, or a default taken because the checkpoint does
 * not say.
 */
export function trainedDifferences(tok: V2LTokenizer, told: { imageSize?: number; globalTokens?: number }): string[] {
  const out: string[] = [];
  const w = tok.weights;
  if (told.imageSize !== undefined && w.imageSize !== undefined && told.imageSize !== w.imageSize) {
    out.push(`note: evaluating at ${told.imageSize} px (--image-size); ${w.path} was trained at ${w.imageSize} px, so its figures are not the checkpoint's own (the reference protocol uses 256 px)`);
  }
  if (told.imageSize === undefined && w.imageSize === undefined) out.push(`note: ${w.path} does not record its image size: ${tok.imageSize} px assumed (--image-size)`);
  if (told.globalTokens !== undefined && w.globalTokens !== undefined && told.globalTokens !== w.globalTokens) {
    out.push(`note: ${told.globalTokens} global tokens per image (--global-tokens); ${w.path} was trained with ${w.globalTokens}`);
  }
  if (told.globalTokens === undefined && w.globalTokens === undefined) out.push(`note: ${w.path} does not record its global-token count: ${tok.globalTokens} assumed (--global-tokens)`);
  return out;
}

/** The STAND-IN Inception, built on demand (onnx-proto loaded only then), or the network told. */
async function inceptionOf(spec: string): Promise<FeatureNet> {
  return spec === 'stand-in' ? (await import('./stand-in-inception.js')).loadStandInInception({ seed: 0, dim: 2048 }) : loadInception(spec);
}

/** Runs (or resumes) the reconstruction evaluation; writes the state and, when the shard is done, the outputs. */
/** One run at a time per output folder, nothing left by a refused run (./run-state.ts `withOutputFolder`), then the evaluation. */
export async function evaluateReconstruction(o: ReconstructionOptions): Promise<ReconstructionResult> {
  return withOutputFolder(resolve(o.out), () => evaluateReconstructionLocked(o));
}

async function evaluateReconstructionLocked(o: ReconstructionOptions): Promise<ReconstructionResult> {
  const log = o.log ?? log0;
  const out = resolve(o.out);
  const all = listEvalImages(o.images);
  const selected = o.limit ? all.slice(0, o.limit) : all;
  if (selected.length < 2) throw new Error(`FID needs at least 2 images; ${o.images} gives ${selected.length}${o.limit ? ` (--limit ${o.limit})` : ''}`);
  const batchSize = o.batchSize ?? 8;
  const protocol = o.lpipsProtocol ?? 'correct';
  // Image size and global tokens: as told, else the checkpoint's (a network evaluated at a size it was
  // not trained at measures something else). The network runs on the tokenizer's ONNX engine, whose
  // decoder gives float output: the metrics see the unrounded reconstruction. LPIPS runs on onnxruntime too.
  const tok = await V2LTokenizer.load({ checkpoint: o.checkpoint, codebook: o.codebook, clip: o.clip, globalTokens: o.globalTokens, imageSize: o.imageSize, batchSize });
  const imageSize = tok.imageSize;
  const k = tok.globalTokens;
  for (const line of trainedDifferences(tok, o)) log(line);
  const inception: FeatureNet = await inceptionOf(o.inception);
  const lpips: EvalLpips = await loadEvalLpips(o.lpipsBackbone, o.lpipsHeads);
  try {
    const standIns = [
      ...(tok.clip?.isStandIn ? ['CLIP'] : []),
      ...(inception.isStandIn ? ['Inception'] : []),
      ...(lpips.standIn ? ['LPIPS AlexNet'] : []),
    ];
    if (standIns.length) log(`STAND-IN ${standIns.join(', ')}: the figures of this run are meaningless (they only exercise the computation)`);
    const settings = {
      images: selectionKey(o.images, selected),
      // Contents, not paths: shards run on other machines (other mount points) must still merge.
      checkpoint: sha256File(o.checkpoint), codebook: tok.codebook ? sha256(JSON.stringify(tok.codebook.manifest.files ?? null)) : null, clip: tok.clip?.fingerprint,
      inception: inception.fingerprint, lpips: { backbone: o.lpipsBackbone === 'stand-in' ? 'stand-in' : sha256File(o.lpipsBackbone), heads: sha256File(o.lpipsHeads), protocol },
      imageSize, globalTokens: k, batchSize, standIns,
    };
    const fresh = newState('reconstruction', settings, selected.length, batchSize, o.shard ?? { index: 0, count: 1 });
    const { state, resumed } = resumeOrStart(out, fresh, { restart: o.fresh });
    if (resumed) log(`resuming ${out}: ${state.next - state.start} of ${state.end - state.start} batches done`);
    if (!state.stats.has('real')) {
      state.stats.set('real', new FeatureStats(inception.dim));
      state.stats.set('fake', new FeatureStats(inception.dim));
    }
    const tokensPerImage = k + (imageSize / downFactor(tok.config)) ** 2;
    state.extra.tokensPerImage = tokensPerImage;
    let lastSave = Date.now();
    const saveEvery = (o.saveEvery ?? 30) * 1000;
    const totalImages = Math.min(state.end * batchSize, selected.length) - state.start * batchSize;
    while (!isDone(state)) {
      const b = state.next;
      const paths = selected.slice(b * batchSize, (b + 1) * batchSize);
      await runBatch(paths, { tok, inception, lpips, protocol, imageSize, k, state });
      state.next = b + 1;
      if (isDone(state) || Date.now() - lastSave >= saveEvery) {
        saveState(out, state);
        lastSave = Date.now();
      }
      const done = Math.min(state.next * batchSize, selected.length) - state.start * batchSize;
      o.onProgress?.({ stage: 'reconstruction', done, total: totalImages, info: { lpips: mean(state.sums, 'lpips'), psnr: mean(state.sums, 'psnrY'), failed: state.failures.length } });
    }
    const result = summarizeReconstruction(state);
    await writeReconstructionOutputs(out, result);
    return result;
  } finally {
    await lpips.dispose();
    await inception.dispose();
    await tok.dispose();
  }
}

interface BatchContext {
  tok: V2LTokenizer;
  inception: FeatureNet;
  lpips: EvalLpips;
  protocol: LpipsProtocol;
  imageSize: number;
  k: number;
  state: EvalState;
}

async function runBatch(paths: readonly string[], c: BatchContext): Promise<void> {
  const { tok, state, imageSize: S } = c;
  const loaded: { source: string; raw: RawImage; x: Float32Array }[] = [];
  for (const source of paths) {
    try {
      const raw = await loadImage(source);
      loaded.push({ source, raw, x: preprocessOne(raw, { size: S, mode: 'simple' }) });
    } catch (e) {
      state.failures.push({ source, error: (e as Error).message });
    }
  }
  if (!loaded.length) return;
  const n = loaded.length;
  const per = 3 * S * S;
  const clipEmb = await tok.clip!.embedImages(loaded.map((l) => l.raw));
  const batch = new Float32Array(n * per);
  loaded.forEach((l, i) => batch.set(l.x, i * per));
  // encoder -> local and global tokens -> decoder, on the engine: the float reconstruction, NCHW in [-1, 1] (unclamped).
  const yData = (await tok.engine.tokenizeBatch(batch, n, S, clipEmb, c.k, true)).reconstruction!;
  // LPIPS: the reference passes [-1, 1] tensors (y unclamped) to pyiqa, which maps v -> 2v - 1 again.
  const lpData = c.protocol === 'reference'
    ? await c.lpips.distance(batch.map((v) => 2 * v - 1), yData.map((v) => 2 * v - 1), n, S, S)
    : await c.lpips.distance(batch, yData.map((v) => Math.min(1, Math.max(-1, v))), n, S, S);
  const real: Float32Array[] = [];
  const fake: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const x01 = Float32Array.from(batch.subarray(i * per, (i + 1) * per), (v) => (v + 1) / 2);
    const y01 = Float32Array.from(yData.subarray(i * per, (i + 1) * per), (v) => (Math.min(1, Math.max(-1, v)) + 1) / 2);
    const a = { shape: [3, S, S], data: x01 };
    const b = { shape: [3, S, S], data: y01 };
    addSum(state.sums, 'lpips', lpData[i]);
    addSum(state.sums, 'psnrY', psnrY(a, b));
    addSum(state.sums, 'psnrRgb', psnr(a, b));
    addSum(state.sums, 'ssim', ssim(a, b));
    real.push(x01);
    fake.push(y01);
  }
  state.stats.get('real')!.add(await c.inception.features(real, S, S), n);
  state.stats.get('fake')!.add(await c.inception.features(fake, S, S), n);
}

/** The Table 3 figures of a (finished or merged) state. */
export function summarizeReconstruction(state: EvalState): ReconstructionResult {
  const s = state.settings as { imageSize: number; globalTokens: number; standIns: string[]; lpips: { protocol: LpipsProtocol } };
  const real = state.stats.get('real');
  const fake = state.stats.get('fake');
  let fid: number | null = null;
  let fidError: string | undefined;
  try {
    if (!real || !fake) throw new Error('no feature statistics');
    fid = frechetDetail(real, fake).fid;
  } catch (e) {
    fidError = (e as Error).message;
  }
  const evaluated = state.sums.lpips?.count ?? 0;
  const partial = state.shard.count > 1 && !state.merged;
  return {
    table: 'Table 3: reconstruction',
    images: { selected: partial ? Math.min(state.end * state.batchSize, state.images) - state.start * state.batchSize : state.images, evaluated, failed: state.failures.length },
    failures: state.failures,
    tokensPerImage: state.extra.tokensPerImage,
    imageSize: s.imageSize,
    globalTokens: s.globalTokens,
    fid, ...(fidError ? { fidError } : {}),
    lpips: mean(state.sums, 'lpips'),
    lpipsProtocol: s.lpips.protocol,
    psnrY: mean(state.sums, 'psnrY'),
    psnrRgb: mean(state.sums, 'psnrRgb'),
    ssim: mean(state.sums, 'ssim'),
    standIns: s.standIns,
    meaningless: s.standIns.length > 0,
    ...(partial ? { shard: state.shard } : {}),
    ...(state.merged ? { merged: state.merged } : {}),
    settings: state.settings,
  };
}

export function reconstructionMarkdown(r: ReconstructionResult): string {
  const warn = r.meaningless ? `\n> **STAND-IN ${r.standIns.join(', ')}: our figures below are meaningless** (random-weight networks; they only show that the computation runs).\n` : '';
  const partial = r.shard ? `\n> Shard ${r.shard.index}/${r.shard.count} only: FID over a part is not the FID of the whole; merge the shards (\`v2l eval merge\`).\n` : '';
  const rows: (string | number)[][] = TABLE3.map((p) => [`${p.method} (paper)`, p.tokens, p.fid, p.lpips, p.psnr, '-']);
  rows.push([`**ours**${r.meaningless ? ' (stand-ins: meaningless)' : ''}`, r.tokensPerImage, r.fid ?? NaN, r.lpips, r.psnrY, r.ssim]);
  const fails = r.failures.length
    ? `\n**${r.failures.length} unreadable image(s), not scored:**\n${r.failures.slice(0, 50).map((f) => `- ${f.source}: ${f.error}`).join('\n')}${r.failures.length > 50 ? `\n- ... (${r.failures.length - 50} more in reconstruction.json)` : ''}\n`
    : '';
  return `# Table 3: reconstruction\n${warn}${partial}
${markdownTable(['method', 'tokens', 'FID', 'LPIPS', 'PSNR', 'SSIM'], rows)}

Ours: ${r.images.evaluated} of ${r.images.selected} images at ${r.imageSize} px, ${r.globalTokens} global tokens; LPIPS protocol "${r.lpipsProtocol}"; PSNR on BT.601 Y (RGB: ${r.psnrRgb.toFixed(2)} dB).${r.fidError ? ` FID: ${r.fidError}.` : ''}
The paper evaluates 50,000 ImageNet val images at 128 px (277 tokens); the reference code at 256 px.
${fails}`;
}

export async function writeReconstructionOutputs(out: string, r: ReconstructionResult): Promise<void> {
  writeJsonAtomic(join(out, 'reconstruction.json'), r);
  writeFileAtomic(join(out, 'table3.md'), reconstructionMarkdown(r));
  await writeBarChart(join(out, 'table3.png'), 'Table 3: reconstruction, ours (red) vs the paper (blue)', [
    { metric: 'FID', note: 'lower is better', bars: [...TABLE3.map((p) => ({ label: p.short, value: p.fid })), { label: `ours ${r.tokensPerImage}`, value: r.fid ?? NaN, ours: true }] },
    { metric: 'LPIPS', note: 'lower is better', bars: [...TABLE3.map((p) => ({ label: p.short, value: p.lpips })), { label: `ours ${r.tokensPerImage}`, value: r.lpips, ours: true }] },
    { metric: 'PSNR (dB)', note: 'higher is better', bars: [...TABLE3.map((p) => ({ label: p.short, value: p.psnr })), { label: `ours ${r.tokensPerImage}`, value: r.psnrY, ours: true }] },
  ], r.meaningless ? `STAND-IN ${r.standIns.join(', ')}: our bars are meaningless` : r.shard ? 'one shard only: merge for the real figures' : undefined);
}
