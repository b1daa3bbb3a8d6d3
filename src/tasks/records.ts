// Node edge: the output of a task run as JSON lines, one record per unit of work (episode, image,
// question), appended and fsynced as each unit finishes, so a run killed at any moment resumes doing at
// most the unit in flight again. Units are processed in a fixed order and appended in that order, so the
// file of an interrupted and resumed run equals an uninterrupted run's.
//
// The run's configuration sits beside the records in `<file>.run.json` (written atomically before the
// first record): a resume with another configuration is refused, naming the fields that differ.
//
//   const log = RunRecords.open<EpisodeRecord>('out.jsonl', { task: 'fewshot', ways: 2 }, (r) => String(r.episode));
//   for (const ep of episodes) { if (log.has(String(ep.index))) continue; log.append(await runEpisode(ep)); }
//   log.close();
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';

export type RunConfig = Record<string, unknown>;

/** The fields of two configurations that differ, as `name: old -> new` (empty when equal). */
export function configDiff(before: RunConfig, now: RunConfig): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])].sort();
  const out: string[] = [];
  for (const k of keys) {
    const a = JSON.stringify(before[k] ?? null);
    const b = JSON.stringify(now[k] ?? null);
    if (a !== b) out.push(`${k}: ${a} -> ${b}`);
  }
  return out;
}

export class RunRecords<R> {
  private readonly done = new Map<string, R>();
  private readonly list: R[] = [];
  private fd: number | null;

  private constructor(readonly path: string, private readonly keyOf: (r: R) => string, fd: number, existing: R[]) {
    this.fd = fd;
    for (const r of existing) this.remember(r);
  }

  /**
   * Opens (or creates) the records file. `fresh: true` starts over (the old file and its config are
   * removed). Throws when the file was written with another configuration.
   */
  static open<R>(path: string, config: RunConfig, keyOf: (r: R) => string, opts: { fresh?: boolean } = {}): RunRecords<R> {
    mkdirSync(dirname(path), { recursive: true });
    const cfgPath = `${path}.run.json`;
    if (opts.fresh) {
      rmSync(path, { force: true });
      rmSync(cfgPath, { force: true });
    }
    const normalized = JSON.parse(JSON.stringify(config)) as RunConfig;
    const existing: R[] = [];
    if (existsSync(path)) {
      if (existsSync(cfgPath)) {
        const before = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
        const diff = configDiff(before, normalized);
        if (diff.length) {
          throw new Error(`${path} holds records of a run with another configuration (${diff.join('; ')}); resume with the same options, or give another output file, or start over with --fresh`);
        }
      } else if (readFileSync(path, 'utf8').trim() !== '') {
        throw new Error(`${path} exists but has no ${cfgPath} beside it: it was not written by this command; give another output file or --fresh`);
      }
      const text = readFileSync(path, 'utf8');
      const lines = text.split('\n');
      let good = 0;
      for (let i = 0; i < lines.length - 1; i++) { // the last piece has no newline: torn or empty
        let value: R;
        try {
          value = JSON.parse(lines[i]) as R;
        } catch {
          break;
        }
        existing.push(value);
        good += Buffer.byteLength(lines[i], 'utf8') + 1;
      }
      if (good < Buffer.byteLength(text, 'utf8')) truncateSync(path, good);
    }
    writeJsonAtomic(cfgPath, normalized);
    const fd = openSync(path, 'a');
    return new RunRecords(path, keyOf, fd, existing);
  }

  /** Records already written, in file order (those of earlier, interrupted runs included). */
  get records(): readonly R[] {
    return this.list;
  }

  /** Number of records that were on disk when the file was opened or appended since. */
  get size(): number {
    return this.list.length;
  }

  has(key: string): boolean {
    return this.done.has(key);
  }

  get(key: string): R | undefined {
    return this.done.get(key);
  }

  /** Appends one record and fsyncs it before returning. */
  append(record: R): void {
    if (this.fd === null) throw new Error(`${this.path}: records file is closed`);
    const key = this.keyOf(record);
    if (this.done.has(key)) throw new Error(`${this.path}: unit "${key}" is already recorded`);
    const bytes = Buffer.from(JSON.stringify(record) + '\n', 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    fsyncSync(this.fd);
    this.remember(record);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private remember(r: R): void {
    this.done.set(this.keyOf(r), r);
    this.list.push(r);
  }
}
