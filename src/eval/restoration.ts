// `v2l eval restoration` (the paper's Table 4): FID and LPIPS of the five in-context restoration tasks.
// The restoration itself is src/tasks/restore's `restoreToDir` (the `v2l restore` library; resumable by
// its records): per task, every image of the selection is restored into `<out>/<task>/`. This file scores
// what it wrote (panel 1 = the clean crop, panel 3 = the restored image of each `<stem>.png`) in batches
// with the same resumable state, shards and merge as the other evaluations: FID (clean crops vs restored,
// pytorch-fid features), LPIPS in both protocols, PSNR-Y and SSIM (computed, not in the paper's table).
//
// Difference from the reference (tasks-spec.md §3): the restore library hands back 8-bit images, so the
// restored image is already clamped and rounded; the reference scores float outputs and its LPIPS sees the
// unclamped output. `lpipsReference` applies the reference's input mapping (v -> 2v - 1 of [-1, 1] images)
// to the clamped image: an approximation of the paper's LPIPS, stated in the outputs. Node edge.
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { sha256File } from '../util/hash.js';
import { selectionKey } from './images.js';
import type { V2LTokenizer } from '../tokenizer/tokenizer.js';
import type { LLM } from '../models/llm/types.js';
import type { ImageTokenProvider } from '../tasks/image-tokens.js';
import { restoreNotes } from '../tasks/restore/summary.js';
import { restoreToDir, outputStem, type RestoreProtocol, type RestoreTask, type RestoreRecord } from '../tasks/restore/run.js';
import { loadImage } from '../image/load.js';
import type { RawImage } from '../models/clip/types.js';
import { loadEvalLpips, type EvalLpips } from './lpips-alexnet.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { psnrY, ssim } from './image-metrics.js';
import { frechetDetail, FeatureStats } from './fid.js';
import { loadInception, type FeatureNet } from './inception.js';
import { addSum, mean, newState, resumeOrStart, withOutputFolder, saveState, isDone, shardBatches, type EvalState, type EvalRunOptions, type Failure, type Shard } from './run-state.js';
import { TABLE4, TABLE4_TASKS } from './paper.js';
import { markdownTable, writeBarChart } from './chart.js';

/** Table 4's column names -> the restore library's task names. */
export const TASK_OF: Record<(typeof TABLE4_TASKS)[number], RestoreTask> = {
  inpainting: 'inpaint', outpainting: 'outpaint', deblurring: 'deblur', rotation: 'rotate', shift: 'shift',
} as Record<(typeof TABLE4_TASKS)[number], RestoreTask>;

export const LPIPS_8BIT_NOTE = 'the restore library returns 8-bit images: the restored image is clamped and rounded before scoring; "LPIPS (reference)" applies the reference\'s input mapping to it, approximating the paper\'s LPIPS (which sees the unclamped output)';

export interface RestorationEvalOptions extends EvalRunOptions {
  tokenizer: V2LTokenizer;
  llm: LLM;
  /** Global tokens of the original files (the reference protocol). */
  globalTokensOf?: ImageTokenProvider;
  images: readonly string[];
  /** The folder or list the images came from: keys the selection by relative paths (shards on other machines merge). */
  imagesSource?: string;
  contextImages?: readonly string[];
  /** Table 4 columns to run (default all five). */
  tasks?: readonly (typeof TABLE4_TASKS)[number][];
  protocol?: RestoreProtocol;
  restore?: { m?: number; n?: number; copies?: number; seed?: number; batch?: number; globalTokens?: number };
  out: string;
  inception: string;
  lpipsBackbone: string;
  lpipsHeads: string;
  /** Identifies the tokenizer and the LLM in the settings (resume and merge refuse others). */
  settingsExtra?: Record<string, unknown>;
}

export interface RestorationTaskResult {
  task: (typeof TABLE4_TASKS)[number];
  evaluated: number;
  fid: number | null;
  fidError?: string;
  lpips: number;
  lpipsReference: number;
  psnrY: number;
  ssim: number;
}

export interface RestorationResult {
  table: 'Table 4: in-context restoration';
  protocol: RestoreProtocol;
  llm: string;
  images: { selected: number };
  tasks: RestorationTaskResult[];
  failures: (Failure & { task: string })[];
  notes: string[];
  standIns: string[];
  meaningless: boolean;
  shard?: Shard;
  merged?: number[];
  settings: Record<string, unknown>;
}

/** Panel k of a `sideBySide` row of equal-sized panels with a 2-px gap. */
export function panel(img: RawImage, k: number, count: number, gap = 2): Float32Array {
  const w = (img.width - (count - 1) * gap) / count;
  if (!Number.isInteger(w)) throw new Error(`a ${img.width}-px row is not ${count} equal panels`);
  const h = img.height;
  const c = img.channels;
  const out = new Float32Array(3 * h * w);
  const x0 = k * (w + gap);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * img.width + x0 + x) * c;
      for (let ch = 0; ch < 3; ch++) out[ch * h * w + y * w + x] = img.data[p + (c >= 3 ? ch : 0)] / 255;
    }
  }
  return out;
}

/** One run at a time per output folder, nothing left by a refused run (./run-state.ts `withOutputFolder`), then the evaluation. */
export async function evaluateRestoration(o: RestorationEvalOptions): Promise<RestorationResult> {
  return withOutputFolder(resolve(o.out), () => evaluateRestorationLocked(o));
}

async function evaluateRestorationLocked(o: RestorationEvalOptions): Promise<RestorationResult> {
  const log = o.log ?? ((): void => {});
  const out = resolve(o.out);
  if (o.images.length < 2) throw new Error(`FID needs at least 2 images; the selection has ${o.images.length}`);
  const tasks = [...(o.tasks ?? TABLE4_TASKS)];
  const protocol = o.protocol ?? 'reference';
  const batchSize = o.batchSize ?? 8;
  const shard = o.shard ?? { index: 0, count: 1 };
  const { start, end } = shardBatches(Math.ceil(o.images.length / batchSize), shard);
  const mine = o.images.slice(start * batchSize, end * batchSize);
  const inception: FeatureNet = o.inception === 'stand-in'
    ? await (await import('./stand-in-inception.js')).loadStandInInception({ dim: 2048 })
    : await loadInception(o.inception);
  const lpips: EvalLpips = await loadEvalLpips(o.lpipsBackbone, o.lpipsHeads);
  try {
    const standIns = [...(o.tokenizer.clip?.isStandIn ? ['CLIP'] : []), ...(inception.isStandIn ? ['Inception'] : []), ...(lpips.standIn ? ['LPIPS AlexNet'] : [])];
    const settings = {
      images: o.imagesSource ? selectionKey(o.imagesSource, o.images) : { count: o.images.length, sha256: createHash('sha256').update(o.images.join('\n')).digest('hex') },
      tasks, protocol, restore: o.restore ?? {}, llm: o.llm.id, inception: inception.fingerprint,
      lpips: { backbone: o.lpipsBackbone === 'stand-in' ? 'stand-in' : sha256File(o.lpipsBackbone), heads: sha256File(o.lpipsHeads) },
      batchSize, standIns, ...o.settingsExtra,
    };
    const fresh = newState('restoration', settings, o.images.length, batchSize, shard);
    const { state, resumed } = resumeOrStart(out, fresh, { restart: o.fresh });
    if (resumed) log(`resuming the scoring in ${out}: ${state.next - state.start} of ${state.end - state.start} batches done`);
    // 1. Restoration (the restore library; resumable by its records).
    const records = new Map<string, RestoreRecord[]>();
    for (const t of tasks) {
      log(`restoration: ${t} of ${mine.length} images (${protocol} protocol)`);
      const totals = await restoreToDir({
        task: TASK_OF[t], protocol, tokenizer: o.tokenizer, llm: o.llm, images: mine, contextImages: protocol === 'clean' ? o.contextImages : [],
        ...o.restore, globalTokensOf: o.globalTokensOf, outDir: join(out, t), fresh: o.fresh,
        configExtra: { llm: o.llm.id, ...o.settingsExtra },
        onImage: (_r, done, total) => o.onProgress?.({ stage: `restore ${t}`, done, total }),
      });
      records.set(t, totals.records);
    }
    // 2. Scoring, batch by batch over the shard's images.
    for (const t of tasks) {
      if (!state.stats.has(`${t}.real`)) {
        state.stats.set(`${t}.real`, new FeatureStats(inception.dim));
        state.stats.set(`${t}.fake`, new FeatureStats(inception.dim));
      }
    }
    let lastSave = Date.now();
    while (!isDone(state)) {
      const b = state.next;
      for (const t of tasks) {
        const byIndex = new Map(records.get(t)!.map((r) => [r.index, r]));
        const real: Float32Array[] = [];
        const fake: Float32Array[] = [];
        let size = 0;
        for (let i = b * batchSize; i < Math.min((b + 1) * batchSize, o.images.length); i++) {
          const local = i - start * batchSize;
          const source = o.images[i];
          const rec = byIndex.get(local);
          const png = join(out, t, `${outputStem(local, source)}.png`);
          if (!rec || rec.status !== 'ok' || !existsSync(png)) {
            state.failures.push({ source, error: `${t}: ${rec?.error ?? 'no restored image'}`, task: t } as Failure);
            continue;
          }
          const row = await loadImage(png);
          const x = panel(row, 0, 4);
          const y = panel(row, 2, 4);
          size = Math.round(Math.sqrt(x.length / 3));
          real.push(x);
          fake.push(y);
        }
        if (!real.length) continue;
        const n = real.length;
        const S = size;
        const xs = concat(real).map((v) => 2 * v - 1);
        const ys = concat(fake).map((v) => 2 * v - 1);
        const [lc, lr] = [await lpips.distance(xs, ys, n, S, S), await lpips.distance(xs.map((v) => 2 * v - 1), ys.map((v) => 2 * v - 1), n, S, S)];
        for (let i = 0; i < n; i++) {
          const a = { shape: [3, S, S], data: real[i] };
          const c = { shape: [3, S, S], data: fake[i] };
          addSum(state.sums, `${t}.lpips`, lc[i]);
          addSum(state.sums, `${t}.lpipsReference`, lr[i]);
          addSum(state.sums, `${t}.psnrY`, psnrY(a, c));
          addSum(state.sums, `${t}.ssim`, ssim(a, c));
        }
        state.stats.get(`${t}.real`)!.add(await inception.features(real, S, S), n);
        state.stats.get(`${t}.fake`)!.add(await inception.features(fake, S, S), n);
      }
      state.next = b + 1;
      if (isDone(state) || Date.now() - lastSave >= (o.saveEvery ?? 30) * 1000) {
        saveState(out, state);
        lastSave = Date.now();
      }
      o.onProgress?.({ stage: 'score', done: Math.min(state.next * batchSize, o.images.length) - start * batchSize, total: mine.length });
    }
    const result = summarizeRestoration(state);
    await writeRestorationOutputs(out, result);
    return result;
  } finally {
    await lpips.dispose();
    await inception.dispose();
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function summarizeRestoration(state: EvalState): RestorationResult {
  const s = state.settings as { tasks: (typeof TABLE4_TASKS)[number][]; protocol: RestoreProtocol; llm: string; standIns: string[] };
  const partial = state.shard.count > 1 && !state.merged;
  const tasks = s.tasks.map((t): RestorationTaskResult => {
    let fid: number | null = null;
    let fidError: string | undefined;
    try {
      fid = frechetDetail(state.stats.get(`${t}.real`)!, state.stats.get(`${t}.fake`)!).fid;
    } catch (e) {
      fidError = (e as Error).message;
    }
    return {
      task: t, evaluated: state.sums[`${t}.lpips`]?.count ?? 0, fid, ...(fidError ? { fidError } : {}),
      lpips: mean(state.sums, `${t}.lpips`), lpipsReference: mean(state.sums, `${t}.lpipsReference`),
      psnrY: mean(state.sums, `${t}.psnrY`), ssim: mean(state.sums, `${t}.ssim`),
    };
  });
  const copies = (state.settings.restore as { copies?: number } | undefined)?.copies ?? 10;
  const notes = [...restoreNotes({ protocol: s.protocol, standInClip: s.standIns.includes('CLIP'), llmId: s.llm, copies }), LPIPS_8BIT_NOTE];
  return {
    table: 'Table 4: in-context restoration', protocol: s.protocol, llm: s.llm,
    images: { selected: partial ? Math.min(state.end * state.batchSize, state.images) - state.start * state.batchSize : state.images },
    tasks, failures: state.failures as RestorationResult['failures'], notes, standIns: s.standIns, meaningless: s.standIns.length > 0,
    ...(partial ? { shard: state.shard } : {}), ...(state.merged ? { merged: state.merged } : {}), settings: state.settings,
  };
}

export function restorationMarkdown(r: RestorationResult): string {
  const warn = r.meaningless ? `\n> **STAND-IN ${r.standIns.join(', ')}: our figures below are meaningless.**\n` : '';
  const header = ['method', ...TABLE4_TASKS.map((t) => `${t} FID / LPIPS`)];
  const rows: string[][] = (Object.keys(TABLE4) as (keyof typeof TABLE4)[]).map((m) => [`paper, LLaMA-2 ${m}`, ...TABLE4_TASKS.map((t) => `${TABLE4[m][t].fid.toFixed(2)} / ${TABLE4[m][t].lpips.toFixed(4)}`)]);
  const cell = (t: (typeof TABLE4_TASKS)[number], key: 'lpips' | 'lpipsReference'): string => {
    const x = r.tasks.find((k) => k.task === t);
    return x ? `${x.fid === null ? 'n/a' : x.fid.toFixed(2)} / ${Number.isFinite(x[key]) ? x[key].toFixed(4) : 'n/a'}` : '-';
  };
  rows.push([`**ours** (${r.llm}), LPIPS reference protocol${r.meaningless ? ', meaningless' : ''}`, ...TABLE4_TASKS.map((t) => cell(t, 'lpipsReference'))]);
  rows.push([`**ours**, LPIPS correct protocol${r.meaningless ? ', meaningless' : ''}`, ...TABLE4_TASKS.map((t) => cell(t, 'lpips'))]);
  const counts = r.tasks.map((t) => `${t.task} ${t.evaluated}`).join(', ');
  const fails = r.failures.length ? `\n**${r.failures.length} image(s) not scored:**\n${r.failures.slice(0, 50).map((f) => `- ${f.source}: ${f.error}`).join('\n')}\n` : '';
  return `# Table 4: in-context restoration (${r.protocol} protocol)
${warn}
${markdownTable(header, rows)}

Images scored per task: ${counts} of ${r.images.selected}. PSNR-Y / SSIM (not in the paper): ${r.tasks.map((t) => `${t.task} ${t.psnrY.toFixed(2)} / ${t.ssim.toFixed(3)}`).join(', ')}.
${r.notes.map((n) => `Note: ${n}.`).join('\n')}
${fails}`;
}

export async function writeRestorationOutputs(out: string, r: RestorationResult): Promise<void> {
  writeJsonAtomic(join(out, 'restoration.json'), r);
  writeFileAtomic(join(out, 'table4.md'), restorationMarkdown(r));
  const short: Record<string, string> = { inpainting: 'inpaint', outpainting: 'outpaint', deblurring: 'deblur', rotation: 'rotate', shift: 'shift' };
  const bars = (key: 'fid' | 'lpips') => r.tasks.flatMap((t) => [
    { label: `${short[t.task]} 7B`, value: TABLE4['7B'][t.task][key] },
    { label: `${short[t.task]} ours`, value: key === 'fid' ? t.fid ?? NaN : t.lpipsReference, ours: true },
  ]);
  await writeBarChart(join(out, 'table4.png'), `Table 4: restoration, ours (red) vs the paper's 7B (blue)`, [
    { metric: 'FID', note: 'lower is better', bars: bars('fid') },
    { metric: 'LPIPS (reference protocol)', note: 'lower is better', bars: bars('lpips') },
  ], r.meaningless ? `STAND-IN ${r.standIns.join(', ')}: our bars are meaningless` : undefined, 420);
}
