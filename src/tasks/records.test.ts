// The task run machinery on its own: resumable records (torn tail, config refusal, order), the
// tokens-file provider, global-token text, and the fixture tokenizer through the global-token cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunRecords, configDiff, configFingerprint } from './records.js';
import { tokensFile, tokenizerTokens } from './image-tokens.js';
import { globalText } from './global-text.js';
import { summaryText } from './summary.js';
import { taskFixture, FIXTURE_LLMS, CLIP_MERGES } from './test-utils/fixtures.js';
import { skipUnless, sharedPath } from '../util/test-utils/shared.js';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';

type Rec = { unit: number; value: string };

test('records: appended in order, a torn last line is cut, a resume skips done units', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-records-'));
  try {
    const path = join(dir, 'out.jsonl');
    const a = RunRecords.open<Rec>(path, { task: 't', n: 1 }, (r) => String(r.unit));
    a.append({ unit: 0, value: 'a' });
    a.append({ unit: 1, value: 'b' });
    assert.throws(() => a.append({ unit: 1, value: 'again' }), /already recorded/);
    a.close();
    appendFileSync(path, '{"unit": 2, "val'); // a kill in the middle of a write
    const b = RunRecords.open<Rec>(path, { task: 't', n: 1 }, (r) => String(r.unit));
    assert.equal(b.size, 2);
    assert.ok(b.has('1') && !b.has('2'));
    b.append({ unit: 2, value: 'c' });
    b.close();
    assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).value), ['a', 'b', 'c']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records: another configuration is refused naming the fields; --fresh starts over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-records-'));
  try {
    const path = join(dir, 'out.jsonl');
    const a = RunRecords.open<Rec>(path, { ways: 2, shots: 1 }, (r) => String(r.unit));
    a.append({ unit: 0, value: 'a' });
    a.close();
    assert.throws(() => RunRecords.open<Rec>(path, { ways: 5, shots: 1 }, (r) => String(r.unit)), /ways: 2 -> 5/);
    const b = RunRecords.open<Rec>(path, { ways: 5, shots: 1 }, (r) => String(r.unit), { fresh: true });
    assert.equal(b.size, 0);
    b.close();
    writeFileSync(join(dir, 'foreign.jsonl'), '{"x":1}\n');
    assert.throws(() => RunRecords.open<Rec>(join(dir, 'foreign.jsonl'), {}, (r) => String(r.unit)), /not written by this command/);
    assert.deepEqual(configDiff({ a: 1, b: [1, 2] }, { a: 1, b: [1, 3], c: 'x' }), ['b: [1,2] -> [1,3]', 'c: null -> "x"']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records: lines carry the configuration\'s fingerprint; duplicates count once and are reported; a foreign line is refused naming its unit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-records-'));
  try {
    const path = join(dir, 'out.jsonl');
    const cfg = { task: 't', seed: 7 };
    const a = RunRecords.open<Rec>(path, cfg, (r) => String(r.unit));
    for (let i = 0; i < 4; i++) a.append({ unit: i, value: `v${i}` });
    a.close();
    const text = readFileSync(path, 'utf8');
    assert.equal(JSON.parse(text.split('\n')[0]!).run, configFingerprint(cfg));
    // Three lines duplicated (as a second writer would have left them): each unit counts once.
    const lines = text.trim().split('\n');
    writeFileSync(path, [...lines, lines[1], lines[2], lines[1]].join('\n') + '\n');
    const b = RunRecords.open<Rec>(path, cfg, (r) => String(r.unit));
    assert.equal(b.size, 4);
    assert.deepEqual(b.records.map((r) => r.value), ['v0', 'v1', 'v2', 'v3']);
    assert.deepEqual(b.duplicates, [{ unit: '1', lines: [5, 7] }, { unit: '2', lines: [6] }]);
    assert.match(b.duplicateNote()!, /2 unit\(s\) more than once .*unit 1 \(lines 5, 7\)/);
    b.close();
    // A record of another seed placed among them: refused, naming the unit and the line.
    const other = JSON.stringify({ run: configFingerprint({ task: 't', seed: 8 }), unit: 9, value: 'foreign' });
    writeFileSync(path, [...lines.slice(0, 2), other, ...lines.slice(2)].join('\n') + '\n');
    assert.throws(() => RunRecords.open<Rec>(path, cfg, (r) => String(r.unit)), /out\.jsonl:3: unit 9 was recorded by a run with another configuration/);
    writeFileSync(path, [...lines, JSON.stringify({ unit: 5, value: 'no fingerprint' })].join('\n') + '\n');
    assert.throws(() => RunRecords.open<Rec>(path, cfg, (r) => String(r.unit)), /out\.jsonl:5: unit 5 was recorded by a run that wrote no configuration fingerprint/);
    assert.ok(!existsSync(`${path}.lock`), 'a refused open leaves no lock');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records: a run refused before its first record writes nothing (no run.json, no folder, no lock); --fresh drops old records only at the first append', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-records-'));
  try {
    const path = join(dir, 'new', 'deeper', 'out.jsonl');
    const a = RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit));
    a.close(); // e.g. its prompt did not fit the context
    assert.deepEqual(readdirSync(dir), [], 'nothing left behind');
    const b = RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit));
    b.append({ unit: 0, value: 'a' });
    b.close();
    const c = RunRecords.open<Rec>(path, { n: 2 }, (r) => String(r.unit), { fresh: true });
    c.close(); // refused after opening: the old records and configuration stay
    assert.equal(JSON.parse(readFileSync(`${path}.run.json`, 'utf8')).n, 1);
    assert.equal(RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit)).records.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records: --out naming a folder is refused with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-records-'));
  try {
    mkdirSync(join(dir, 'out'));
    assert.throws(() => RunRecords.open<Rec>(join(dir, 'out'), {}, (r) => String(r.unit)), /out is a folder: the output of this command is a JSON-lines file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A child process that holds `path` open as a records writer until it is killed. */
async function holder(path: string): Promise<ReturnType<typeof spawn>> {
  const code = `import { RunRecords } from ${JSON.stringify(new URL('./records.ts', import.meta.url).href)};
    const r = RunRecords.open(${JSON.stringify(path)}, { n: 1 }, (x) => String(x.unit));
    r.append({ unit: 100, value: 'child' });
    process.stdout.write('held\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = await once(child.stdout!, 'data') as [Buffer];
  assert.equal(chunk.toString().trim(), 'held');
  return child;
}

test('records: two writers on one file: the second is refused at once naming the first\'s pid; a killed writer\'s lock is taken over', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-records-'));
  try {
    const path = join(dir, 'out.jsonl');
    // In one process.
    const a = RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit));
    assert.throws(() => RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit)), new RegExp(`being written by another run \\(pid ${process.pid}`));
    a.close();
    // In another process, which is then killed with -9: its lock stays, names a dead pid, and is taken over.
    const child = await holder(path);
    assert.throws(() => RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit)), new RegExp(`being written by another run \\(pid ${child.pid}`));
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(existsSync(`${path}.lock`), 'kill -9 leaves the lock behind');
    const b = RunRecords.open<Rec>(path, { n: 1 }, (r) => String(r.unit));
    assert.ok(b.has('100'));
    b.append({ unit: 101, value: 'after' });
    b.close();
    assert.ok(!existsSync(`${path}.lock`));
    assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).unit), [100, 101]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokens file: matched by source, k checked, bad lines named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-tokens-'));
  try {
    const path = join(dir, 't.jsonl');
    writeFileSync(path, [
      JSON.stringify({ source: 'a.png', global: { ids: [3, 1, 2], tokens: ['cat', 'fish', 'dog'] }, local: { ids: [[1, 2], [3, 4]], tokens: [] } }),
      JSON.stringify({ source: 'bad.png', error: 'truncated JPEG' }),
    ].join('\n') + '\n');
    const p = tokensFile(path);
    const [a, bad, missing] = await p.all(['a.png', 'bad.png', 'nope.png'], 2);
    assert.deepEqual(a, { source: 'a.png', global: { ids: [3, 1], texts: ['cat', 'fish'] }, local: [[1, 2], [3, 4]] });
    assert.deepEqual(bad, { source: 'bad.png', error: 'truncated JPEG' });
    assert.match((missing as { error: string }).error, /nope\.png is not in/);
    await assert.rejects(p.global(['a.png'], 5), /has 3 global tokens, 5 are needed/);
    assert.equal(p.isStandIn, false);
    assert.match(p.id, /^tokens-file:/);
    writeFileSync(path, '{"source": "x"}\nnot json\n');
    assert.throws(() => tokensFile(path), /t\.jsonl:1: record for x has no global\.ids/);
    // Tokens the built-in demo tokenizer wrote (`demo: true` on every line, errors included) are labelled
    // as the demo is: a stand-in, with a demo- id in every run configuration; a mixed file is refused.
    const demoLines = [
      JSON.stringify({ source: 'a.png', global: { ids: [3, 1], tokens: ['cat', 'fish'] }, demo: true }),
      JSON.stringify({ source: 'bad.png', error: 'truncated JPEG', demo: true }),
    ];
    writeFileSync(path, demoLines.join('\n') + '\n');
    const d = tokensFile(path);
    assert.equal(d.isStandIn, true);
    assert.equal(d.demo, true);
    assert.match(d.id, /^demo-tokens-file:[0-9a-f]{16}$/);
    assert.deepEqual(await d.global(['a.png'], 2), [{ source: 'a.png', global: { ids: [3, 1], texts: ['cat', 'fish'] } }]);
    writeFileSync(path, [...demoLines, JSON.stringify({ source: 'c.png', global: { ids: [3, 1], tokens: ['cat', 'fish'] } })].join('\n') + '\n');
    assert.throws(() => tokensFile(path), /t\.jsonl mixes tokens of the built-in demo tokenizer \(line 1: "demo": true\) with tokens of another \(line 3\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('global text: words (default) and the reference\'s concatenation', () => {
  assert.equal(globalText(['goldfish', 'fish']), 'goldfish fish');
  assert.equal(globalText(['goldfish', 'fish'], 'reference'), 'goldfishfish');
  assert.throws(() => globalText(['a', null]), /global token 1 has no text/);
  assert.match(summaryText({ task: 'fewshot', figures: { accuracy: 0.5 }, units: { total: 4, done: 4, failed: 1, resumed: 2 }, llm: { id: 'm', calls: 3, evaluatedTokens: 10, reusedTokens: 5 }, wallSeconds: 1, notes: ['stand-in'] }),
    /accuracy 0\.5000[\s\S]*1 failed, 2 from an earlier run[\s\S]*3 calls, 10 tokens evaluated, 5 reused[\s\S]*NOTE: stand-in/);
});

const skip = skipUnless([FIXTURE_LLMS.stories260K, CLIP_MERGES, sharedPath('data/photos')], 'stories260K, the CLIP merges and photos');

test('fixture tokenizer: global tokens cached on disk (same ids, no CLIP run the second time), unreadable files fail alone', { skip, timeout: 120_000 }, async () => {
  const fx = await taskFixture({ llm: 'stories260K' });
  const cache = mkdtempSync(join(tmpdir(), 'v2l-gcache-'));
  const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  try {
    assert.equal(tok.gridSize, 16);
    const img = sharedPath('data/photos/astronaut.png');
    const bad = join(cache, 'bad.jpg');
    writeFileSync(bad, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const p = tokenizerTokens(tok, { cacheDir: cache });
    const first = await p.global([img, bad, img], 5);
    assert.ok('global' in first[0] && first[0].global.ids.length === 5);
    assert.ok('error' in first[1]);
    assert.deepEqual(first[2], first[0]);
    // A new provider reads the cache: CLIP is not asked again.
    let calls = 0;
    const embed = tok.clip!.embedImages.bind(tok.clip);
    (tok.clip as { embedImages: typeof embed }).embedImages = async (x) => { calls++; return embed(x); };
    const again = await tokenizerTokens(tok, { cacheDir: cache }).global([img], 5);
    assert.deepEqual(again[0], first[0]);
    assert.equal(calls, 0);
    const all = await p.all([img], 5);
    assert.ok('local' in all[0] && all[0].local!.length === 16 && all[0].local![0].length === 16);
    assert.deepEqual((all[0] as { global: unknown }).global, (first[0] as { global: unknown }).global);
  } finally {
    await tok.dispose();
    rmSync(cache, { recursive: true, force: true });
  }
});
