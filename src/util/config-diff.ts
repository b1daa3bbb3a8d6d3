// What differs between two run configurations, for refusals that must say which setting differs (a
// resume with other options, shards of other settings). Portable.

/** The fields of two configurations that differ, as `name: old -> new` (empty when equal). */
export function configDiff(before: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])].sort();
  const out: string[] = [];
  for (const k of keys) {
    const a = JSON.stringify(before[k] ?? null);
    const b = JSON.stringify(now[k] ?? null);
    if (a !== b) out.push(`${k}: ${a} -> ${b}`);
  }
  return out;
}
