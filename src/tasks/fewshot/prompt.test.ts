// The few-shot prompts against ids derived by hand (tasks-spec.md §1) with the real LLaMA-2 vocabulary
// (../shared/models/llama2-vocab-random-tiny, loaded vocab-only: LLaMA-2's real 32,000-token vocabulary):
// the reference protocol id for id, the paper protocol's text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';
import { buildFewshotPrompt, encodePrompt, answerIds, referenceInstruction, renderPrompt, uniqueSorted, type FewshotTokenizer } from './prompt.js';

const VOCAB = sharedPath('models/llama2-vocab-random-tiny/llama2-vocab-random-tiny.gguf');
const skip = skipUnless(VOCAB, 'the LLaMA-2-vocabulary GGUF');
let llm: LlamaCppLLM;
let tok: FewshotTokenizer;
let idOf: (piece: string) => number;
before(async () => {
  if (skip) return;
  llm = await LlamaCppLLM.load(VOCAB, { vocabOnly: true });
  tok = { tokenize: (t) => llm.tokenize(t), bos: 1 };
  const v = await llm.vocabulary();
  const m = new Map(v.tokens.map((t, i) => [t, i]));
  idOf = (p) => {
    const id = m.get(p);
    if (id === undefined) throw new Error(`no token ${JSON.stringify(p)}`);
    return id;
  };
});
after(async () => {
  await llm?.dispose();
});

// tasks-spec.md §1, literally.
const IN = [835, 13, 4290, 29901, 529, 29871];
const OUT = [29871, 1405, 13, 6466, 29901, 29871];
const GOLDFISHFISH = [7684, 15161, 15161];

const episode = {
  support: [
    { globalTexts: ['goldfish', 'fish'], label: 'tench' },
    { globalTexts: ['goldfish', 'fish'], label: 'golden_retriever' },
  ],
  query: { globalTexts: ['goldfish', 'fish'] },
};

test('names sort as numpy sorts Python strings: by code point, uppercase first', () => {
  assert.deepEqual(uniqueSorted(['tench', 'French_bulldog', 'tench', 'axolotl']), ['French_bulldog', 'axolotl', 'tench']);
  assert.equal(referenceInstruction(['A', 'B']), "For each of the following input output pairs, output is one of ['A' or ['B']\n");
});

test('reference protocol, induction on: BOS once, every piece encoded on its own, unbalanced brackets', { skip }, async () => {
  const seg = buildFewshotPrompt({ protocol: 'reference', induction: true, repeats: 0, ...episode });
  const { ids, spans } = await encodePrompt(seg, 'reference', tok);
  const instruction = ['▁For', '▁each', '▁of', '▁the', '▁following', '▁input', '▁output', '▁pairs', ',', '▁output', '▁is', '▁one', '▁of',
    "▁['", 'g', 'old', 'en', '_', 're', 'tr', 'ie', 'ver', "'", '▁or', "▁['", 'ten', 'ch', "']", '<0x0A>'].map(idOf);
  const tench = ['▁ten', 'ch'].map(idOf); // as a label: with the dummy "▁"
  const golden = ['▁golden', '_', 're', 'tr', 'ie', 'ver'].map(idOf);
  const expected = [1, ...instruction, ...IN, ...GOLDFISHFISH, ...OUT, ...tench, ...IN, ...GOLDFISHFISH, ...OUT, ...golden, ...IN, ...GOLDFISHFISH, ...OUT];
  assert.deepEqual(ids, expected);
  assert.equal(instruction[instruction.length - 1], 13);
  // spans cover the ids, in order, and mark the images
  assert.deepEqual(spans.map(([a, b]) => ids.slice(a, b)).flat(), ids);
  const images = seg.map((s, i) => [s, spans[i]!] as const).filter(([s]) => s.kind === 'image');
  assert.deepEqual(images.map(([s]) => s.ref), [0, 1, -1]);
  for (const [, [a, b]] of images) assert.deepEqual(ids.slice(a, b), GOLDFISHFISH);
  assert.deepEqual(await answerIds('reference', 'golden_retriever', tok), golden);
});

test('reference protocol, induction off: the prompt starts [1, 835, ...]; repeats copy the whole support block', { skip }, async () => {
  const seg = buildFewshotPrompt({ protocol: 'reference', induction: false, repeats: 2, ...episode });
  const { ids } = await encodePrompt(seg, 'reference', tok);
  const tench = [idOf('▁ten'), idOf('ch')];
  const golden = ['▁golden', '_', 're', 'tr', 'ie', 'ver'].map(idOf);
  const block = [...IN, ...GOLDFISHFISH, ...OUT, ...tench, ...IN, ...GOLDFISHFISH, ...OUT, ...golden];
  assert.deepEqual(ids, [1, ...block, ...block, ...block, ...IN, ...GOLDFISHFISH, ...OUT]);
});

test('paper protocol: one natural text, tokenized as the model tokenizes it', { skip }, async () => {
  const seg = buildFewshotPrompt({ protocol: 'paper', induction: true, repeats: 0, ...episode });
  const text = seg.map((s) => s.text).join('');
  assert.equal(text, 'For each of the following input-output pairs, output is one of [“golden retriever”, “tench”]. Input: goldfish fish, output: tench. Input: goldfish fish, output: golden retriever. Input: goldfish fish, output:');
  const { ids } = await encodePrompt(seg, 'paper', tok);
  assert.deepEqual(ids, [1, ...(await llm.tokenize(text))], 'piece by piece equals the whole text (pieces split at spaces)');
  assert.deepEqual(await answerIds('paper', 'golden_retriever', tok), ['▁golden', '▁retr', 'ie', 'ver'].map(idOf));
  assert.match(renderPrompt(seg), /^<s>For each.* Input: ⟦img 0: goldfish fish⟧, output: ⟪tench⟫\. Input: ⟦img 1: goldfish fish⟧.* ⟦query: goldfish fish⟧, output:$/);
});

test('paper protocol without induction starts with "Input:"', { skip }, async () => {
  const seg = buildFewshotPrompt({ protocol: 'paper', induction: false, repeats: 1, ...episode });
  const text = seg.map((s) => s.text).join('');
  assert.ok(text.startsWith('Input: goldfish fish, output: tench. Input:'));
  assert.equal(text.split('output: tench.').length - 1, 2, 'one repeat: the support block twice');
  const { ids } = await encodePrompt(seg, 'paper', tok);
  assert.deepEqual(ids, [1, ...(await llm.tokenize(text))]);
});

test('bad input: negative repeats, an empty support, a model without BOS', async () => {
  assert.throws(() => buildFewshotPrompt({ protocol: 'paper', induction: true, repeats: -1, ...episode }), /repeats/);
  assert.throws(() => buildFewshotPrompt({ protocol: 'paper', induction: true, repeats: 0, support: [], query: episode.query }), /support/);
  const seg = buildFewshotPrompt({ protocol: 'reference', induction: true, repeats: 0, ...episode });
  await assert.rejects(encodePrompt(seg, 'reference', { tokenize: () => [5] }), /BOS/);
});
