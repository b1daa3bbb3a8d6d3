// End to end on real things: stories260K (a real 512-token LLaMA vocabulary and real expansions), the
// stand-in CLIP (random weights, generated here), real Tiny-ImageNet images. The CLI runs in a child
// process that is killed (SIGKILL) in the middle of the expansion and then resumed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import { loadCodebook } from './package.js';
import type { BuildReport } from './build.js';
import { skipUnless } from '../util/test-utils/shared.js';

const SHARED = new URL('../../../shared/', import.meta.url).pathname;
const STORIES = join(SHARED, 'models/stories260K/stories260K.gguf');
const IMAGES = join(SHARED, 'data/tiny-imagenet-val/images');
const MERGES = join(SHARED, 'models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
const skip = skipUnless([STORIES, IMAGES, MERGES], 'stories260K, tiny-imagenet-val and the CLIP tokenizer');
const MAIN = new URL('../cli/main.ts', import.meta.url).href;
const RUNNER = `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
const cwd = new URL('../../', import.meta.url).pathname;

function v2lArgs(args: string[]): string[] {
  return ['--import', 'tsx', '-e', RUNNER, ...args];
}

function v2l(args: string[]): string {
  const r = spawnSync(process.execPath, v2lArgs(args), { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `v2l ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

function journalBatches(out: string): { phase: number; start: number; next: number[] }[] {
  const lines = readFileSync(join(out, 'work', 'expand.jsonl'), 'utf8').split('\n');
  const out2 = [];
  for (const l of lines.slice(1)) {
    try {
      out2.push(JSON.parse(l));
    } catch {
      // a torn last line
    }
  }
  return out2;
}

test('codebook build: killed mid-expansion, resumed without repeating work, equal to an uninterrupted build', { skip, timeout: 240_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-build-'));
  try {
    const clipDir = join(tmp, 'clip');
    writeStandInClip(clipDir, { mergesPath: MERGES });
    const list = join(tmp, 'images.txt');
    writeFileSync(list, readdirSync(IMAGES).sort().slice(0, 40).map((f) => join(IMAGES, f)).join('\n') + '\n');
    const common = ['--llm', STORIES, '--clip', clipDir, '--images', list, '--templates', 'single', '--top-n', '150', '--image-batch-size', '8'];

    // Run 1: killed once the expansion journal holds some batches.
    const outA = join(tmp, 'a');
    const child = spawn(process.execPath, v2lArgs(['codebook', 'build', ...common, '--batch-size', '2', '--out', outA, '--quiet']), { cwd, stdio: 'ignore' });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    let killedAt = -1;
    for (let i = 0; i < 6000 && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const j = join(outA, 'work', 'expand.jsonl');
      if (existsSync(j) && readFileSync(j, 'utf8').split('\n').length > 30) {
        child.kill('SIGKILL');
        killedAt = i;
        break;
      }
    }
    const code = await exited;
    assert.ok(killedAt >= 0 && code === null, 'the first build should still be expanding when killed');
    const before = journalBatches(outA);
    const donePrompts = before.reduce((n, b) => n + b.next.length, 0);
    assert.ok(donePrompts > 0 && donePrompts < 1024, `killed with ${donePrompts} of 1024 prompts journaled`);
    assert.ok(!existsSync(join(outA, 'manifest.json')), 'no package before the build finishes');
    assert.ok(existsSync(join(outA, 'work', 'build.lock')), 'the killed build leaves its lock (taken over below: its pid is gone)');

    // Run 2: resumes from the journal; the finished prompts are not asked again.
    const stdout = v2l(['codebook', 'build', ...common, '--batch-size', '2', '--out', outA, '--quiet']);
    assert.match(stdout, /STAND-IN/);
    const rep = JSON.parse(readFileSync(join(outA, 'report.json'), 'utf8')) as BuildReport;
    assert.equal(rep.stages.expand.resumed, donePrompts);
    // Subwords that carry no text (stories260K's <unk>, <s>, </s>) are never asked (continuations -1).
    const skipped = (rep.manifest.expansion!.skippedSubwords?.length ?? 0) * 2;
    assert.equal(skipped, 6);
    const skippedDone = before.reduce((n, b) => n + b.next.filter((id) => id < 0).length, 0);
    assert.equal(rep.stages.expand.computed, 1024 - donePrompts - (skipped - skippedDone));
    const after = journalBatches(outA);
    const keys = after.map((b) => `${b.phase}:${b.start}`);
    assert.equal(new Set(keys).size, keys.length, 'no batch journaled twice');
    assert.equal(after.reduce((n, b) => n + b.next.length, 0), 1024);

    // Run 3: uninterrupted, in a fresh folder.
    const outB = join(tmp, 'b');
    v2l(['codebook', 'build', ...common, '--out', outB, '--quiet']);
    const a = loadCodebook(outA);
    const b = loadCodebook(outB);
    assert.equal(a.local.length / a.dim, 512);
    assert.deepEqual(a.localTexts, b.localTexts);
    assert.deepEqual(a.globalEntries, b.globalEntries);
    assert.deepEqual(a.manifest.counts, b.manifest.counts);
    let maxDiff = 0;
    for (let i = 0; i < a.local.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.local[i] - b.local[i]));
    for (let i = 0; i < a.global.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.global[i] - b.global[i]));
    assert.ok(maxDiff < 1e-5, `embeddings differ by ${maxDiff}`);

    // The package: real bigrams and trigrams of stories260K, 150 entries, the stand-in flagged.
    const m = a.manifest;
    assert.equal(m.clip.isStandIn, true);
    assert.equal(m.counts.global, 150);
    assert.equal(m.counts.candidatesBeforeDedupe, 1536);
    assert.ok(m.counts.candidates < 1536);
    const multi = a.globalEntries.filter((e) => (e.ids?.length ?? 0) > 1);
    assert.ok(multi.length > 0, 'some bigrams or trigrams survive the filter');
    const cands = JSON.parse(readFileSync(join(outA, 'work', 'candidates.json'), 'utf8')) as { candidates: { ids: number[]; text: string }[] };
    assert.ok(cands.candidates.some((c) => c.text === 'Once upon a' || c.text === 'upon a time'), 'TinyStories phrases are among the candidates');
    assert.ok(a.globalEntries.reduce((s, e) => s + (e.count ?? 0), 0) <= 40 * 5, 'at most k hits per image');

    // Training loads CLIP's vision tower only: the fingerprint names the folder, so the package loads.
    const vision = await loadClip(clipDir, { towers: { vision: true, text: false } });
    assert.equal(vision.fingerprint, m.clip.fingerprint);
    assert.equal(loadCodebook(outA, { clip: { id: vision.id, fingerprint: vision.fingerprint, dim: vision.dim } }).global.length, 150 * 768);
    assert.throws(() => loadCodebook(outA, { clip: { id: 'other', fingerprint: '0'.repeat(64), dim: 768 } }), /built with CLIP/);
    await vision.dispose();

    // A rerun computes nothing: everything comes from the journal and the caches.
    v2l(['codebook', 'build', ...common, '--out', outA, '--quiet']);
    const again = JSON.parse(readFileSync(join(outA, 'report.json'), 'utf8')) as BuildReport;
    assert.deepEqual([again.stages.local.computed, again.stages.expand.computed, again.stages.embed.computed, again.stages.filter.computed], [0, 0, 0, 0]);

    // A folder locked by a live process (here: this test's parent) is refused, and nothing is touched.
    const outC = join(tmp, 'c');
    mkdirSync(join(outC, 'work'), { recursive: true });
    writeFileSync(join(outC, 'work', 'build.lock'), String(process.ppid));
    const locked = spawnSync(process.execPath, v2lArgs(['codebook', 'build', ...common, '--out', outC, '--quiet']), { cwd, encoding: 'utf8' });
    assert.notEqual(locked.status, 0);
    assert.match(locked.stderr, new RegExp(`\\(a codebook build\\) is being written by another run \\(pid ${process.ppid}`));
    assert.deepEqual(readdirSync(join(outC, 'work')), ['build.lock']);

    // inspect and interpret through the CLI.
    const ins = v2l(['codebook', 'inspect', outA]);
    assert.match(ins, /local codebook: 512 x 768/);
    assert.match(ins, /global codebook: 150 x 768 \(subwords \d+, bigrams \d+, trigrams \d+\)/);
    assert.match(ins, /STAND-IN/);
    const img = join(IMAGES, readdirSync(IMAGES).sort()[3]);
    const interp = v2l(['interpret', img, '--codebook', outA, '--clip', clipDir, '--llm', STORIES, '--k', '3']);
    assert.match(interp, /top 3 global tokens/);
    assert.equal(interp.split('\n').filter((l) => /distance \d/.test(l)).length, 3);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a global codebook with 0 rows is refused at build time with the numbers and what to change; few rows warn', async () => {
  const { checkKept } = await import('./build.js');
  const hits = Uint32Array.from([3, 0, 7, 1]);
  const lines: string[] = [];
  assert.throws(() => checkKept(0, hits, { threshold: 100 }, 5, 2, 4, (l) => lines.push(l)),
    /0 rows \(2 images x top-5 = 10 hits over 4 candidates \(mean 2\.50, most hit entry 7\); keep rule: more than 100 hits\)\. lower --threshold \(below 7\), keep a fixed number with --top-n/);
  checkKept(2, hits, { threshold: 2 }, 5, 2, 4, (l) => lines.push(l));
  assert.match(lines[0], /^warning: the global codebook has only 2 rows, fewer than the 5 global tokens/);
  checkKept(5, hits, { threshold: 0 }, 5, 2, 4, (l) => lines.push(l));
  assert.equal(lines.length, 1);
});
