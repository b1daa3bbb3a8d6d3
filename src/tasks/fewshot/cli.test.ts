// `v2l fewshot` end to end in a child process, on real things: Tiny-ImageNet images, a tokenizer network
// built here (random weights) with a STAND-IN codebook and the STAND-IN CLIP, and real GGUF LLMs
// (llama2-vocab-random-tiny: LLaMA-2's 32,000-token vocabulary, random weights; stories260K: context 128).
// Figures are meaningless; what is tested is the plumbing: kill -9 + resume equals an uninterrupted run,
// episodes written and read back, and bad inputs refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';
import { taskFixture, FIXTURE_LLMS, CLIP_MERGES } from '../test-utils/fixtures.js';
import type { FewshotRecord } from './run.js';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';

const TINY = sharedPath('data/tiny-imagenet-val');
const skip = skipUnless([join(TINY, 'val_annotations.txt'), FIXTURE_LLMS['llama2-vocab-random-tiny'], FIXTURE_LLMS.stories260K, CLIP_MERGES], 'Tiny-ImageNet, the two test LLMs and the CLIP tokenizer');
const MAIN = new URL('../../cli/main.ts', import.meta.url).href;
const RUNNER = `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
const cwd = new URL('../../../', import.meta.url).pathname;
const args = (a: string[]) => ['--import', 'tsx', '-e', RUNNER, ...a];

function v2l(a: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, args(a), { cwd, encoding: 'utf8' });
}

async function common(llm: 'llama2-vocab-random-tiny' | 'stories260K', tmp: string): Promise<string[]> {
  const fx = await taskFixture({ llm });
  return ['fewshot', '--checkpoint', fx.checkpoint, '--codebook', fx.codebook, '--clip', fx.clip, '--llm', fx.llmPath, '--threads', '1', '--cache-dir', join(tmp, 'cache'), '-q'];
}

const lines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);

test('v2l fewshot: killed with SIGKILL mid-run and resumed, the records equal an uninterrupted run', { skip, timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-fewshot-cli-'));
  try {
    const base = [...(await common('llama2-vocab-random-tiny', tmp)), '--dataset', TINY, '--ways', '2', '--shots', '1', '--episodes', '16', '--seed', '3', '--protocol', 'reference', '--decoding', 'reference'];
    const whole = join(tmp, 'whole.jsonl');
    const w = v2l([...base, '--out', whole]);
    assert.equal(w.status, 0, w.stderr);
    const summary = JSON.parse(w.stdout) as { figures: { episodes: number }; notes: string[]; llm: { evaluatedTokens: number } };
    assert.equal(summary.figures.episodes, 16);
    assert.ok(summary.notes.some((n) => n.startsWith('MEANINGLESS')));

    const part = join(tmp, 'part.jsonl');
    const child = spawn(process.execPath, args([...base, '--out', part]), { cwd, stdio: 'ignore' });
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    const t0 = Date.now();
    while (Date.now() - t0 < 120_000) {
      if (existsSync(part) && lines(part).length >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const before = lines(part).length;
    assert.ok(before >= 3 && before < 16, `killed after ${before} records`);
    const r = v2l([...base, '--out', part]);
    assert.equal(r.status, 0, r.stderr);
    const s2 = JSON.parse(r.stdout) as { units: { resumed: number } };
    assert.ok(s2.units.resumed >= before);
    assert.equal(readFileSync(part, 'utf8'), readFileSync(whole, 'utf8'));

    // Two runs on one --out: the second is refused at once, naming the first's pid; the first's records
    // are exact (each unit once, equal to the uninterrupted run's).
    const shared = join(tmp, 'shared.jsonl');
    const first = spawn(process.execPath, args([...base, '--out', shared]), { cwd, stdio: 'ignore' });
    const firstExit = new Promise<number | null>((res) => first.on('exit', (code) => res(code)));
    const t1 = Date.now();
    while (!existsSync(`${shared}.lock`) && Date.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 10));
    first.kill('SIGSTOP'); // held while it holds the lock, however fast the machine
    const second = v2l([...base, '--out', shared]);
    first.kill('SIGCONT');
    assert.notEqual(second.status, 0);
    assert.match(second.stderr, new RegExp(`shared\\.jsonl is being written by another run \\(pid ${first.pid}`));
    assert.equal(await firstExit, 0);
    assert.equal(readFileSync(shared, 'utf8'), readFileSync(whole, 'utf8'));

    // the records: reference prompt ids start with BOS + the reference instruction; 16 generated ids
    const rec = JSON.parse(lines(whole)[0]!) as FewshotRecord;
    assert.deepEqual(rec.prompt_ids.slice(0, 5), [1, 1152, 1269, 310, 278]); // <s> ▁For ▁each ▁of ▁the
    assert.equal(rec.generated_ids.length, 16);
    assert.equal(rec.support.length, 2);
    assert.equal(rec.query.global_ids.length, 5);

    // every record's prompt ids follow tasks-spec.md §1's formula, from its own tokens and labels
    const vocabOnly = await LlamaCppLLM.load(FIXTURE_LLMS['llama2-vocab-random-tiny'], { vocabOnly: true });
    try {
      const enc = (t: string) => vocabOnly.tokenize(t);
      const IN = [835, 13, 4290, 29901, 529, 29871];
      const OUT = [29871, 1405, 13, 6466, 29901, 29871];
      for (const line of lines(whole)) {
        const x = JSON.parse(line) as FewshotRecord;
        const names = [...new Set(x.support.map((y) => y.label))].sort();
        const expected = [1, ...(await enc(`For each of the following input output pairs, output is one of ${names.map((n) => `['${n}'`).join(' or ')}]\n`))];
        for (const y of x.support) expected.push(...IN, ...(await enc(y.global_texts.join(''))), ...OUT, ...(await enc(y.label)));
        expected.push(...IN, ...(await enc(x.query.global_texts.join(''))), ...OUT);
        assert.deepEqual(x.prompt_ids, expected, `unit ${x.unit}`);
      }
    } finally {
      await vocabOnly.dispose();
    }

    // written episodes read back through --split give the same prompts
    const csv = join(tmp, '2_way_1_shot.csv');
    const again = join(tmp, 'again.jsonl');
    const a = v2l([...base, '--episodes', '3', '--write-episodes', csv, '--out', join(tmp, 'x.jsonl')]);
    assert.equal(a.status, 0, a.stderr);
    const b = v2l([...(await common('llama2-vocab-random-tiny', tmp)), '--split', csv, '--images', TINY, '--protocol', 'reference', '--decoding', 'reference', '--out', again]);
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(lines(again).map((l) => (JSON.parse(l) as FewshotRecord).prompt_ids), lines(join(tmp, 'x.jsonl')).map((l) => (JSON.parse(l) as FewshotRecord).prompt_ids));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('v2l fewshot: bad inputs are refused before any work, naming what is wrong', { skip, timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-fewshot-bad-'));
  try {
    const tiny = await common('llama2-vocab-random-tiny', tmp);
    // a split line naming a missing image
    const csv = join(tmp, '2_way_1_shot.csv');
    writeFileSync(csv, 'n01443537/val_0.JPEG,n02124075/val_1.JPEG,n01443537/nope.JPEG,\n');
    let r = v2l([...tiny, '--split', csv, '--images', TINY, '--out', join(tmp, 'o.jsonl')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /image\(s\) named by the episodes do not exist: n01443537\/val_0\.JPEG \(.*2_way_1_shot\.csv:1/);
    assert.ok(!existsSync(join(tmp, 'o.jsonl')), 'nothing written');
    // a class with fewer images than K+1
    r = v2l([...tiny, '--dataset', TINY, '--ways', '2', '--shots', '50', '--episodes', '1']);
    assert.match(r.stderr, /have fewer than K\+1 = 51 images/);
    // a codebook built for another vocabulary than the model's
    const sfx = await taskFixture({ llm: 'stories260K' });
    r = v2l(['fewshot', '--checkpoint', sfx.checkpoint, '--codebook', sfx.codebook, '--clip', sfx.clip, '--llm', FIXTURE_LLMS['llama2-vocab-random-tiny'], '--threads', '1', '--cache-dir', join(tmp, 'cache'), '--dataset', TINY, '--ways', '2', '--shots', '1', '--episodes', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /codebook .* does not match the models in use: it has 512 local rows .* the LLM in use has 32000 tokens/);
    // stories260K: 2-way 1-shot fits its 128-token context; 5-way 5-shot is refused with what to change
    const stories = await common('stories260K', tmp);
    r = v2l([...stories, '--dataset', TINY, '--ways', '2', '--shots', '1', '--episodes', '2', '--induction', 'off']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { figures: { episodes: number } }).figures.episodes, 2);
    const refusedOut = join(tmp, 'refused.jsonl');
    r = v2l([...stories, '--dataset', TINY, '--ways', '5', '--shots', '5', '--episodes', '1', '--out', refusedOut]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /more than the 128-token context of .*stories260K/);
    assert.ok(!existsSync(refusedOut) && !existsSync(`${refusedOut}.run.json`), 'a refused run writes nothing: the corrected command is not "another configuration"');
    r = v2l([...stories, '--dataset', TINY, '--ways', '2', '--shots', '1', '--episodes', '1', '--induction', 'off', '--out', refusedOut]);
    assert.equal(r.status, 0, r.stderr);
    // counts: --episodes 1e9 is refused at once (it was a V8 heap crash after minutes); --ways 1 too
    r = v2l([...tiny, '--dataset', TINY, '--ways', '2', '--shots', '1', '--episodes', '1e9']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /1000000000 episodes x 1 query = 1000000000 queries: more than the 1000000 one run holds/);
    r = v2l([...tiny, '--dataset', TINY, '--ways', '1', '--shots', '1', '--episodes', '2']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /a 1-way episode has a single possible answer/);
    // an empty class folder is refused, named
    const ds = join(tmp, 'ds');
    for (const c of ['cat', 'dog', 'empty']) mkdirSync(join(ds, c), { recursive: true });
    for (const c of ['cat', 'dog']) for (const i of [0, 1]) copyFileSync(join(TINY, 'images', `val_${c === 'cat' ? i : 2 + i}.JPEG`), join(ds, c, `${i}.jpg`));
    r = v2l([...tiny, '--dataset', ds, '--ways', '2', '--shots', '1', '--episodes', '1']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /1 class\(es\) have fewer than K\+1 = 2 images: empty \(0\)/);
    // --out naming a folder
    r = v2l([...tiny, '--dataset', TINY, '--ways', '2', '--shots', '1', '--episodes', '1', '--out', tmp]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /is a folder: the output of this command is a JSON-lines file/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('v2l fewshot: an unreadable image fails its episode and the run goes on; --tokens replaces the tokenizer', { skip, timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-fewshot-tok-'));
  try {
    const ds = join(tmp, 'ds');
    const files = readFileSync(join(TINY, 'val_annotations.txt'), 'utf8').split('\n').slice(0, 6).map((l) => l.split('\t')[0]!);
    for (const [c, list] of [['cat', files.slice(0, 3)], ['dog', files.slice(3, 6)]] as const) {
      mkdirSync(join(ds, c), { recursive: true });
      list.forEach((f, i) => copyFileSync(join(TINY, 'images', f), join(ds, c, `${i}.jpg`)));
    }
    writeFileSync(join(ds, 'dog', '3.jpg'), 'not a JPEG');
    const out = join(tmp, 'a.jsonl');
    const r = v2l([...(await common('llama2-vocab-random-tiny', tmp)), '--dataset', ds, '--ways', '2', '--shots', '1', '--episodes', '6', '--seed', '1', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const recs = lines(out).map((l) => JSON.parse(l) as FewshotRecord);
    const failed = recs.filter((x) => x.error);
    assert.ok(failed.length >= 1 && failed.length < 6, `${failed.length} failed`);
    assert.match(failed[0]!.error!, /dog\/3\.jpg/);
    const s = JSON.parse(r.stdout) as { units: { failed: number }; figures: { episodes: number } };
    assert.equal(s.units.failed, failed.length);
    assert.equal(s.figures.episodes, 6 - failed.length);

    // the same tokens from a `v2l tokenize`-style file, no tokenizer: the same prompts
    const tokens = new Map<string, string>();
    for (const x of recs) {
      for (const img of [...x.support, x.query]) {
        if (img.global_ids.length) tokens.set(img.source, JSON.stringify({ source: join(ds, img.source), global: { ids: img.global_ids, tokens: img.global_texts } }));
      }
    }
    const tokFile = join(tmp, 'tokens.jsonl');
    writeFileSync(tokFile, [...tokens.values()].join('\n') + '\n');
    const out2 = join(tmp, 'b.jsonl');
    const tokRun = ['fewshot', '--tokens', tokFile, '--llm', FIXTURE_LLMS['llama2-vocab-random-tiny'], '--threads', '1', '-q'];
    const dsRun = [...tokRun, '--dataset', ds, '--ways', '2', '--shots', '1', '--episodes', '6', '--seed', '1', '--out', out2];
    // An image with no record in the tokens file is refused before any work, named.
    let r2 = v2l(dsRun);
    assert.notEqual(r2.status, 0);
    assert.match(r2.stderr, /1 image\(s\) of .*ds have no record in --tokens .*tokens\.jsonl .*: dog\/3\.jpg/);
    assert.ok(!existsSync(out2) && !existsSync(`${out2}.run.json`), 'a refused run writes nothing');
    // With the error record `v2l tokenize` writes for it, that episode fails and the run goes on.
    writeFileSync(tokFile, [...tokens.values(), JSON.stringify({ source: join(ds, 'dog', '3.jpg'), error: 'not a JPEG' })].join('\n') + '\n');
    r2 = v2l(dsRun);
    assert.equal(r2.status, 0, r2.stderr);
    const recs2 = lines(out2).map((l) => JSON.parse(l) as FewshotRecord);
    assert.deepEqual(recs2.filter((x) => !x.error).map((x) => x.prompt_ids), recs.filter((x) => !x.error).map((x) => x.prompt_ids));
    assert.match(recs2.find((x) => x.error)!.error!, /dog\/3\.jpg: not a JPEG/);

    // A split whose images are nowhere on disk, with tokens recorded under its fields as written
    // (`wnid/file`): matched as written, nothing read.
    const split = join(tmp, '2_way_1_shot.csv');
    const good = recs.filter((x) => !x.error);
    writeFileSync(split, good.map((x) => [...x.support.map((y) => y.source), x.query.source, ''].join(',')).join('\n') + '\n');
    const asWritten = join(tmp, 'as-written.jsonl');
    writeFileSync(asWritten, [...tokens.entries()].map(([src, line]) => JSON.stringify({ ...JSON.parse(line), source: src })).join('\n') + '\n');
    const out3 = join(tmp, 'c.jsonl');
    const r3 = v2l(['fewshot', '--tokens', asWritten, '--llm', FIXTURE_LLMS['llama2-vocab-random-tiny'], '--threads', '1', '-q', '--split', split, '--images', join(tmp, 'no-such-folder-needed'), '--out', out3]);
    assert.notEqual(r3.status, 0, 'an --images folder that does not exist is still named');
    const r4 = v2l(['fewshot', '--tokens', asWritten, '--llm', FIXTURE_LLMS['llama2-vocab-random-tiny'], '--threads', '1', '-q', '--split', split, '--out', out3]);
    assert.equal(r4.status, 0, r4.stderr);
    assert.deepEqual(lines(out3).map((l) => (JSON.parse(l) as FewshotRecord).prompt_ids), good.map((x) => x.prompt_ids));

    // A run whose every unit failed exits nonzero, saying so.
    writeFileSync(tokFile, [...tokens.keys(), 'dog/3.jpg'].map((src) => JSON.stringify({ source: join(ds, src), error: 'unreadable' })).join('\n') + '\n');
    const r5 = v2l([...tokRun, '--dataset', ds, '--ways', '2', '--shots', '1', '--episodes', '3', '--seed', '1', '--out', join(tmp, 'd.jsonl')]);
    assert.equal(r5.status, 1, r5.stderr);
    assert.match(r5.stderr, /every unit of this run failed \(3 of 3\)/);
    assert.equal((JSON.parse(r5.stdout) as { units: { failed: number } }).units.failed, 3);
    // So does a --table run whose settings' units all failed; its JSON counts them.
    const splits = join(tmp, 'splits');
    mkdirSync(splits);
    copyFileSync(split, join(splits, '2_way_1_shot.csv'));
    writeFileSync(asWritten, [...tokens.keys()].map((src) => JSON.stringify({ source: src, error: 'unreadable' })).join('\n') + '\n');
    const r6 = v2l(['fewshot', '--tokens', asWritten, '--llm', FIXTURE_LLMS['llama2-vocab-random-tiny'], '--threads', '1', '-q', '--split', splits, '--table', '--out', join(tmp, 'table')]);
    assert.equal(r6.status, 1, r6.stderr);
    assert.match(r6.stderr, /5 setting\(s\) of the table have no figures: 5tok-2way-1shot-induction0-repeat0 \(every unit of this run failed/);
    const t6 = JSON.parse(r6.stdout) as { units: { total: number; failed: number } };
    assert.deepEqual([t6.units.total, t6.units.failed], [5 * good.length, 5 * good.length]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
