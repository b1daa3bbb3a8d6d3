// The summary every task run ends with: its figures, the units done / failed / taken from an earlier
// interrupted run, the LLM's work (calls, tokens evaluated and reused from the KV cache) and wall time.
// The CLI prints the JSON on stdout and `summaryText` on stderr. Portable.
import type { LLMStats } from '../models/llm/types.js';

export interface RunSummary {
  task: string;
  protocol?: string;
  /** The run's figures (accuracy, ...), with what they mean in `notes`. */
  figures: Record<string, number | string | null>;
  units: { total: number; done: number; failed: number; resumed: number };
  llm: { id: string; calls: number; evaluatedTokens: number; reusedTokens: number } | null;
  wallSeconds: number;
  out?: string;
  /** Warnings a reader must see next to the figures (stand-in models, leaking protocols). */
  notes: string[];
}

/** LLM work done since `before` (stats are cumulative per model). */
export function llmDelta(id: string, calls: number, before: LLMStats, after: LLMStats): NonNullable<RunSummary['llm']> {
  return { id, calls, evaluatedTokens: after.evaluatedTokens - before.evaluatedTokens, reusedTokens: after.reusedTokens - before.reusedTokens };
}

export function summaryText(s: RunSummary): string {
  const fig = Object.entries(s.figures).map(([k, v]) => `${k} ${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(4)) : v ?? 'n/a'}`).join(', ');
  const lines = [
    `${s.task}${s.protocol ? ` (protocol ${s.protocol})` : ''}: ${fig || 'no figures'}`,
    `units: ${s.units.done}/${s.units.total} done${s.units.failed ? `, ${s.units.failed} failed` : ''}${s.units.resumed ? `, ${s.units.resumed} from an earlier run` : ''}`,
  ];
  if (s.llm) lines.push(`LLM ${s.llm.id}: ${s.llm.calls} calls, ${s.llm.evaluatedTokens} tokens evaluated, ${s.llm.reusedTokens} reused`);
  lines.push(`wall time ${s.wallSeconds.toFixed(1)} s${s.out ? `; records in ${s.out}` : ''}`);
  for (const n of s.notes) lines.push(`NOTE: ${n}`);
  return lines.join('\n');
}

/** Why a run reports nothing (every unit failed, or none of its units is done), else null. */
export function runFailure(s: RunSummary): string | null {
  const { total, done, failed } = s.units;
  if (total > 0 && done > 0 && failed === done) return `every unit of this run failed (${failed} of ${total}): no figures; see the errors in ${s.out ?? 'the records'}`;
  if (total > 0 && done === 0) return `none of the ${total} units of this run was done`;
  return null;
}
