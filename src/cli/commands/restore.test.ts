// `v2l restore` end to end in a child process: a run killed with SIGKILL and resumed writes the same
// records as an uninterrupted run; a prompt longer than the model's context is refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskFixture, FIXTURE_LLMS } from '../../tasks/test-utils/fixtures.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const PHOTOS = ['coffee.png', 'giraffe.jpg', 'cat.bmp'].map((p) => sharedPath(`data/photos/${p}`));
const skip = skipUnless([FIXTURE_LLMS['llama2-vocab-random-tiny'], FIXTURE_LLMS.stories260K, ...PHOTOS], 'the shared GGUFs and photos');
const MAIN = new URL('../main.ts', import.meta.url).href;
const RUNNER = `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
const cwd = new URL('../../../', import.meta.url).pathname;
const v2lArgs = (args: string[]) => ['--import', 'tsx', '-e', RUNNER, ...args];

test('v2l restore: kill -9 then resume gives the records of an uninterrupted run; outputs per image', { skip, timeout: 240_000 }, async () => {
  const fx = await taskFixture({ llm: 'llama2-vocab-random-tiny' });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-restore-cli-'));
  try {
    const common = ['restore', ...PHOTOS, '--task', 'inpaint', '--checkpoint', fx.checkpoint, '--codebook', fx.codebook, '--clip', fx.clip,
      '--llm', fx.llmPath, '--copies', '3', '--n', '6', '--cache-dir', join(tmp, 'cache'), '-q'];
    const full = spawnSync(process.execPath, v2lArgs([...common, '-o', join(tmp, 'full')]), { cwd, encoding: 'utf8' });
    assert.equal(full.status, 0, full.stderr);
    const summary = JSON.parse(full.stdout) as { units: { done: number; failed: number }; llm: { calls: number } };
    assert.deepEqual([summary.units.done, summary.units.failed], [3, 0]);
    assert.ok(summary.llm.calls >= 3 * 32 && summary.llm.calls < 3 * 64, String(summary.llm.calls)); // a generate per step
    assert.equal(readdirSync(join(tmp, 'full')).filter((f) => f.endsWith('.png')).length, 3);

    const out = join(tmp, 'killed');
    const child = spawn(process.execPath, v2lArgs([...common, '-o', out]), { cwd, stdio: 'ignore' });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const records = join(out, 'records.jsonl');
    let killed = false;
    for (let i = 0; i < 12000 && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 10));
      if (existsSync(records) && readFileSync(records, 'utf8').split('\n').length >= 2) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
    }
    await exited;
    assert.ok(killed, 'the run should still be going after its first image');
    const partial = readFileSync(records, 'utf8').trim().split('\n').length;
    assert.ok(partial >= 1 && partial < 3, `${partial} records when killed`);
    const resumed = spawnSync(process.execPath, v2lArgs([...common, '-o', out]), { cwd, encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal((JSON.parse(resumed.stdout) as { units: { resumed: number } }).units.resumed, partial);
    assert.equal(readFileSync(records, 'utf8'), readFileSync(join(tmp, 'full', 'records.jsonl'), 'utf8'));

    // Another configuration on the same output is refused, naming the field.
    const other = spawnSync(process.execPath, v2lArgs([...common.map((a) => (a === '3' ? '4' : a)), '-o', out]), { cwd, encoding: 'utf8' });
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /copies: 3 -> 4/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('v2l restore: the reference prompt does not fit stories260K\'s 128-token context: refused before any work, naming both', { skip }, async () => {
  const fx = await taskFixture({ llm: 'stories260K' });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-restore-cli-'));
  try {
    const args = ['restore', PHOTOS[0], '--task', 'outpaint', '--protocol', 'reference', '--checkpoint', fx.checkpoint, '--codebook', fx.codebook,
      '--clip', fx.clip, '--llm', fx.llmPath, '-o', join(tmp, 'out'), '-q'];
    const r = spawnSync(process.execPath, v2lArgs(args), { cwd, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /needs \d+ tokens .*context window of .* is 128/);
    assert.ok(!existsSync(join(tmp, 'out', 'records.jsonl')), 'nothing written');
    // Fewer, shorter examples fit.
    const ok = spawnSync(process.execPath, v2lArgs([...args, '--copies', '2', '--n', '2', '--fresh']), { cwd, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /LEAKS the answer/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('v2l restore: a codebook built for another vocabulary than the LLM\'s is refused before any work', { skip }, async () => {
  const fx = await taskFixture({ llm: 'stories260K' });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-restore-cli-'));
  try {
    const r = spawnSync(process.execPath, v2lArgs(['restore', PHOTOS[0], '--task', 'inpaint', '--checkpoint', fx.checkpoint, '--codebook', fx.codebook,
      '--clip', fx.clip, '--llm', FIXTURE_LLMS['llama2-vocab-random-tiny'], '-o', join(tmp, 'out'), '-q']), { cwd, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /does not match the models in use.*512 local rows.*32000 tokens/);
    assert.ok(!existsSync(join(tmp, 'out', 'records.jsonl')), 'nothing written');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
