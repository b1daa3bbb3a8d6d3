// Test helper: a command run once uninterrupted, then again killed with SIGKILL at a random point (after
// a random number of its records, plus a random delay into the next unit), then resumed; the resumed
// output must equal the uninterrupted one byte for byte. Where the kill lands depends on timing; what is
// asserted does not (a run that ends before the kill is resumed too, and must still be equal). Paths of
// the output itself inside the records (PNG files) are compared as <out>.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface KillResumeOptions {
  /** argv for `node` (e.g. ['--import', 'tsx', '-e', RUNNER, ...args]) given the output path. */
  argv: (out: string) => string[];
  cwd: string;
  /** The uninterrupted and the killed run's outputs (records files). */
  whole: string;
  killed: string;
  /** The records file of an output (default: the output itself). */
  records?: (out: string) => string;
  /** Units of the run (the kill comes after 1 .. units-1 records). */
  units: number;
  /** A seeded draw of where to kill (the tests' generator). */
  random: () => number;
}

const lines = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').length - 1 : 0);

/** Runs the three runs; returns how many records the killed run had left and the resumed run's stdout. */
export async function killAndResume(o: KillResumeOptions): Promise<{ recordsAtKill: number; stdout: string }> {
  const rec = o.records ?? ((p: string) => p);
  const whole = spawnSync(process.execPath, o.argv(o.whole), { cwd: o.cwd, encoding: 'utf8' });
  assert.equal(whole.status, 0, whole.stderr);
  const after = 1 + Math.floor(o.random() * Math.max(1, o.units - 1));
  const delayMs = Math.floor(o.random() * 50);
  const child = spawn(process.execPath, o.argv(o.killed), { cwd: o.cwd, stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  const t0 = Date.now();
  while (child.exitCode === null && Date.now() - t0 < 240_000) {
    if (lines(rec(o.killed)) >= after) {
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await exited;
  const recordsAtKill = lines(rec(o.killed));
  const resumed = spawnSync(process.execPath, o.argv(o.killed), { cwd: o.cwd, encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  // Records may name files inside their own output (PNGs): compared with the output's path as <out>.
  const text = (out: string) => readFileSync(rec(out), 'utf8').split(out).join('<out>');
  assert.equal(text(o.killed), text(o.whole), `killed after ${recordsAtKill} of ${o.units} records (aimed at ${after} + ${delayMs} ms), then resumed`);
  return { recordsAtKill, stdout: resumed.stdout };
}
