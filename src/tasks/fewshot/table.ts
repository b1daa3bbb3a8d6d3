// Table 1 of the paper: few-shot accuracy on 2-way and 5-way episodes in seven settings, our rows beside
// the paper's LLaMA-2 rows. `runFewshotTable` runs every (global tokens, ways, setting) with the episode
// loop (./run.ts; each setting resumable in its own JSON-lines file) and renders the table as markdown
// and JSON. `v2l fewshot --table` and `v2l eval fewshot` both call it.
import { join } from 'node:path';
import { runFailure, type RunSummary } from '../summary.js';
import type { Episode } from './episodes.js';
import { runFewshot, type FewshotRunOptions } from './run.js';

export interface TableSetting {
  shots: number;
  induction: boolean;
  repeats: number;
  /** Column header. */
  label: string;
}

/** The seven columns of Table 1 (tasks-spec.md §1 "Table 1 layout"), in order. */
export const TABLE1_SETTINGS: readonly TableSetting[] = [
  { shots: 1, induction: false, repeats: 0, label: '1-shot, no induction' },
  { shots: 1, induction: true, repeats: 0, label: '1-shot' },
  { shots: 3, induction: true, repeats: 0, label: '3-shot' },
  { shots: 5, induction: true, repeats: 0, label: '5-shot' },
  { shots: 1, induction: true, repeats: 1, label: '1-shot, 1 repeat' },
  { shots: 1, induction: true, repeats: 3, label: '1-shot, 3 repeats' },
  { shots: 1, induction: true, repeats: 5, label: '1-shot, 5 repeats' },
];

export interface PaperRow {
  method: string;
  globalTokens: number;
  /** Percentages per ways: the seven columns (null where the paper gives only the average) and the average. */
  results: Record<2 | 5, { columns: (number | null)[]; avg: number }>;
}

const cols = (s: string) => s.split(' ').map(Number);

/** The paper's rows (tasks-spec.md §6), LLaMA-2 with the official tokenizer and CLIP ViT-L/14. */
export const PAPER_ROWS: readonly PaperRow[] = [
  { method: 'SPAE (PaLM-2 340B)', globalTokens: 5, results: { 2: { columns: new Array(7).fill(null), avg: 77.7 }, 5: { columns: new Array(7).fill(null), avg: 58.8 } } },
  { method: 'V2L paper (LLaMA-2 7B)', globalTokens: 5, results: { 2: { columns: cols('34.2 73.1 89.0 93.4 79.6 80.6 79.1'), avg: 75.6 }, 5: { columns: cols('36.2 54.6 88.6 91.1 70.7 72.8 74.4'), avg: 69.8 } } },
  { method: 'V2L paper (LLaMA-2 13B)', globalTokens: 5, results: { 2: { columns: cols('44.4 77.9 91.9 94.4 81.5 82.8 82.0'), avg: 79.3 }, 5: { columns: cols('45.4 69.6 89.9 91.3 75.8 75.7 77.2'), avg: 75.0 } } },
  { method: 'V2L paper (LLaMA-2 70B)', globalTokens: 5, results: { 2: { columns: cols('41.7 87.1 94.8 96.1 88.9 89.2 89.1'), avg: 83.9 }, 5: { columns: cols('45.4 81.5 92.3 93.0 85.7 86.1 86.3'), avg: 81.5 } } },
  { method: 'SPAE (PaLM-2 340B)', globalTokens: 21, results: { 2: { columns: new Array(7).fill(null), avg: 79.0 }, 5: { columns: new Array(7).fill(null), avg: 61.9 } } },
  { method: 'V2L paper (LLaMA-2 7B)', globalTokens: 21, results: { 2: { columns: cols('36.5 76.3 91.2 95.3 84.0 84.4 83.7'), avg: 78.8 }, 5: { columns: cols('37.1 44.8 91.8 94.0 73.9 82.2 85.3'), avg: 72.7 } } },
  { method: 'V2L paper (LLaMA-2 13B)', globalTokens: 21, results: { 2: { columns: cols('48.7 73.1 92.4 95.7 80.9 83.8 82.0'), avg: 79.5 }, 5: { columns: cols('42.1 62.7 93.0 94.5 72.8 79.6 82.0'), avg: 75.2 } } },
  // The paper prints 86.7 / 83.5; its seven columns average to 86.8 / 83.6.
  { method: 'V2L paper (LLaMA-2 70B)', globalTokens: 21, results: { 2: { columns: cols('46.5 89.1 96.9 97.8 91.4 92.7 92.9'), avg: 86.7 }, 5: { columns: cols('45.0 79.7 94.9 95.6 89.3 90.7 90.2'), avg: 83.5 } } },
];

export interface TableCell {
  ways: number;
  setting: TableSetting;
  /** Percent, null when no episode could be scored. */
  accuracy: number | null;
  ci95: [number, number] | null;
  episodes: number;
  failed: number;
  out?: string;
}

export interface TableRow {
  method: string;
  globalTokens: number;
  cells: TableCell[];
  /** Mean of the seven columns per ways (percent), null when a column is missing. */
  avg: Record<number, number | null>;
}

export interface FewshotTable {
  rows: TableRow[];
  paper: readonly PaperRow[];
  ways: number[];
  markdown: string;
  notes: string[];
  summaries: RunSummary[];
  /** The units of every setting's run, summed (failed units included). */
  units: RunSummary['units'];
  /** Settings whose run has no figures (every unit failed, or none was done), with why: the table fails. */
  failedSettings: { setting: string; why: string }[];
}

export interface FewshotTableOptions extends Omit<FewshotRunOptions, 'episodes' | 'induction' | 'repeats' | 'out' | 'globalTokens'> {
  /** The episodes of a (ways, shots) setting: read from the reference's split files or sampled. */
  episodesFor: (ways: number, shots: number) => Episode[] | Promise<Episode[]>;
  /** One row per value (the paper: 5 and 21). */
  globalTokens: readonly number[];
  ways?: readonly number[];
  /** Folder for one JSON-lines file per setting (each resumable); none keeps records in memory. */
  outDir?: string;
  /** Name of our rows, e.g. the LLM file. */
  method?: string;
  onSetting?: (what: string) => void;
}

const pct = (x: number) => Math.round(x * 1000) / 10;

export async function runFewshotTable(o: FewshotTableOptions): Promise<FewshotTable> {
  const ways = [...(o.ways ?? [2, 5])];
  const rows: TableRow[] = [];
  const summaries: RunSummary[] = [];
  const failedSettings: FewshotTable['failedSettings'] = [];
  const notes = new Set<string>();
  for (const k of o.globalTokens) {
    const cells: TableCell[] = [];
    for (const n of ways) {
      for (const s of TABLE1_SETTINGS) {
        const name = `${k}tok-${n}way-${s.shots}shot-induction${s.induction ? 1 : 0}-repeat${s.repeats}`;
        o.onSetting?.(name);
        const episodes = await o.episodesFor(n, s.shots);
        if (episodes.length === 0) { // no episodes for this setting (e.g. a split file that was not published)
          cells.push({ ways: n, setting: s, episodes: 0, failed: 0, accuracy: null, ci95: null });
          continue;
        }
        const out = o.outDir ? join(o.outDir, `${name}.jsonl`) : undefined;
        const { summary } = await runFewshot({ ...o, episodes, globalTokens: k, induction: s.induction, repeats: s.repeats, out });
        summaries.push(summary);
        const why = runFailure(summary);
        if (why) failedSettings.push({ setting: name, why });
        for (const note of summary.notes) if (!note.startsWith('KV reuse')) notes.add(note);
        const f = summary.figures;
        cells.push({
          ways: n, setting: s, episodes: f.episodes as number, failed: summary.units.failed, ...(out ? { out } : {}),
          accuracy: f.accuracy === null ? null : pct(f.accuracy as number),
          ci95: f.ci95_low === null ? null : [pct(f.ci95_low as number), pct(f.ci95_high as number)],
        });
      }
    }
    const avg: Record<number, number | null> = {};
    for (const n of ways) {
      const c = cells.filter((x) => x.ways === n).map((x) => x.accuracy);
      avg[n] = c.some((x) => x === null) ? null : Math.round((c.reduce((a, b) => a! + b!, 0)! / c.length) * 10) / 10;
    }
    rows.push({ method: `${o.method ?? `v2l (${o.llm.id})`}`, globalTokens: k, cells, avg });
  }
  const units = { total: 0, done: 0, failed: 0, resumed: 0 };
  for (const u of summaries.map((x) => x.units)) for (const k of Object.keys(units) as (keyof typeof units)[]) units[k] += u[k];
  const table = { rows, paper: PAPER_ROWS, ways, notes: [...notes], summaries, units, failedSettings };
  return { ...table, markdown: tableMarkdown(table) };
}

/** Why a table run must fail (a setting whose every unit failed, or with no setting run at all), else null. */
export function tableFailure(t: Pick<FewshotTable, 'units' | 'failedSettings'>): string | null {
  if (t.failedSettings.length) {
    return `${t.failedSettings.length} setting(s) of the table have no figures: ${t.failedSettings.map((f) => `${f.setting} (${f.why})`).join('; ')}`;
  }
  if (t.units.total === 0) return 'no setting of the table had episodes to run';
  return null;
}

/** Table 1 as markdown: per ways, the seven settings and Avg; ours with 95% CI and episode counts. */
export function tableMarkdown(t: Pick<FewshotTable, 'rows' | 'paper' | 'ways' | 'notes'>): string {
  // Warnings first: a reader must not take figures from stand-in models for results.
  const lines: string[] = t.notes.map((n) => `NOTE: ${n}`);
  if (lines.length) lines.push('');
  for (const n of t.ways) {
    lines.push(`### ${n}-way (accuracy %, ours with 95% Wilson interval and episodes)`, '');
    lines.push(`| method | tokens | ${TABLE1_SETTINGS.map((s) => s.label).join(' | ')} | Avg |`);
    lines.push(`|---|---|${TABLE1_SETTINGS.map(() => '---').join('|')}|---|`);
    for (const r of t.rows) {
      const cells = r.cells.filter((c) => c.ways === n).map((c) => (c.accuracy === null ? 'n/a' : `${c.accuracy.toFixed(1)} [${c.ci95![0].toFixed(1)}, ${c.ci95![1].toFixed(1)}] (n=${c.episodes}${c.failed ? `, ${c.failed} failed` : ''})`));
      lines.push(`| ${r.method} | ${r.globalTokens} | ${cells.join(' | ')} | ${r.avg[n] === null || r.avg[n] === undefined ? 'n/a' : r.avg[n]!.toFixed(1)} |`);
    }
    for (const p of t.paper) {
      const res = p.results[n as 2 | 5];
      if (!res) continue;
      lines.push(`| ${p.method} | ${p.globalTokens} | ${res.columns.map((c) => (c === null ? '–' : c.toFixed(1))).join(' | ')} | ${res.avg.toFixed(1)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
