// Restoration of image files (Node edge): decode, crop as the tokenizer does, corrupt, encode, run the
// token-space loop (./restore-tokens.ts), decode the restored tokens. Two entry points:
//
//   for await (const r of restoreImages({ task: 'deblur', tokenizer, llm, images, contextImages })) {
//     r.original, r.corrupted, r.restored, r.reconstructionOfCorrupted   // RawImage, 8-bit RGB
//     r.record                                                           // tokens, accuracy, status
//   }
//   await restoreToDir({ ...same, outDir: 'out/' })   // PNG + JSON per image, records.jsonl, resumable
//
// The clean image is the tokenizer's own crop (short side to its image size, centre crop; 'simple'
// preprocessing). The corrupted image: the blurred / rotated / shifted crop, or for in/outpainting the
// crop with the hidden token region painted mid-gray (what a user with a hole really has). Clean
// protocol: the corrupted image gives the local tokens (encoder) and the global tokens (CLIP); the
// reference protocol takes the global tokens of the original file and the clean crop's local tokens.
import { basename, join } from 'node:path';
import type { RawImage } from '../../models/clip/types.js';
import type { LLM } from '../../models/llm/types.js';
import type { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { loadImage } from '../../image/load.js';
import { resizeAndCrop } from '../../image/preprocess.js';
import { sideBySide } from '../../image/pixels.js';
import { savePng } from '../../image/save.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { Rng } from '../../network/rng.js';
import { RunRecords } from '../records.js';
import type { ImageTokenProvider } from '../image-tokens.js';
import { corrupt, type PixelCorruption } from './corruptions.js';
import { isMaskTask, predictionMask, type RestoreTask } from './masks.js';
import { imageSeed, blankHidden } from './query-image.js';
import { promptLength, promptPieces, type PromptPieces } from './prompt.js';
import { restoreTokens, type RestoreProtocol, type RestoreStep } from './restore-tokens.js';

export type { RestoreTask, RestoreProtocol };

export interface RestoreOptions {
  task: RestoreTask;
  /** 'clean' (default): nothing of the clean query reaches the LLM. 'reference': the reference, leak included. */
  protocol?: RestoreProtocol;
  tokenizer: V2LTokenizer;
  llm: LLM;
  images: readonly string[];
  /** Other images: in-context (corrupted, clean) pairs (clean protocol; required for the pixel tasks). */
  contextImages?: readonly string[];
  /** Tokens per step (default 2). */
  m?: number;
  /** In/outpainting: tokens before the step shown as input (default 16). */
  n?: number;
  /** In-context examples per step (default 10, the reference's copies). */
  copies?: number;
  /** Global tokens (default 21, the reference's). */
  globalTokens?: number;
  /** Seeds the blur kernel draw and the reference's copies (per image, mixed with the file name). */
  seed?: number;
  /** Pixel tasks: independent steps per LLM call (default 1). */
  batch?: number;
  /** Global-token cache for the original files (reference protocol). */
  globalTokensOf?: ImageTokenProvider;
  /** Units to leave out (already recorded by an earlier run). */
  skip?: (index: number, source: string) => boolean;
  /** Every write-back, for progress and live viewers. */
  onStep?: (e: RestoreStep & { index: number; source: string }) => void;
}

export interface RestoreRecord {
  index: number;
  source: string;
  status: 'ok' | 'failed';
  error?: string;
  task: RestoreTask;
  protocol: RestoreProtocol;
  /** What the corruption drew (the blur's kernel size). */
  corruption?: Record<string, number>;
  grid?: number;
  steps?: number;
  calls?: number;
  /** Predicted positions whose restored / corrupted token equals the clean image's token. */
  accuracy?: { restored: number; corrupted: number; positions: number };
  tokens?: { global: number[]; clean: number[][]; corrupted: number[][]; restored: number[][] };
  /** Set when the crop resampled the file strongly (enlarged, or most of a long side cropped away). */
  resampling?: string;
}

export interface RestoreCost {
  calls: number;
  evaluatedTokens: number;
  reusedTokens: number;
  seconds: number;
}

export interface RestoreResult {
  source: string;
  record: RestoreRecord;
  cost: RestoreCost;
  /** Absent when the unit failed. */
  original?: RawImage;
  corrupted?: RawImage;
  restored?: RawImage;
  reconstructionOfCorrupted?: RawImage;
}

const DEFAULTS = { m: 2, n: 16, copies: 10, globalTokens: 21, seed: 0 };

export { imageSeed, blankHidden };

const grid = (flat: readonly number[], g: number) => Array.from({ length: g }, (_, r) => flat.slice(r * g, (r + 1) * g));

interface Prepared {
  full: RawImage;
  clean: RawImage;
  corrupted: RawImage;
  params: Record<string, number>;
}

/**
 * What the crop did to a file, when a reader should know: enlarged (the restored image then shows
 * interpolated pixels, not the file's), or a centre crop that drops most of a long side. `full` is the
 * decoded file (shrunk on decoding only while its short side stays at least `size`, so its aspect and
 * any enlargement are the file's).
 */
export function resamplingNote(full: RawImage, size: number): string | undefined {
  const short = Math.min(full.width, full.height);
  const long = Math.max(full.width, full.height);
  const parts: string[] = [];
  if (short < size) parts.push(`enlarged ${(size / short).toFixed(short * 10 < size ? 0 : 1)}x (bicubic) from ${full.width}x${full.height} to a ${size} px short side`);
  if (long > 2 * short) parts.push(`the centre crop keeps ${((100 * short) / long).toFixed(100 * short < long ? 2 : 1)} % of the ${full.width > full.height ? 'width' : 'height'}`);
  return parts.length ? `${parts.join('; ')}: the restoration is of that ${size}x${size} crop` : undefined;
}

async function prepare(task: RestoreTask, tok: V2LTokenizer, source: string, seed: number, hidden: boolean[], g: number): Promise<Prepared> {
  const full = await loadImage(source, { shrinkTo: tok.imageSize });
  const clean = resizeAndCrop(full, tok.imageSize);
  if (isMaskTask(task)) return { full, clean, corrupted: blankHidden(clean, hidden, g), params: {} };
  const c = corrupt(task as PixelCorruption, clean, full, new Rng(seed).uniform());
  return { full, clean, corrupted: c.image, params: c.params };
}

async function encodeLocal(tok: V2LTokenizer, images: RawImage[]): Promise<number[][]> {
  const enc = await tok.encode(images);
  return enc.map((e) => {
    if ('error' in e) throw new Error(e.error);
    return e.local.ids.flat();
  });
}

/** Checks that the options make sense and the longest prompt fits the LLM's context, before any work. */
export async function checkRestoreOptions(o: RestoreOptions): Promise<{ pieces: PromptPieces; vocabSize: number; promptTokens: number }> {
  const m = o.m ?? DEFAULTS.m;
  const n = o.n ?? DEFAULTS.n;
  const copies = o.copies ?? DEFAULTS.copies;
  const protocol = o.protocol ?? 'clean';
  for (const [name, v] of [['m', m], ['n', n], ['copies', copies]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer (got ${v})`);
  }
  if (protocol === 'reference' && copies > 10) throw new Error(`the reference protocol has 10 noisy copies (rates 0.50..0.23); --copies ${copies} is more`);
  if (o.tokenizer.preprocessMode !== 'simple') throw new Error('restoration corrupts the tokenizer\'s own crop: load the tokenizer with --preprocess simple');
  if (!o.tokenizer.clip) throw new Error('restoration needs the tokenizer\'s CLIP (--clip <dir>) for the global tokens');
  const g = o.tokenizer.gridSize;
  predictionMask(o.task, g); // refuses grids the task's region does not divide
  if (protocol === 'clean' && !isMaskTask(o.task) && !o.contextImages?.length) {
    throw new Error(`--task ${o.task} with the clean protocol needs other images to learn the corruption from: give --context-images <dir> ((corrupted, clean) token pairs of those images are the in-context examples)`);
  }
  const vocab = await o.llm.vocabulary();
  const pieces = await promptPieces((t) => o.llm.tokenize(t), vocab.bos, m);
  const inLen = isMaskTask(o.task) ? n : m;
  const promptTokens = promptLength(pieces, copies, inLen, inLen, m) + m - 1;
  const ctx = (o.llm as { contextSize?: number }).contextSize;
  if (ctx && promptTokens > ctx) {
    throw new Error(`a ${o.task} step needs ${promptTokens} tokens (${copies} examples of ${inLen} -> ${m} ids, a query of ${inLen}, ${m} generated), the context window of ${o.llm.id} is ${ctx}: use fewer --copies${isMaskTask(o.task) ? ' or a smaller --n' : ''}, or a model with a longer context`);
  }
  return { pieces, vocabSize: vocab.size, promptTokens };
}

/** Restores each image in order; a failing image yields a failed record and the rest go on. */
export async function* restoreImages(o: RestoreOptions): AsyncGenerator<RestoreResult> {
  const { pieces, vocabSize } = await checkRestoreOptions(o);
  const tok = o.tokenizer;
  const protocol = o.protocol ?? 'clean';
  const m = o.m ?? DEFAULTS.m;
  const n = o.n ?? DEFAULTS.n;
  const copies = o.copies ?? DEFAULTS.copies;
  const k = o.globalTokens ?? DEFAULTS.globalTokens;
  const seed = o.seed ?? DEFAULTS.seed;
  const g = tok.gridSize;
  const hidden = predictionMask(o.task, g);

  // Other images' (clean, corrupted) local grids, encoded once per run; an unreadable one is left out.
  // A step shows at most `copies` examples, so the first `copies` readable images are all it needs.
  let others: { clean: number[]; corrupted: number[] }[] | null = null;
  const othersFor = async () => {
    if (others) return others;
    others = [];
    for (const src of o.contextImages ?? []) {
      if (others.length >= copies) break;
      try {
        const p = await prepare(o.task, tok, src, imageSeed(seed, src), hidden, g);
        const [clean, corrupted] = await encodeLocal(tok, [p.clean, p.corrupted]);
        others.push({ clean, corrupted });
      } catch (e) {
        console.error(`v2l restore: context image ${src} left out: ${(e as Error).message}`);
      }
    }
    return others;
  };

  for (let index = 0; index < o.images.length; index++) {
    const source = o.images[index];
    if (o.skip?.(index, source)) continue;
    const t0 = performance.now();
    const before = o.llm.stats();
    const base = { index, source, task: o.task, protocol } as const;
    const cost = (calls: number): RestoreCost => {
      const after = o.llm.stats();
      return { calls, evaluatedTokens: after.evaluatedTokens - before.evaluatedTokens, reusedTokens: after.reusedTokens - before.reusedTokens, seconds: (performance.now() - t0) / 1000 };
    };
    let prep: Prepared;
    let cleanLocal: number[];
    let corruptedLocal: number[];
    let queryGlobal: number[];
    let cleanGlobal: number[] | null = null;
    try {
      const s = imageSeed(seed, source);
      prep = await prepare(o.task, tok, source, s, hidden, g);
      [cleanLocal, corruptedLocal] = await encodeLocal(tok, [prep.clean, prep.corrupted]);
      if (protocol === 'reference') {
        // The reference's global tokens: CLIP on the original file, for the corrupted input too.
        const [gr] = o.globalTokensOf ? await o.globalTokensOf.global([source], k) : await tok.encodeGlobal([source], { k });
        if ('error' in gr) throw new Error(gr.error);
        cleanGlobal = gr.global.ids;
        queryGlobal = cleanGlobal;
      } else {
        const [gq] = await tok.encodeGlobal([prep.corrupted], { k });
        if ('error' in gq) throw new Error(gq.error);
        queryGlobal = gq.global.ids;
      }
      const ctx = protocol === 'clean' ? await othersFor() : [];
      if (protocol === 'clean' && !isMaskTask(o.task) && ctx.length === 0) throw new Error('none of the --context-images could be read');
      const out = await restoreTokens(o.llm, {
        task: o.task, protocol, g, m, n, copies, seed: s, vocabSize, pieces,
        query: { global: queryGlobal, local: corruptedLocal },
        ...(protocol === 'reference' ? { clean: { global: cleanGlobal!, local: cleanLocal } } : {}),
        others: ctx,
        batch: o.batch,
        onStep: o.onStep && ((e) => o.onStep!({ ...e, index, source })),
      });
      const [restored, recCorrupted] = await tok.decode([grid(out.local, g), grid(corruptedLocal, g)], [out.global, out.global]);
      let same = 0;
      let sameCorrupted = 0;
      let positions = 0;
      hidden.forEach((h, i) => {
        if (!h) return;
        positions++;
        if (out.local[i] === cleanLocal[i]) same++;
        if (corruptedLocal[i] === cleanLocal[i]) sameCorrupted++;
      });
      const record: RestoreRecord = {
        ...base, status: 'ok', corruption: prep.params, grid: g, steps: out.steps, calls: out.calls,
        accuracy: { restored: same / positions, corrupted: sameCorrupted / positions, positions },
        tokens: { global: out.global, clean: grid(cleanLocal, g), corrupted: grid(corruptedLocal, g), restored: grid(out.local, g) },
        ...(resamplingNote(prep.full, tok.imageSize) ? { resampling: resamplingNote(prep.full, tok.imageSize) } : {}),
      };
      yield { source, record, cost: cost(out.calls), original: prep.clean, corrupted: prep.corrupted, restored, reconstructionOfCorrupted: recCorrupted };
    } catch (e) {
      yield { source, record: { ...base, status: 'failed', error: (e as Error).message }, cost: cost(0) };
    }
  }
}

export interface RestoreToDirOptions extends RestoreOptions {
  outDir: string;
  /** Start over, discarding the records of an earlier run in outDir. */
  fresh?: boolean;
  /** Identifies the tokenizer and LLM in the run configuration (a resume must use the same). */
  configExtra?: Record<string, unknown>;
  onImage?: (r: RestoreResult, done: number, total: number) => void;
}

export interface RestoreRunTotals {
  records: RestoreRecord[];
  resumed: number;
  calls: number;
  evaluatedTokens: number;
  reusedTokens: number;
  /** Set when the records file held units recorded twice (counted once): for the summary's notes. */
  duplicates?: string;
}

/** The file stem of image `index` in the output folder. */
export const outputStem = (index: number, source: string) => `${String(index).padStart(5, '0')}-${basename(source).replace(/\.[^.]*$/, '')}`;

/**
 * Runs restoreImages into a folder: per image `<stem>.png` (original | corrupted | restored |
 * reconstruction of the corrupted input) and `<stem>.json` (record and cost), and `records.jsonl`
 * (one record per image, in image order, resumable after kill -9).
 */
export async function restoreToDir(o: RestoreToDirOptions): Promise<RestoreRunTotals> {
  await checkRestoreOptions(o); // refuse before anything is written
  const config = {
    task: o.task, protocol: o.protocol ?? 'clean', m: o.m ?? DEFAULTS.m, n: o.n ?? DEFAULTS.n, copies: o.copies ?? DEFAULTS.copies,
    globalTokens: o.globalTokens ?? DEFAULTS.globalTokens, seed: o.seed ?? DEFAULTS.seed,
    images: o.images, contextImages: o.contextImages ?? [], ...o.configExtra,
  };
  const log = RunRecords.open<RestoreRecord>(join(o.outDir, 'records.jsonl'), config, (r) => `${r.index}:${r.source}`, { fresh: o.fresh });
  const resumed = log.size;
  const totals: RestoreRunTotals = { records: [...log.records], resumed, calls: 0, evaluatedTokens: 0, reusedTokens: 0, ...(log.duplicateNote() ? { duplicates: log.duplicateNote()! } : {}) };
  try {
    let done = resumed;
    for await (const r of restoreImages({ ...o, skip: (i, s) => log.has(`${i}:${s}`) || (o.skip?.(i, s) ?? false) })) {
      const stem = outputStem(r.record.index, r.source);
      if (r.restored) {
        await savePng(join(o.outDir, `${stem}.png`), sideBySide([r.original!, r.corrupted!, r.restored, r.reconstructionOfCorrupted!], { gap: 2 }));
      }
      writeJsonAtomic(join(o.outDir, `${stem}.json`), { ...r.record, cost: r.cost });
      log.append(r.record); // last: a unit counts as done only once its files exist
      totals.records.push(r.record);
      totals.calls += r.cost.calls;
      totals.evaluatedTokens += r.cost.evaluatedTokens;
      totals.reusedTokens += r.cost.reusedTokens;
      o.onImage?.(r, ++done, o.images.length);
    }
  } finally {
    log.close();
  }
  return totals;
}
