// The summary of a restoration run: token accuracy at the predicted positions (restored and, as the
// do-nothing baseline, corrupted), the units, the LLM's work, and the notes a reader must see (the
// reference protocol's leak, stand-in models). Portable.
import type { RunSummary } from '../summary.js';
import type { RestoreRecord } from './run.js';

export const REFERENCE_LEAK_NOTE = 'protocol reference LEAKS the answer: its 10 in-context examples are noisy copies of the query image\'s own clean tokens (24.6-53.9 % replaced) at exactly the predicted positions, and the decoder gets the clean image\'s global tokens; figures measure copying, not restoration';

export function restoreNotes(o: { protocol: string; standInClip: boolean; llmId: string; copies: number }): string[] {
  const notes: string[] = [];
  if (o.protocol === 'reference') notes.push(REFERENCE_LEAK_NOTE);
  if (o.protocol === 'reference' && o.copies !== 10) notes.push(`--copies ${o.copies}: the first ${o.copies} of the reference's 10 rates; the reference always uses 10`);
  if (o.standInClip) notes.push('the CLIP is the random-weight STAND-IN: global tokens, and so the figures, are meaningless');
  if (/random|stories260K/i.test(o.llmId)) notes.push(`the LLM ${o.llmId} is a tiny or random-weight model: the figures are meaningless`);
  return notes;
}

export function restoreSummary(o: {
  task: string; protocol: string; records: readonly RestoreRecord[]; resumed: number; total: number;
  llm: RunSummary['llm']; wallSeconds: number; out?: string; notes: string[];
}): RunSummary {
  const ok = o.records.filter((r) => r.status === 'ok');
  const mean = (f: (r: RestoreRecord) => number) => (ok.length ? ok.reduce((s, r) => s + f(r), 0) / ok.length : null);
  return {
    task: `restore ${o.task}`,
    protocol: o.protocol,
    figures: {
      images: ok.length,
      tokenAccuracy: mean((r) => r.accuracy!.restored),
      corruptedTokenAccuracy: mean((r) => r.accuracy!.corrupted),
      stepsPerImage: mean((r) => r.steps!),
    },
    units: { total: o.total, done: o.records.length, failed: o.records.length - ok.length, resumed: o.resumed },
    llm: o.llm,
    wallSeconds: o.wallSeconds,
    out: o.out,
    notes: [
      'tokenAccuracy: share of the predicted positions whose restored token equals the clean image\'s token (corruptedTokenAccuracy: the same for the corrupted input\'s tokens, the do-nothing baseline); FID/LPIPS of Table 4 are the eval\'s, over the restored images (the PNG panels are at the tokenizer\'s image size)',
      ...o.notes,
      ...resampled(o.records),
    ],
  };
}

/** One note for the images whose crop resampled them strongly (named, the first three with what happened). */
function resampled(records: readonly RestoreRecord[]): string[] {
  const r = records.filter((x) => x.resampling);
  if (!r.length) return [];
  return [`${r.length} image(s) resampled strongly before restoration: ${r.slice(0, 3).map((x) => `${x.source} (${x.resampling})`).join('; ')}${r.length > 3 ? '; ...' : ''}`];
}
