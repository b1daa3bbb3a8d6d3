// The episode loop on synthetic episodes with the deterministic overlap LLM (a test double over the real
// LLaMA-2 tokenizer): 100% in every protocol x decoding x induction setting shows the right tokens reach the
// right places; records, resume after an interruption, prefix reuse, unreadable images.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { tokenizeContinuation } from '../../models/llm/prompt.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';
import type { ImageTokenProvider, TokensResult } from '../image-tokens.js';
import { OverlapLLM, type OverlapMarkers } from './test-utils/overlap-llm.js';
import { sampleEpisodes, type Episode } from './episodes.js';
import { runFewshot, type FewshotRecord, type FewshotRunOptions } from './run.js';
import { buildFewshotPrompt, encodePrompt, REFERENCE_IN, REFERENCE_OUT, type FewshotProtocol } from './prompt.js';

const VOCAB = sharedPath('models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const skip = skipUnless(VOCAB, 'the LLaMA-2 tokenizer');
let base: LlamaCppLLM;
let markers: Record<FewshotProtocol, OverlapMarkers>;
before(async () => {
  if (skip) return;
  base = await LlamaCppLLM.load(VOCAB, { vocabOnly: true });
  const tok = { tokenize: (t: string) => base.tokenize(t) };
  markers = {
    reference: { input: await base.tokenize(REFERENCE_IN), output: await base.tokenize(REFERENCE_OUT) },
    paper: { input: await tokenizeContinuation(tok, ' Input:'), output: await tokenizeContinuation(tok, ', output:'), end: await tokenizeContinuation(tok, '.') },
  };
});
after(async () => {
  await base?.dispose();
});

// Five synthetic classes; an image's global tokens are 4 of its class's words and one word shared by all.
const WORDS: Record<string, string[]> = {
  n01: ['apple', 'banana', 'cherry', 'grape', 'lemon', 'melon'],
  n02: ['river', 'ocean', 'lake', 'stream', 'pond', 'harbor'],
  n03: ['hammer', 'nail', 'saw', 'drill', 'wrench', 'chisel'],
  n04: ['violin', 'piano', 'guitar', 'drum', 'flute', 'trumpet'],
  n05: ['tiger', 'lion', 'zebra', 'horse', 'sheep', 'rabbit'],
};
const NAMES: Record<string, string> = { n01: 'golden_retriever', n02: 'tench', n03: 'French_bulldog', n04: 'axolotl', n05: 'tree_frog' };
const classes = new Map(Object.keys(WORDS).map((w) => [w, Array.from({ length: 8 }, (_, i) => `${w}/img${i}.jpg`)]));

function textsOf(field: string): string[] {
  const [w, f] = field.split('/') as [string, string];
  const i = Number(/\d+/.exec(f)![0]);
  const ws = WORDS[w]!;
  // A leading space, so that the reference's glued texts stay words (" apple banana ...").
  return [ws[i % 6]!, ws[(i + 1) % 6]!, 'thing', ws[(i + 2) % 6]!, ws[(i + 3) % 6]!].map((x) => ' ' + x);
}

/** Tokens of the synthetic images; `bad` sources are unreadable. */
function fakeTokens(bad: Set<string> = new Set()): ImageTokenProvider & { asked: string[] } {
  const asked: string[] = [];
  return {
    id: 'synthetic', isStandIn: false, asked,
    async global(sources, k) {
      asked.push(...sources);
      return sources.map((s): TokensResult => (bad.has(s) ? { source: s, error: `cannot read ${s}: EACCES` } : { source: s, global: { ids: textsOf(s).map((_, i) => i), texts: textsOf(s).slice(0, k) } }));
    },
    async all() {
      throw new Error('not used');
    },
  };
}

function options(llm: OverlapLLM, episodes: Episode[], o: Partial<FewshotRunOptions>): FewshotRunOptions {
  return {
    episodes, resolve: (f) => f, className: (w) => NAMES[w]!, tokens: fakeTokens(), llm, globalTokens: 5,
    induction: true, repeats: 0, protocol: 'reference', decoding: 'trie', ...o,
  };
}

for (const protocol of ['reference', 'paper'] as const) {
  for (const decoding of ['trie', 'reference'] as const) {
    for (const induction of [true, false]) {
      test(`100% on synthetic 5-way 1-shot episodes: protocol ${protocol}, decoding ${decoding}, induction ${induction ? 'on' : 'off'}`, { skip }, async () => {
        const llm = await OverlapLLM.create(base, markers[protocol]);
        const episodes = sampleEpisodes(classes, { ways: 5, shots: 1, episodes: 6, seed: 7 });
        const { records, summary } = await runFewshot(options(llm, episodes, { protocol, decoding, induction, repeats: 1 }));
        assert.equal(records.length, 6);
        for (const r of records) {
          assert.equal(r.prediction, r.truth, `unit ${r.unit}: ${r.generated_text}`);
          assert.ok(r.correct);
          assert.equal(r.support.length, 5);
        }
        assert.equal(summary.figures.accuracy, 1);
        assert.equal(summary.figures.episodes, 6);
        assert.ok((summary.figures.ci95_low as number) > 0.5 && summary.figures.ci95_high === 1);
        // prompt_ids are exactly what the prompt builder gives for the recorded tokens
        const r = records[0]!;
        const seg = buildFewshotPrompt({ protocol, induction, repeats: 1, support: r.support.map((s) => ({ globalTexts: s.global_texts, label: s.label })), query: { globalTexts: r.query.global_texts } });
        assert.deepEqual(r.prompt_ids, (await encodePrompt(seg, protocol, { tokenize: (t) => base.tokenize(t), bos: 1 })).ids);
        if (decoding === 'reference') assert.equal(r.generated_ids.length, 16, 'the reference always generates 16 ids');
      });
    }
  }
}

test('a deranged pairing fails: answers follow the support labels, not a fixed class', { skip }, async () => {
  // Names swapped between support and truth: the overlap LLM answers the support label, so accuracy is 0.
  const llm = await OverlapLLM.create(base, markers.reference);
  const episodes = sampleEpisodes(classes, { ways: 2, shots: 2, episodes: 4, seed: 1 });
  const swap: Record<string, string> = {};
  const { records } = await runFewshot({
    ...options(llm, episodes, {}),
    className: (w) => (swap[w] ??= NAMES[w]!),
    resolve: (f) => f,
  });
  assert.ok(records.every((r) => r.correct));
  // Now give the query an image of the other class's words: predictions must follow the tokens.
  const moved = episodes.map((e) => ({ ...e, queries: e.queries.map((q) => ({ ...q, field: e.support.find((s) => s.wnid !== q.wnid)!.field.replace(/img\d+/, 'img7') })) }));
  const r2 = await runFewshot(options(await OverlapLLM.create(base, markers.reference), moved, {}));
  assert.equal(r2.summary.figures.accuracy, 0, 'query tokens of the other class must give the other label');
});

test('several queries per episode share the support block: fewer tokens evaluated than without reuse', { skip }, async () => {
  const llm = await OverlapLLM.create(base, markers.reference);
  const episodes = sampleEpisodes(classes, { ways: 2, shots: 3, episodes: 2, seed: 3, queriesPerEpisode: 4 });
  assert.equal(episodes[0]!.queries.length, 4);
  const { records, summary } = await runFewshot(options(llm, episodes, {}));
  assert.equal(records.length, 8);
  assert.deepEqual(records.map((r) => r.unit), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(records.map((r) => r.episode), [0, 0, 0, 0, 1, 1, 1, 1]);
  const { evaluatedTokens, reusedTokens } = summary.llm!;
  assert.ok(reusedTokens > evaluatedTokens, `reused ${reusedTokens} vs evaluated ${evaluatedTokens}`);
  assert.equal(summary.figures.accuracy, 1);
});

test('interrupted and resumed: the records file equals an uninterrupted run\'s', { skip }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-fewshot-'));
  try {
    const episodes = sampleEpisodes(classes, { ways: 2, shots: 1, episodes: 5, seed: 11 });
    const whole = join(tmp, 'whole.jsonl');
    const first = await OverlapLLM.create(base, markers.reference);
    await runFewshot(options(first, episodes, { out: whole, decoding: 'reference' }));
    const part = join(tmp, 'part.jsonl');
    const dying = await OverlapLLM.create(base, markers.reference);
    dying.failAfter = Math.floor(first.calls / 2); // inside an episode in the middle
    await assert.rejects(runFewshot(options(dying, episodes, { out: part, decoding: 'reference' })), /interrupted/);
    const kept = readFileSync(part, 'utf8').trim().split('\n').length;
    assert.ok(kept >= 1 && kept < 5, `${kept} records before the interruption`);
    const again = await OverlapLLM.create(base, markers.reference);
    const { summary } = await runFewshot(options(again, episodes, { out: part, decoding: 'reference' }));
    assert.equal(summary.units.resumed, kept);
    assert.ok(again.calls < first.calls && again.calls > 0, `resumed run made ${again.calls} calls of ${first.calls}`);
    assert.equal(readFileSync(part, 'utf8'), readFileSync(whole, 'utf8'));
    // another configuration is refused, naming the field
    await assert.rejects(runFewshot(options(again, episodes, { out: part, decoding: 'reference', repeats: 2 })), /repeats: 0 -> 2/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('an unreadable image marks its episode failed with the reason; the run goes on', { skip }, async () => {
  const episodes = sampleEpisodes(classes, { ways: 2, shots: 1, episodes: 4, seed: 5 });
  const badField = episodes[1]!.queries[0]!.field;
  const llm = await OverlapLLM.create(base, markers.reference);
  const { records, summary } = await runFewshot(options(llm, episodes, { tokens: fakeTokens(new Set([badField])) }));
  const failed = records.filter((r) => r.error);
  assert.ok(failed.length >= 1);
  assert.match(failed[0]!.error!, new RegExp(`${badField}.*EACCES`));
  assert.equal(summary.units.failed, failed.length);
  assert.equal(summary.figures.episodes, 4 - failed.length);
  assert.equal(summary.figures.accuracy, 1);
});

test('each image is asked for once per run, however many episodes use it', { skip }, async () => {
  const episodes = sampleEpisodes(classes, { ways: 5, shots: 3, episodes: 10, seed: 2 });
  const tokens = fakeTokens();
  await runFewshot(options(await OverlapLLM.create(base, markers.reference), episodes, { tokens }));
  assert.equal(tokens.asked.length, new Set(tokens.asked).size);
});

test('a prompt longer than the context is refused with what to change', { skip }, async () => {
  const llm = await OverlapLLM.create(base, markers.reference);
  Object.defineProperty(llm, 'contextSize', { value: 64 });
  const episodes = sampleEpisodes(classes, { ways: 5, shots: 1, episodes: 1, seed: 2 });
  await assert.rejects(runFewshot(options(llm, episodes, {})), /the prompt has \d+ tokens .* more than the 64-token context/);
});

test('records carry what the issue asks for', { skip }, async () => {
  const episodes = sampleEpisodes(classes, { ways: 2, shots: 1, episodes: 1, seed: 9 });
  const { records } = await runFewshot(options(await OverlapLLM.create(base, markers.paper), episodes, { protocol: 'paper' }));
  const r: FewshotRecord = records[0]!;
  for (const k of ['unit', 'episode', 'support', 'query', 'prompt_ids', 'generated_ids', 'generated_text', 'prediction', 'truth', 'correct']) assert.ok(k in r, k);
  assert.equal(r.query.global_texts.length, 5);
  assert.equal(typeof r.support[0]!.source, 'string');
  assert.equal(r.generated_text, r.truth.replaceAll('_', ' '));
});
