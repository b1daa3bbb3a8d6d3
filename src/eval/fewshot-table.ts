// Table 1 outputs for `v2l eval fewshot`: the few-shot table itself is computed by src/tasks/fewshot
// (`runFewshotTable`, behind `v2l fewshot --table`; one implementation). This file only writes what every
// evaluation writes: table1.json, table1.md (their markdown) and table1.png (the Avg columns, ours vs the
// paper). Node edge.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { tableMarkdown, type FewshotTable } from '../tasks/fewshot/table.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { writeBarChart, type ChartPanel } from './chart.js';

export type FewshotTableJson = Pick<FewshotTable, 'rows' | 'paper' | 'ways' | 'notes'>;

/** True when the notes say that a stand-in or random-weight model produced our rows. */
export function fewshotMeaningless(t: FewshotTableJson): boolean {
  return t.notes.some((n) => /stand-in|random[- ]weight|meaningless/i.test(n));
}

export async function writeFewshotOutputs(out: string, t: FewshotTableJson): Promise<void> {
  mkdirSync(out, { recursive: true });
  writeJsonAtomic(join(out, 'table1.json'), t);
  writeFileAtomic(join(out, 'table1.md'), `# Table 1: few-shot classification (accuracy %)\n\n${tableMarkdown(t)}\n`);
  const short = (m: string): string => m.replace(/^V2L paper \(LLaMA-2 (\w+)\)$/, '$1').replace(/^SPAE.*$/, 'SPAE');
  const panels: ChartPanel[] = t.ways.map((n) => ({
    metric: `${n}-way, average of the 7 settings`,
    note: 'accuracy %, higher is better',
    digits: 1,
    bars: [
      ...t.paper.filter((p) => p.results[n as 2 | 5]).map((p) => ({ label: `${short(p.method)} k${p.globalTokens}`, value: p.results[n as 2 | 5].avg })),
      ...t.rows.map((r) => ({ label: `ours k${r.globalTokens}`, value: r.avg[n] ?? NaN, ours: true })),
    ],
  }));
  const meaningless = fewshotMeaningless(t);
  await writeBarChart(join(out, 'table1.png'), 'Table 1: few-shot accuracy, ours (red) vs the paper (blue)', panels,
    meaningless ? 'STAND-IN / random-weight models: our bars are meaningless' : undefined, 420);
}
