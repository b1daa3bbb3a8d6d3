// Node edge: masked image restoration (paper §4.4) as a library call. Per image, in the given order: its
// global and local tokens; `ratio` of the local tokens masked at random (seeded per image index); the LLM
// (LoRA-tuned in the paper) fills them in raster order with every unmasked id forced (./fill.ts) after the
// global tokens' text (./sequence.ts); three decodes written side by side: the tokens as encoded | the input
// with masked tokens set to id 0 (the paper's "set to zero" picture) | the restoration. One JSON record per
// image in `<outDir>/masked.jsonl` (resumable); an unreadable image is recorded as failed and the run goes on.
import { basename, join } from 'node:path';
import type { LLM } from '../../models/llm/types.js';
import type { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { queryIds } from '../../models/llm/prompt.js';
import { sideBySide } from '../../image/pixels.js';
import { savePng } from '../../image/save.js';
import { RunRecords, type RunConfig } from '../records.js';
import { isTokensFailure, type ImageTokenProvider } from '../image-tokens.js';
import { llmDelta, type RunSummary } from '../summary.js';
import { querySeed } from '../shots.js';
import { maskPositions } from './mask.js';
import { maskedPrefix } from './sequence.js';
import { fillMasked } from './fill.js';
import type { OnProgress } from '../../util/progress.js';

export interface MaskedRecord {
  index: number;
  source: string;
  error?: string;
  /** Masked positions (raster order) and the ids there: as encoded, as predicted. */
  masked?: number[];
  original?: number[];
  predicted?: number[];
  /** Fraction of masked positions predicted as the encoded id. */
  accuracy?: number;
  png?: string;
  calls?: number;
}

export interface MaskedRunOptions {
  llm: LLM;
  tokenizer: V2LTokenizer;
  tokens: ImageTokenProvider;
  images: readonly string[];
  ratio: number;
  seed: number;
  k: number;
  outDir: string;
  fresh?: boolean;
  /** Identifies the run's inputs (LLM, adapters, tokenizer) in its configuration. */
  config: RunConfig;
  notes?: string[];
  onProgress?: OnProgress;
}

export async function runMasked(o: MaskedRunOptions): Promise<RunSummary> {
  const t0 = Date.now();
  const nLocal = o.tokenizer.config.nLocal;
  const vocab = await o.llm.vocabulary();
  const records = RunRecords.open<MaskedRecord>(join(o.outDir, 'masked.jsonl'), {
    task: 'masked', ratio: o.ratio, seed: o.seed, globalTokens: o.k, images: o.images, ...o.config,
  }, (r) => String(r.index), { fresh: o.fresh });
  const resumed = records.size; // the records' open made outDir
  const ctx = (o.llm as { contextSize?: number }).contextSize;
  const before = o.llm.stats();
  let calls = 0;
  // Index first: two images of the same name in different folders never share an output file.
  const stemOf = (i: number) => `${String(i).padStart(4, '0')}-${basename(o.images[i]!).replace(/\.[^.]+$/, '')}`;
  try {
    for (let i = 0; i < o.images.length; i++) {
      const stem = stemOf(i);
      if (records.has(String(i))) continue;
      const source = o.images[i]!;
      const [t] = await o.tokens.all([source], o.k);
      if (isTokensFailure(t!)) {
        records.append({ index: i, source, error: t.error });
        continue;
      }
      const grid = t!.local!;
      const h = grid.length;
      const w = grid[0]!.length;
      const local = grid.flat();
      const prefix = maskedPrefix(t!.global.texts);
      if (ctx) {
        const { ids } = await queryIds([{ ids: local }], { tokenize: (x) => o.llm.tokenize(x), bos: vocab.bos }, { prefix });
        if (ids.length > ctx) throw new Error(`${source}: the sequence is ${ids.length} tokens (global-token text and ${local.length} local tokens): more than the ${ctx}-token context of ${o.llm.id}; use a model with a longer context or fewer --global-tokens`);
      }
      const masked = maskPositions(local.length, o.ratio, querySeed(o.seed, i));
      const fill = await fillMasked(o.llm, {
        prefix, local, masked, allowed: (id) => id < nLocal,
        onStep: (done, total) => o.onProgress?.({ stage: `masked ${i + 1}/${o.images.length}`, done, total }),
      });
      calls += fill.calls;
      const maskedSet = new Set(masked);
      const maskedInput = local.map((id, p) => (maskedSet.has(p) ? 0 : id));
      const rows = (ids: readonly number[]) => Array.from({ length: h }, (_, r) => ids.slice(r * w, (r + 1) * w));
      const [enc, inp, res] = await o.tokenizer.decode([rows(local), rows(maskedInput), rows(fill.ids)], [t!.global.ids, t!.global.ids, t!.global.ids]);
      const png = join(o.outDir, `${stem}.png`);
      await savePng(png, sideBySide([enc!, inp!, res!], { gap: 2 }));
      const predicted = masked.map((p) => fill.ids[p]!);
      const original = masked.map((p) => local[p]!);
      records.append({
        index: i, source, masked, original, predicted, png, calls: fill.calls,
        accuracy: masked.length ? predicted.filter((id, j) => id === original[j]).length / masked.length : 1,
      });
    }
  } finally {
    records.close();
  }
  const ok = records.records.filter((r) => !r.error);
  return {
    task: 'masked',
    figures: { images: ok.length, maskedTokenAccuracy: ok.length ? ok.reduce((a, r) => a + r.accuracy!, 0) / ok.length : null },
    units: { total: o.images.length, done: records.size, failed: records.records.length - ok.length, resumed },
    llm: llmDelta(o.llm.id, calls, before, o.llm.stats()),
    wallSeconds: (Date.now() - t0) / 1000,
    out: records.path,
    notes: [
      'maskedTokenAccuracy: fraction of masked local tokens predicted as the encoded id',
      ...(o.tokens.isStandIn ? ['global tokens come from the random-weight STAND-IN CLIP: the figures are meaningless'] : []),
      ...(o.notes ?? []),
      ...(records.duplicateNote() ? [records.duplicateNote()!] : []),
    ],
  };
}
