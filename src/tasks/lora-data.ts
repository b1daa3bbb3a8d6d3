// Node edge: the training data of the masked-restoration LoRA (paper §4.4; tasks-spec.md §4). One JSON line
// per image, in the given order: the global tokens' text, then the local ids (./masked/sequence.ts), as
// `input_ids` / `labels` (-100 outside the local ids) / `attention_mask`, the columns Hugging Face's Trainer
// (with PEFT) reads; an unreadable image gives a line with `error` and no ids (filter it out before
// training). Resumable: an interrupted run continues after the last complete line.
import type { LLM } from '../models/llm/types.js';
import { flattenPrompt } from '../models/llm/prompt.js';
import { RunRecords, type RunConfig } from './records.js';
import { isTokensFailure, type ImageTokenProvider } from './image-tokens.js';
import { maskedPrefix, maskedPrefixText, trainingSequence, type TrainingSequence } from './masked/sequence.js';
import type { RunSummary } from './summary.js';
import type { OnProgress } from '../util/progress.js';

export interface LoraDataRecord extends Partial<TrainingSequence> {
  index: number;
  source: string;
  global_text?: string;
  /** Number of local tokens (h*w) at the end of input_ids. */
  local_tokens?: number;
  error?: string;
}

export interface LoraDataOptions {
  llm: LLM;
  tokens: ImageTokenProvider;
  images: readonly string[];
  k: number;
  out: string;
  fresh?: boolean;
  config: RunConfig;
  batch?: number;
  onProgress?: OnProgress;
}

export async function writeLoraData(o: LoraDataOptions): Promise<RunSummary> {
  const t0 = Date.now();
  const vocab = await o.llm.vocabulary();
  const records = RunRecords.open<LoraDataRecord>(o.out, { task: 'lora-data', globalTokens: o.k, images: o.images, ...o.config }, (r) => String(r.index), { fresh: o.fresh });
  const resumed = records.size;
  const tok = { tokenize: (t: string) => o.llm.tokenize(t), bos: vocab.bos };
  const batch = o.batch ?? 8;
  try {
    for (let s = 0; s < o.images.length; s += batch) {
      const idx = [];
      for (let i = s; i < Math.min(o.images.length, s + batch); i++) if (!records.has(String(i))) idx.push(i);
      if (!idx.length) continue;
      const res = await o.tokens.all(idx.map((i) => o.images[i]!), o.k);
      for (let j = 0; j < idx.length; j++) {
        const r = res[j]!;
        const i = idx[j]!;
        if (isTokensFailure(r)) {
          records.append({ index: i, source: o.images[i]!, error: r.error });
          continue;
        }
        const local = r.local!.flat();
        const prefixIds = await flattenPrompt(maskedPrefix(r.global.texts), tok);
        records.append({ index: i, source: o.images[i]!, global_text: maskedPrefixText(r.global.texts), local_tokens: local.length, ...trainingSequence(prefixIds, local) });
      }
      o.onProgress?.({ stage: 'lora-data', done: records.size, total: o.images.length });
    }
  } finally {
    records.close();
  }
  const failed = records.records.filter((r) => r.error).length;
  return {
    task: 'lora-data',
    figures: { sequences: records.size - failed, meanLength: records.size - failed ? records.records.filter((r) => !r.error).reduce((a, r) => a + r.input_ids!.length, 0) / (records.size - failed) : null },
    units: { total: o.images.length, done: records.size, failed, resumed },
    llm: null,
    wallSeconds: (Date.now() - t0) / 1000,
    out: o.out,
    notes: [...(o.tokens.isStandIn ? ['global tokens come from the random-weight STAND-IN CLIP: this data is for testing the pipeline only'] : []), ...(records.duplicateNote() ? [records.duplicateNote()!] : [])],
  };
}
