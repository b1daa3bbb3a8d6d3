// What every evaluation command shares: the image selection (`--limit`), fixed batches, shards
// (`--shard i/n` takes a contiguous range of whole batches, so every image is processed in the same
// batch as in an unsplit run and per-image results are identical), and a resumable state file
// (`state.safetensors`: float64 feature statistics as tensors, sums and failures as JSON metadata), written
// atomically at batch boundaries, so a run killed with -9 resumes from its last save. States of the
// shards of one run merge into the state of the whole run (`v2l eval merge`). Node edge.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { HostTensor } from '../io/dtypes.js';
import { readSafetensors, writeSafetensors } from '../io/files.js';
import { FeatureStats } from './fid.js';
import type { OnProgress } from '../util/progress.js';
import { RunLock } from '../util/run-lock.js';
import { configDiff } from '../util/config-diff.js';
import { removeCreatedDirs } from '../util/created-dirs.js';

export const STATE_FILE = 'state.safetensors';
export const STATE_FORMAT = 'v2l-eval-state/1';

export interface Shard {
  index: number;
  count: number;
}

/** The options every evaluation command takes for running over its images. */
export interface EvalRunOptions {
  batchSize?: number;
  shard?: Shard;
  /** Seconds between state saves (default 30; 0 = after every batch). */
  saveEvery?: number;
  /** Ignore a saved state and start over. */
  fresh?: boolean;
  onProgress?: OnProgress;
  /** Called with each message worth showing (resume, stand-ins, failures). */
  log?: (line: string) => void;
}

/** Parses "i/n" (0 <= i < n). */
export function parseShard(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new Error(`--shard must be i/n with 0 <= i < n (got "${v}")`);
  return { index, count };
}

/** The batch range [start, end) of a shard over `batches` batches. */
export function shardBatches(batches: number, shard: Shard): { start: number; end: number } {
  return { start: Math.floor((shard.index * batches) / shard.count), end: Math.floor(((shard.index + 1) * batches) / shard.count) };
}

export interface Failure {
  source: string;
  error: string;
}

/** Running sums of per-image values (float64). */
export type Sums = Record<string, { sum: number; count: number }>;

export function addSum(s: Sums, key: string, v: number): void {
  const e = (s[key] ??= { sum: 0, count: 0 });
  e.sum += v;
  e.count += 1;
}

export function mean(s: Sums, key: string): number {
  const e = s[key];
  return e && e.count ? e.sum / e.count : NaN;
}

export interface EvalState {
  format: typeof STATE_FORMAT;
  /** Which evaluation ("reconstruction", "semantic", ...). */
  kind: string;
  /** Everything that decides the numbers (models' fingerprints, protocol, image list, batch size). */
  settings: Record<string, unknown>;
  /** sha256 of `settings`: shards and resumes must agree on it. */
  key: string;
  shard: Shard;
  /** Images in the whole selection and batches over it. */
  images: number;
  batchSize: number;
  /** This shard's batch range and the next batch to run. */
  start: number;
  end: number;
  next: number;
  sums: Sums;
  failures: Failure[];
  /** Named feature statistics (FID). */
  stats: Map<string, FeatureStats>;
  /** Kind-specific extras (counts, histograms), merged by addition where numeric. */
  extra: Record<string, number>;
  /** Shards merged into this state (for reports). */
  merged?: number[];
}

export function settingsKey(settings: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

export function newState(kind: string, settings: Record<string, unknown>, images: number, batchSize: number, shard: Shard): EvalState {
  const batches = Math.ceil(images / batchSize);
  const { start, end } = shardBatches(batches, shard);
  return {
    format: STATE_FORMAT, kind, settings, key: settingsKey(settings), shard, images, batchSize, start, end, next: start,
    sums: {}, failures: [], stats: new Map(), extra: {},
  };
}

export function isDone(s: EvalState): boolean {
  return s.next >= s.end;
}

/** Writes the state atomically (one file: a kill at any moment leaves the previous or the new one). */
export function saveState(dir: string, s: EvalState): void {
  const tensors = new Map<string, HostTensor>();
  for (const [name, st] of s.stats) for (const [k, t] of st.toTensors(`stats.${name}.`)) tensors.set(k, t);
  const { stats, ...rest } = s;
  void stats;
  const meta = { ...rest, statsNames: [...s.stats.keys()] };
  writeSafetensors(join(dir, STATE_FILE), tensors, { format: STATE_FORMAT, state: JSON.stringify(meta) });
}

export function loadState(dir: string): EvalState | null {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) return null;
  const f = readSafetensors(path);
  if (f.metadata.format !== STATE_FORMAT || !f.metadata.state) throw new Error(`${path} is not a v2l evaluation state`);
  const meta = JSON.parse(f.metadata.state) as Omit<EvalState, 'stats'> & { statsNames: string[] };
  const stats = new Map<string, FeatureStats>();
  for (const name of meta.statsNames) stats.set(name, FeatureStats.fromTensors(f.tensors, `stats.${name}.`));
  const { statsNames, ...rest } = meta;
  void statsNames;
  return { ...rest, stats };
}

/**
 * Takes the output folder for this run: one writer at a time (a second run on the same `--out` is
 * refused at once naming the first's pid; a killed run's lock is taken over). Release it when done.
 */
export function lockOutput(dir: string): RunLock {
  return RunLock.acquire(join(dir, '.lock'), `${dir} (an evaluation's output folder)`);
}

/**
 * Runs `fn` holding the output folder `dir` (created if missing, locked by `lockOutput`). A refused run
 * writes nothing: when `fn` throws, the folders this run created are removed again while empty (the lock
 * goes with the release; stand-in networks are built outside `--out`), so the corrected command finds no
 * trace of it. A folder holding a saved state or records stays, to be resumed.
 */
export async function withOutputFolder<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const created = mkdirSync(dir, { recursive: true });
  let lock: RunLock;
  try {
    lock = lockOutput(dir);
  } catch (e) {
    removeCreatedDirs(created, dir);
    throw e;
  }
  try {
    return await fn();
  } catch (e) {
    lock.release();
    removeCreatedDirs(created, dir);
    throw e;
  } finally {
    lock.release();
  }
}

/** The settings that differ between two states, `name: a -> b` (nested settings by their JSON). */
function settingsDiff(a: EvalState, b: EvalState): string {
  const d = configDiff(a.settings, b.settings);
  return d.length ? d.join('; ') : 'settings key differs';
}

/**
 * The state to continue in `dir`: the saved one when it belongs to the same settings and shard, a new one
 * when there is none. A state of other settings is refused (another `--out`, or `--fresh`).
 */
export function resumeOrStart(dir: string, fresh: EvalState, opts: { restart?: boolean } = {}): { state: EvalState; resumed: boolean } {
  const old = opts.restart ? null : loadState(dir);
  if (!old) return { state: fresh, resumed: false };
  if (old.kind !== fresh.kind || old.key !== fresh.key || old.shard.index !== fresh.shard.index || old.shard.count !== fresh.shard.count) {
    const why = old.kind !== fresh.kind ? `a ${old.kind} evaluation` : old.key !== fresh.key ? `an evaluation with other settings (${settingsDiff(old, fresh)})` : `shard ${old.shard.index}/${old.shard.count}`;
    throw new Error(`${join(dir, STATE_FILE)} belongs to ${why}; use another --out, or --fresh to start over`);
  }
  return { state: old, resumed: old.next > old.start };
}

/** Merges the complete states of all shards of one run into the state of the whole run. */
export function mergeStates(states: readonly EvalState[]): EvalState {
  if (!states.length) throw new Error('merge: no states given');
  const first = states[0];
  const n = first.shard.count;
  for (const s of states) {
    if (s.kind !== first.kind) throw new Error(`merge: a ${s.kind} state cannot merge with a ${first.kind} state`);
    if (s.key !== first.key) throw new Error(`merge: shard ${s.shard.index}/${s.shard.count} was run with other settings than shard ${first.shard.index}/${n} (${settingsDiff(first, s)})`);
    if (s.shard.count !== n) throw new Error(`merge: shard ${s.shard.index}/${s.shard.count} is not one of ${n}`);
    if (!isDone(s)) throw new Error(`merge: shard ${s.shard.index}/${n} is not finished (${s.next - s.start} of ${s.end - s.start} batches); resume it first`);
  }
  const sorted = [...states].sort((a, b) => a.shard.index - b.shard.index);
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !sorted.some((s) => s.shard.index === i));
  if (missing.length) throw new Error(`merge: shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${n}`).join(', ')} missing`);
  const dup = sorted.find((s, i) => i > 0 && sorted[i - 1].shard.index === s.shard.index);
  if (dup) throw new Error(`merge: shard ${dup.shard.index}/${n} given twice`);
  const out = newState(first.kind, first.settings, first.images, first.batchSize, { index: 0, count: 1 });
  out.next = out.end;
  out.merged = sorted.map((s) => s.shard.index);
  for (const s of sorted) {
    for (const [k, v] of Object.entries(s.sums)) {
      const e = (out.sums[k] ??= { sum: 0, count: 0 });
      e.sum += v.sum;
      e.count += v.count;
    }
    out.failures.push(...s.failures);
    for (const [k, v] of Object.entries(s.extra)) out.extra[k] = (out.extra[k] ?? 0) + v;
    for (const [name, st] of s.stats) {
      const acc = out.stats.get(name) ?? new FeatureStats(st.dim);
      out.stats.set(name, acc.merge(st));
    }
  }
  return out;
}
