// One writer per output: a run that writes a resumable output (task records, an evaluation state, a
// codebook build, a training run) holds `<output>.lock` while it writes, so that two runs on the same
// `--out` can never both append and both report success. Node edge.
//
// The lock file names its holder (pid, boot, host, start time, command). It appears complete or not at all
// (written to a temporary file, then hard-linked into place: link fails if the name exists). A second
// writer is refused at once, naming the holder's pid. A lock whose holder is gone (its pid is not alive,
// or it was taken before the machine's last boot, or it is this very process's pid without being held by
// it) is stale: the next run takes it over (under a short-lived `<lock>.takeover` lock, so two runs that
// find the same stale lock cannot both take it). Released on `release()` and at process exit; a kill -9
// leaves a stale lock, which the next run recognises.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname, uptime } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface LockHolder {
  pid: number;
  /** This boot of the machine (Linux boot_id; elsewhere the boot time to the minute). */
  boot: string;
  host: string;
  started: string;
  command: string;
  /** Random per acquisition: release() removes only its own lock. */
  token: string;
}

const held = new Map<string, RunLock>();
let exitHook = false;

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return `boot-${Math.round((Date.now() / 1000 - uptime()) / 60)}`;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

function readHolder(path: string): LockHolder | null | 'absent' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  // A bare pid: the lock files of earlier v2l versions (same machine, boot unknown: taken as this one).
  if (/^\d+\s*$/.test(text)) return { pid: Number(text), boot: bootId(), host: hostname(), started: 'unknown', command: 'an earlier v2l', token: '' };
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h?.pid === 'number' ? h : null;
  } catch {
    return null; // not a lock this code wrote (it never leaves a partial one): stale
  }
}

/** Why a holder no longer holds its lock, or null when it may still be writing. */
function staleReason(h: LockHolder | null, path: string): string | null {
  if (h === null) return 'unreadable lock file';
  if (h.host !== hostname()) return null; // cannot check a process on another machine
  if (h.boot !== bootId()) return `pid ${h.pid} ran before the machine's last boot`;
  if (h.pid === process.pid) return held.get(path)?.token === h.token ? null : `pid ${h.pid} is this process, which does not hold it`;
  return pidAlive(h.pid) ? null : `pid ${h.pid} is not running`;
}

/** Places `content` at `path` only if nothing is there (atomic: link fails with EEXIST). */
function createExclusive(path: string, content: string): boolean {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const b = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function refusal(what: string, path: string, h: LockHolder): Error {
  const where = h.host !== hostname() ? ` on host ${h.host}` : '';
  return new Error(`${what} is being written by another run (pid ${h.pid}${where}, started ${h.started}: ${h.command}); ` +
    `two writers would mix their output. Wait for it to end or stop it, or use another output; if no such run exists, delete ${path}`);
}

export class RunLock {
  private released = false;
  private constructor(readonly path: string, readonly token: string, readonly tookOver: string | null) {}

  /**
   * Takes the lock `path` for writing `what` (named in the refusal). Throws at once when a live run holds
   * it; takes over a stale one (`tookOver` says whose).
   */
  static acquire(path: string, what: string): RunLock {
    const me: LockHolder = {
      pid: process.pid, boot: bootId(), host: hostname(), started: new Date().toISOString(),
      command: process.argv.slice(1).map((a) => basename(a) === a ? a : a.replace(/^.*\/(bin|src|dist)\//, '$1/')).join(' ').slice(0, 300),
      token: randomBytes(8).toString('hex'),
    };
    const content = JSON.stringify(me) + '\n';
    for (let attempt = 0; attempt < 5; attempt++) {
      if (createExclusive(path, content)) return RunLock.register(path, me.token, null);
      const h = readHolder(path);
      if (h === 'absent') continue; // released between our try and the read
      const stale = staleReason(h, path);
      if (stale === null) throw refusal(what, path, h!);
      // Take over under a second lock, re-checking that the same stale holder is still there.
      const take = `${path}.takeover`;
      if (!createExclusive(take, content)) {
        const t = readHolder(take);
        if (t !== 'absent' && staleReason(t, take) === null) throw refusal(what, path, h ?? (t as LockHolder));
        rmSync(take, { force: true });
        continue;
      }
      try {
        const again = readHolder(path);
        if (again !== 'absent' && JSON.stringify(again) !== JSON.stringify(h)) continue;
        rmSync(path, { force: true });
        if (createExclusive(path, content)) return RunLock.register(path, me.token, stale);
      } finally {
        rmSync(take, { force: true });
      }
    }
    const h = readHolder(path);
    throw h && h !== 'absent' ? refusal(what, path, h) : new Error(`${path}: could not take the lock`);
  }

  private static register(path: string, token: string, tookOver: string | null): RunLock {
    const lock = new RunLock(path, token, tookOver);
    held.set(path, lock);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => { for (const l of [...held.values()]) l.release(); });
    }
    return lock;
  }

  /** Removes the lock file if it is still this run's. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    const h = readHolder(this.path);
    if (h && h !== 'absent' && h.token === this.token) rmSync(this.path, { force: true });
  }
}

/** The lock of an output file or folder: `<output>.lock` beside a file, `<folder>/.lock` inside a folder. */
export function lockPathOf(output: string, kind: 'file' | 'folder'): string {
  return kind === 'file' ? `${output}.lock` : join(output, '.lock');
}
