// The one output lock: a live holder refuses at once naming its pid (this process included); stale locks
// (a dead pid, an earlier boot, this process's own pid not held by it, an unreadable file) are taken
// over; a bare-pid lock of earlier versions is honoured; release removes only its own lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunLock } from './run-lock.js';

/** A pid that is not running: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const holder = (o: Partial<{ pid: number; boot: string; host: string }>) => JSON.stringify({
  pid: o.pid ?? process.ppid, boot: o.boot ?? readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), host: o.host ?? hostname(),
  started: '2026-01-01T00:00:00.000Z', command: 'v2l test', token: 'other',
});

test('run lock: refused while held, taken over when stale, released only by its holder', { skip: !existsSync('/proc/sys/kernel/random/boot_id') && 'needs Linux boot_id' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-lock-'));
  try {
    const path = join(dir, 'out.lock');
    const a = RunLock.acquire(path, 'out.jsonl');
    assert.equal(a.tookOver, null);
    assert.throws(() => RunLock.acquire(path, 'out.jsonl'), new RegExp(`out\\.jsonl is being written by another run \\(pid ${process.pid}, started .*: .*\\); two writers would mix`));
    a.release();
    assert.ok(!existsSync(path));

    // A live process (the test runner's parent) holds it: refused; in the old bare-pid form too.
    writeFileSync(path, holder({}));
    assert.throws(() => RunLock.acquire(path, 'x'), new RegExp(`pid ${process.ppid}`));
    writeFileSync(path, `${process.ppid}\n`);
    assert.throws(() => RunLock.acquire(path, 'x'), new RegExp(`pid ${process.ppid}, started unknown: an earlier v2l`));

    // Stale: a dead pid, an earlier boot, this process's pid without holding it, garbage.
    const dead = deadPid();
    for (const [content, why] of [
      [holder({ pid: dead }), `pid ${dead} is not running`],
      [holder({ boot: 'an-earlier-boot' }), 'ran before the machine\'s last boot'],
      [holder({ pid: process.pid }), 'is this process, which does not hold it'],
      ['{"torn', 'unreadable lock file'],
    ] as const) {
      writeFileSync(path, content);
      const l = RunLock.acquire(path, 'x');
      assert.ok(l.tookOver?.includes(why), `${l.tookOver} / ${why}`);
      assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
      l.release();
    }

    // Another host cannot be checked: refused, naming the host.
    writeFileSync(path, holder({ host: 'elsewhere', pid: dead }));
    assert.throws(() => RunLock.acquire(path, 'x'), /pid \d+ on host elsewhere/);

    // release() leaves a lock that is no longer its own.
    rmSync(path);
    const b = RunLock.acquire(path, 'x');
    writeFileSync(path, holder({}));
    b.release();
    assert.ok(existsSync(path), 'someone else\'s lock stays');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
