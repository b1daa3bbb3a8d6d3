// onnxruntime's profile (Chrome trace events, one JSON object per node run) summed by operator: the browser
// benchmark's --profile compares the page's onnxruntime-web with onnxruntime-node per operator. Only the
// last `model_run` counts (the first run of a session pays one-off allocations). Portable.
export interface TraceEvent { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }

/** Milliseconds and node runs per operator type in the last model run of `events`. */
export function opTimes(events: readonly TraceEvent[]): Map<string, { ms: number; nodes: number }> {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs.reduce<TraceEvent | null>((a, e) => (!a || e.ts > a.ts ? e : a), null);
  const out = new Map<string, { ms: number; nodes: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.op_name) continue;
    if (last && (e.ts < last.ts || e.ts > last.ts + last.dur)) continue;
    const t = out.get(e.args.op_name) ?? { ms: 0, nodes: 0 };
    t.ms += e.dur / 1000;
    t.nodes += 1;
    out.set(e.args.op_name, t);
  }
  return out;
}

/** Trace events from text holding them one per line (wasm's console output) or as a JSON array (a profile file). */
export function traceEvents(text: string): TraceEvent[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed) as TraceEvent[];
    } catch {
      // one event per line, below
    }
  }
  const out: TraceEvent[] = [];
  for (let line of text.split('\n')) {
    line = line.trim().replace(/^\[/, '').replace(/[,\]]+$/, '');
    if (!line.startsWith('{') || !line.includes('"cat"')) continue;
    try {
      out.push(JSON.parse(line) as TraceEvent);
    } catch {
      // not an event
    }
  }
  return out;
}

/** The two profiles side by side, the slowest operators of `a` first: ms, nodes, a/b. */
export function opTable(a: Map<string, { ms: number; nodes: number }>, b: Map<string, { ms: number; nodes: number }>, names: [string, string]): string[] {
  const total = (m: typeof a) => [...m.values()].reduce((s, t) => s + t.ms, 0);
  const ta = total(a);
  const tb = total(b);
  const ops = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (a.get(y)?.ms ?? 0) - (a.get(x)?.ms ?? 0) || (b.get(y)?.ms ?? 0) - (b.get(x)?.ms ?? 0));
  const ms = (t?: { ms: number; nodes: number }) => t ? `${t.ms.toFixed(0)} ms (${t.nodes})` : '-';
  const lines = [`| operator | ${names[0]} | share | ${names[1]} | ${names[0]} / ${names[1]} |`, '|---|---|---|---|---|'];
  for (const op of ops) {
    const x = a.get(op);
    const y = b.get(op);
    lines.push(`| ${op} | ${ms(x)} | ${x ? `${((100 * x.ms) / ta).toFixed(1)}%` : '-'} | ${ms(y)} | ${x && y && y.ms > 0 ? `${(x.ms / y.ms).toFixed(2)}x` : '-'} |`);
  }
  lines.push(`| all kernels | ${ta.toFixed(0)} ms | 100% | ${tb.toFixed(0)} ms | ${(ta / tb).toFixed(2)}x |`);
  return lines;
}
