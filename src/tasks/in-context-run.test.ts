// Caption and VQA runs on real GGUF models (llama2-vocab-random-tiny: LLaMA-2's vocabulary, random weights;
// stories260K: context 128) and real easy-VQA / COCO files. Global tokens come from a synthetic provider
// (fixed words per image; the tokenizer is tested elsewhere), so these tests are about the run: the fixed
// in-context block is evaluated once and reused (LLM.stats), a prompt longer than the context is refused
// naming both lengths, a failed image is recorded and the run goes on, and `v2l vqa` killed with SIGKILL
// and resumed writes the same records as an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { LlamaCppLLM } from '../models/llm/llama-cpp.js';
import { queryIds } from '../models/llm/prompt.js';
import type { ImageTokenProvider, TokensResult } from './image-tokens.js';
import { readVqaItems, runVqa } from './vqa/run.js';
import { vqaPrompt } from './vqa/prompt.js';
import { pick, querySeed } from './shots.js';
import { readCaptionItems, runCaption } from './caption/run.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';

const TINY = sharedPath('models/llama2-vocab-random-tiny/llama2-vocab-random-tiny.gguf');
const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const EASY = sharedPath('data/easy-vqa/easy_vqa/data');
const COCO = sharedPath('data/coco-captions/captions.json');
const skip = skipUnless([TINY, STORIES, EASY, COCO], 'the shared GGUF models, easy-VQA and COCO captions');

const WORDS = ['red', 'blue', 'green', 'circle', 'square', 'triangle', 'shape', 'color', 'small', 'large', 'dog', 'cat'];
const wordsOf = (source: string, k: number) => {
  const n = Number.parseInt(basename(source), 10) || basename(source).length;
  return Array.from({ length: k }, (_, j) => WORDS[(n * 7 + j * 5) % WORDS.length]!);
};

/** Synthetic global tokens (a stand-in for the tokenizer); `fail` lists sources to report as unreadable. */
function syntheticTokens(fail: string[] = []): ImageTokenProvider {
  const global = async (sources: readonly string[], k: number): Promise<TokensResult[]> => sources.map((source) => (fail.includes(source)
    ? { source, error: `cannot decode ${source}` }
    : { source, global: { ids: Array.from({ length: k }, (_, j) => j), texts: wordsOf(source, k) } }));
  return { id: 'synthetic', isStandIn: true, global, all: global };
}

test('vqa: the fixed in-context block is evaluated once and reused; a failed image is recorded', { skip, timeout: 120_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-vqa-'));
  const llm = await LlamaCppLLM.load(TINY, { threads: 1, gpu: false });
  try {
    const pool = readVqaItems(join(EASY, 'train/questions.json')).items.slice(0, 300);
    const test0 = readVqaItems(join(EASY, 'test/questions.json')).items;
    const ofImage = (n: number) => test0.filter((q) => basename(q.image) === `${n}.png`).slice(0, 4);
    const queries = [...ofImage(0), ...ofImage(1)];
    const common = { llm, pool, queries, shots: 10, seed: 3, k: 5, maxTokens: 4, protocol: 'v2l' as const, inputs: {} };
    const out = join(tmp, 'fixed.jsonl');
    const s = await runVqa({ ...common, tokens: syntheticTokens([join(EASY, 'test/images/1.png')]), resample: false, out });

    // The block, rebuilt from the shots the run recorded, gives the prefix length.
    const block = (JSON.parse(readFileSync(`${out}.run.json`, 'utf8')) as { shotBlock: number[] }).shotBlock;
    assert.equal(block.length, 10);
    const p = await vqaPrompt(block.map((i) => ({ globalTexts: wordsOf(pool[i]!.image, 5), question: pool[i]!.question, answer: pool[i]!.answers[pick(pool[i]!.answers.length, querySeed(3 ^ 0x5bd1e995, i))]! })),
      { globalTexts: wordsOf(queries[0]!.image, 5), question: queries[0]!.question }, 'v2l', (t) => llm.tokenize(t));
    const vocab = await llm.vocabulary();
    const { prefixLength, ids } = await queryIds(p.prompt, { tokenize: (t) => llm.tokenize(t), bos: vocab.bos }, { prefix: p.prefix });
    assert.ok(prefixLength > 150, `prefix ${prefixLength} tokens`);

    const recs = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; error?: string; prediction?: string; accuracy?: number });
    assert.deepEqual(recs.map((r) => r.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    const failed = recs.filter((r) => r.error);
    assert.ok(failed.length >= 1 && failed.every((r) => /cannot decode .*1\.png/.test(r.error!)), 'the 1.png questions are failed units');
    const answered = recs.length - failed.length;
    assert.equal(s.units.failed, failed.length);
    assert.ok(recs.filter((r) => !r.error).every((r) => typeof r.prediction === 'string' && typeof r.accuracy === 'number'));
    // Evaluated: the block once, plus per question its line and a few generated tokens.
    const perQuery = ids.length - prefixLength + 4 + 2;
    assert.ok(s.llm!.evaluatedTokens <= prefixLength + answered * perQuery, `evaluated ${s.llm!.evaluatedTokens} > ${prefixLength} + ${answered} x ${perQuery}`);
    assert.ok(s.llm!.reusedTokens >= (answered - 1) * prefixLength, `reused ${s.llm!.reusedTokens} < ${answered - 1} x ${prefixLength}`);

    // Drawing shots per query evaluates a new block every time.
    const r = await runVqa({ ...common, tokens: syntheticTokens(), resample: true, out: join(tmp, 'resampled.jsonl') });
    t.diagnostic(`prefix ${prefixLength} tokens; fixed block: ${s.llm!.evaluatedTokens} evaluated, ${s.llm!.reusedTokens} reused; per-query shots: ${r.llm!.evaluatedTokens} evaluated`);
    assert.ok(r.llm!.evaluatedTokens > 4 * s.llm!.evaluatedTokens, `resampled ${r.llm!.evaluatedTokens} vs fixed ${s.llm!.evaluatedTokens}`);
  } finally {
    await llm.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('caption: a prompt longer than stories260K\'s context is refused naming both lengths; fewer shots run', { skip, timeout: 120_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-caption-'));
  const llm = await LlamaCppLLM.load(STORIES, { threads: 1, gpu: false });
  try {
    const pool = readCaptionItems(COCO);
    const common = { llm, tokens: syntheticTokens(), pool, queries: null, seed: 0, resample: false, maxTokens: 8, protocol: 'v2l' as const, inputs: {} };
    await assert.rejects(runCaption({ ...common, shots: 10, k: 21, out: join(tmp, 'a.jsonl') }),
      /the prompt of query 0 .* is \d+ tokens \(\d+ of them the 10 shots, 21 global tokens per image\) plus up to 8 generated: more than the 128-token context of .*stories260K\.gguf; lower --shots/);
    const s = await runCaption({ ...common, shots: 1, k: 3, out: join(tmp, 'b.jsonl') });
    assert.equal(s.units.done, 11);
    assert.equal(typeof s.figures.bleu4, 'number');
    assert.ok(s.notes.some((n) => /STAND-IN/.test(n)));
  } finally {
    await llm.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});

const MAIN = new URL('../cli/main.ts', import.meta.url).href;
const RUNNER = `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
const cwd = new URL('../../', import.meta.url).pathname;
const v2lArgs = (args: string[]) => ['--import', 'tsx', '-e', RUNNER, ...args];

test('v2l vqa: killed with SIGKILL and resumed equals an uninterrupted run; bad input is refused naming the line', { skip, timeout: 240_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-vqa-cli-'));
  try {
    // `v2l tokenize`-style records for every easy-VQA image (synthetic words).
    const lines: string[] = [];
    for (const split of ['train', 'test']) {
      const n = split === 'train' ? 4000 : 1000;
      for (let i = 0; i < n; i++) {
        const source = join(EASY, split, 'images', `${i}.png`);
        lines.push(JSON.stringify({ source, global: { ids: [0, 1, 2, 3, 4], tokens: wordsOf(source, 5) } }));
      }
    }
    const tokens = join(tmp, 'tokens.jsonl');
    writeFileSync(tokens, lines.join('\n') + '\n');
    const common = ['vqa', '--examples', join(EASY, 'train/questions.json'), '--queries', join(EASY, 'test/questions.json'), '--limit', '150',
      '--tokens', tokens, '--llm', TINY, '--global-tokens', '5', '--shots', '10', '--quiet'];

    const full = join(tmp, 'full.jsonl');
    const a = spawnSync(process.execPath, v2lArgs([...common, '--out', full]), { cwd, encoding: 'utf8' });
    assert.equal(a.status, 0, a.stderr);
    const summary = JSON.parse(a.stdout) as { units: { done: number }; figures: { accuracy: number } };
    assert.equal(summary.units.done, 150);
    assert.match(a.stderr, /vqa \(protocol v2l\): questions 150, accuracy/);

    const part = join(tmp, 'part.jsonl');
    const child = spawn(process.execPath, v2lArgs([...common, '--out', part]), { cwd, stdio: 'ignore' });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    let killedAt = -1;
    for (let t = 0; t < 1200 && killedAt < 0; t++) {
      await new Promise((res) => setTimeout(res, 25));
      const n = existsSync(part) ? readFileSync(part, 'utf8').split('\n').length - 1 : 0;
      if (n >= 5) {
        child.kill('SIGKILL');
        killedAt = n;
      }
    }
    await exited;
    assert.ok(killedAt >= 5 && killedAt < 150, `killed after ${killedAt} records`);
    const b = spawnSync(process.execPath, v2lArgs([...common, '--out', part]), { cwd, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const resumed = JSON.parse(b.stdout) as { units: { resumed: number } };
    assert.ok(resumed.units.resumed >= 5);
    assert.equal(readFileSync(part, 'utf8'), readFileSync(full, 'utf8'));

    // Another configuration is refused on resume, naming the field.
    const c = spawnSync(process.execPath, v2lArgs([...common.map((x) => (x === '10' ? '9' : x)), '--out', part]), { cwd, encoding: 'utf8' });
    assert.notEqual(c.status, 0);
    assert.match(c.stderr, /another configuration \(.*shots: 10 -> 9/);

    // A malformed JSON line and an example naming a missing image are refused before any work.
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, `{"image": "${join(EASY, 'test/images/0.png')}", "question": "q?", "answer": "a"}\n{"image": "x.png", "question": \n`);
    const d = spawnSync(process.execPath, v2lArgs([...common.slice(0, 2), bad, ...common.slice(3), '--out', join(tmp, 'd.jsonl')]), { cwd, encoding: 'utf8' });
    assert.notEqual(d.status, 0);
    assert.match(d.stderr, /bad\.jsonl:2: not a JSON line/);
    writeFileSync(bad, `{"image": "${join(EASY, 'test/images/0.png')}", "question": "q?", "answer": "a"}\n{"image": "missing.png", "question": "q?", "answer": "a"}\n`);
    const e = spawnSync(process.execPath, v2lArgs([...common.slice(0, 2), bad, ...common.slice(3), '--out', join(tmp, 'e.jsonl')]), { cwd, encoding: 'utf8' });
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /1 in-context example\(s\) names a missing image: .*bad\.jsonl:2: .*missing\.png/);
    assert.ok(!existsSync(join(tmp, 'e.jsonl')), 'nothing written');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
