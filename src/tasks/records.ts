// Node edge: the output of a task run as JSON lines, one record per unit of work (episode, image,
// question), appended and fsynced as each unit finishes, so a run killed at any moment resumes doing at
// most the unit in flight again. Units are processed in a fixed order and appended in that order, so the
// file of an interrupted and resumed run equals an uninterrupted run's.
//
// Results that cannot lie:
// - One writer: the run holds `<file>.lock` (src/util/run-lock.ts) from `open` to `close`; a second run
//   on the same file is refused at once, naming the holder's pid; a killed run's lock is taken over.
// - Records are matched by unit and configuration, never counted: every line carries `run`, the
//   fingerprint of the configuration that wrote it. On resume a line of another configuration is refused
//   naming its unit and line; a unit recorded twice counts once (the first), and the duplicates are
//   reported (`duplicates`).
// - A refused run writes nothing: the configuration (`<file>.run.json`), a fresh start's truncation and
//   the cut of a torn last line happen only when the first record is appended; a run that appended
//   nothing removes the folder it created for the file.
// - Memory does not grow with the records: only unit keys are held; `each()` streams them back from disk.
//
//   const log = RunRecords.open<EpisodeRecord>('out.jsonl', { task: 'fewshot', ways: 2 }, (r) => String(r.episode));
//   for (const ep of episodes) { if (log.has(String(ep.index))) continue; log.append(await runEpisode(ep)); }
//   log.close();
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { dirname, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { writeJsonAtomic } from '../util/atomic.js';
import { RunLock } from '../util/run-lock.js';
import { appendJsonLine, completeLines } from '../util/jsonl-file.js';
import { removeCreatedDirs } from '../util/created-dirs.js';
import { configDiff } from '../util/config-diff.js';

export { configDiff };

export type RunConfig = Record<string, unknown>;

/** The field every record line carries: the fingerprint of its run's configuration. */
export const RUN_FIELD = 'run';

/** The fingerprint of a configuration (16 hex digits of the sha256 of its JSON, keys sorted). */
export function configFingerprint(config: RunConfig): string {
  const sorted = Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]]));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

/** A unit found more than once in a file being resumed: the later lines are ignored. */
export interface DuplicateRecord {
  unit: string;
  /** 1-based line numbers of the ignored copies. */
  lines: number[];
}

export class RunRecords<R> {
  private readonly done = new Set<string>();
  private fd: number | null = null;
  private appended = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly keyOf: (r: R) => string,
    private readonly config: RunConfig,
    readonly fingerprint: string,
    private readonly lock: RunLock,
    private readonly createdDir: string | undefined,
    /** Bytes of the file that hold complete, accepted lines (a torn tail beyond is cut at first append). */
    private readonly goodBytes: number,
    private readonly fresh: boolean,
    /** Units ignored because they were already recorded earlier in the file. */
    readonly duplicates: readonly DuplicateRecord[],
  ) {}

  /**
   * Opens (or creates) the records file and takes its lock. `fresh: true` starts over (the old records
   * are dropped at the first append). Throws when another run holds the file, when it was written with
   * another configuration, or when one of its lines was.
   */
  static open<R>(path: string, config: RunConfig, keyOf: (r: R) => string, opts: { fresh?: boolean } = {}): RunRecords<R> {
    if (existsSync(path) && statSync(path).isDirectory()) {
      throw new Error(`${path} is a folder: the output of this command is a JSON-lines file (e.g. ${path.replace(/[/\\]+$/, '')}${sep}records.jsonl)`);
    }
    const createdDir = mkdirSync(dirname(path), { recursive: true });
    let lock: RunLock;
    try {
      lock = RunLock.acquire(`${path}.lock`, path);
    } catch (e) {
      removeCreatedDirs(createdDir, dirname(path));
      throw e;
    }
    try {
      const normalized = JSON.parse(JSON.stringify(config)) as RunConfig;
      const fingerprint = configFingerprint(normalized);
      const cfgPath = `${path}.run.json`;
      const keys = new Set<string>();
      const dups = new Map<string, number[]>();
      let good = 0;
      if (!opts.fresh && existsSync(path)) {
        if (existsSync(cfgPath)) {
          const before = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
          const diff = configDiff(before, normalized);
          if (diff.length) {
            throw new Error(`${path} holds records of a run with another configuration (${diff.join('; ')}); resume with the same options, or give another output file, or start over with --fresh`);
          }
        } else if (statSync(path).size > 0) {
          throw new Error(`${path} exists but has no ${cfgPath} beside it: it was not written by this command; give another output file or --fresh`);
        }
        for (const [n, text, end] of completeLines(path)) {
          let value: Record<string, unknown>;
          try {
            value = JSON.parse(text) as Record<string, unknown>;
          } catch {
            break; // a torn write (only ever the last line): cut at the first append
          }
          const { [RUN_FIELD]: run, ...rec } = value;
          const key = keyOf(rec as R);
          if (run !== fingerprint) {
            throw new Error(`${path}:${n}: unit ${key} was recorded by ${run === undefined ? 'a run that wrote no configuration fingerprint' : `a run with another configuration (fingerprint ${String(run)}, this run's ${fingerprint})`}; ` +
              'the file mixes runs, so its figures would too: remove that line, or give another output file, or start over with --fresh');
          }
          if (keys.has(key)) dups.set(key, [...(dups.get(key) ?? []), n]);
          else keys.add(key);
          good = end;
        }
      }
      const duplicates = [...dups].map(([unit, l]) => ({ unit, lines: l }));
      const r = new RunRecords<R>(path, keyOf, normalized, fingerprint, lock, createdDir, good, !!opts.fresh, duplicates);
      for (const k of keys) r.done.add(k);
      return r;
    } catch (e) {
      lock.release();
      removeCreatedDirs(createdDir, dirname(path));
      throw e;
    }
  }

  /** Records in the file, in file order, streamed from disk (a unit's later duplicates left out). */
  *each(): Generator<R> {
    if (this.fresh && this.appended === 0) return;
    if (!existsSync(this.path)) return;
    const seen = new Set<string>();
    for (const [, text] of completeLines(this.path)) {
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      const { [RUN_FIELD]: _run, ...rec } = value;
      void _run;
      const key = this.keyOf(rec as R);
      if (seen.has(key)) continue;
      seen.add(key);
      yield rec as R;
    }
  }

  /** All records (read from disk: for small runs and tests; long runs use `each()`). */
  get records(): R[] {
    return [...this.each()];
  }

  /** Units recorded (earlier, interrupted runs included; duplicates counted once). */
  get size(): number {
    return this.done.size;
  }

  has(key: string): boolean {
    return this.done.has(key);
  }

  /** A sentence for the run's notes when the file held duplicated units, else null. */
  duplicateNote(): string | null {
    if (!this.duplicates.length) return null;
    const shown = this.duplicates.slice(0, 5).map((d) => `unit ${d.unit} (line${d.lines.length > 1 ? 's' : ''} ${d.lines.join(', ')})`).join('; ');
    return `${this.path} recorded ${this.duplicates.length} unit(s) more than once (${shown}${this.duplicates.length > 5 ? '; ...' : ''}): each counts once, the first record; the later copies were ignored`;
  }

  /** Appends one record and fsyncs it before returning. */
  append(record: R): void {
    if (this.closed) throw new Error(`${this.path}: records file is closed`);
    const key = this.keyOf(record);
    if (this.done.has(key)) throw new Error(`${this.path}: unit "${key}" is already recorded`);
    if (this.fd === null) this.start();
    appendJsonLine(this.fd!, { [RUN_FIELD]: this.fingerprint, ...record });
    this.done.add(key);
    this.appended++;
  }

  /** Releases the lock; a run that appended nothing leaves no folder it created behind. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.lock.release();
    if (this.appended === 0) removeCreatedDirs(this.createdDir, dirname(this.path));
  }

  /** The first append: configuration beside the file, then the file cut to its accepted lines. */
  private start(): void {
    writeJsonAtomic(`${this.path}.run.json`, this.config);
    if (this.fresh) {
      this.fd = openSync(this.path, 'w');
      return;
    }
    if (existsSync(this.path) && statSync(this.path).size > this.goodBytes) truncateSync(this.path, this.goodBytes);
    this.fd = openSync(this.path, 'a');
  }
}
