// The in-context tasks on a byte-level BPE vocabulary: LLaMA-3's real 128,256-token vocabulary
// (llama3-vocab-random-tiny: random weights, so every answer is meaningless) with the task fixture's
// tokenizer (random network, STAND-IN codebook over those 128,256 ids, STAND-IN CLIP). What is tested:
// a 2-way 1-shot episode and one inpainting run through; the prompt's ids are exactly `v2l llm tokenize`
// of the prompt's text (so class names get the ids the model itself gives them after "output:"); local
// ids range over the whole vocabulary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LlamaCppLLM } from '../models/llm/llama-cpp.js';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';
import { taskFixture, FIXTURE_LLMS, CLIP_MERGES, type TaskFixture } from './test-utils/fixtures.js';
import { tokenizerTokens } from './image-tokens.js';
import { openDataset, loadClassNames, classNameOf } from './fewshot/dataset.js';
import { sampleEpisodes } from './fewshot/episodes.js';
import { runFewshot } from './fewshot/run.js';
import { buildFewshotPrompt, answerIds } from './fewshot/prompt.js';
import { restoreImages } from './restore/run.js';

const TINY = sharedPath('data/tiny-imagenet-val');
const PHOTOS = ['dog.jpg', 'coffee.png', 'giraffe.jpg'].map((p) => sharedPath(`data/photos/${p}`));
const skip = skipUnless([FIXTURE_LLMS['llama3-vocab-random-tiny'], join(TINY, 'val_annotations.txt'), CLIP_MERGES, ...PHOTOS], 'the LLaMA-3-vocabulary GGUF, Tiny-ImageNet, photos and the CLIP tokenizer');

let fx: TaskFixture;
let tok: V2LTokenizer;
let llm: LlamaCppLLM;
before(async () => {
  if (skip) return;
  fx = await taskFixture({ llm: 'llama3-vocab-random-tiny' });
  tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
  llm = await LlamaCppLLM.load(fx.llmPath, { threads: 1 });
});
after(async () => {
  await tok?.dispose();
  await llm?.dispose();
});

/** `v2l llm tokenize --bos` of a text, through the command. */
function cliTokenize(text: string): number[] {
  const main = new URL('../cli/main.ts', import.meta.url).href;
  const runner = `import(${JSON.stringify(main)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)]))`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', runner, 'llm', 'tokenize', '--model', fx.llmPath, '--bos', '--text', text], {
    cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { id: number }[]).map((t) => t.id);
}

test('LLaMA-3 vocabulary: a 2-way 1-shot episode; its prompt ids are `v2l llm tokenize` of its text', { skip, timeout: 300_000 }, async () => {
  const ds = openDataset(TINY);
  const episodes = sampleEpisodes(ds.classes, { ways: 2, shots: 1, episodes: 1, seed: 4 });
  const { names, source } = loadClassNames(undefined, TINY);
  const { records, summary } = await runFewshot({
    episodes, resolve: ds.resolve, className: classNameOf(names, source, episodes), tokens: tokenizerTokens(tok, { cache: false }), llm,
    globalTokens: 5, induction: true, repeats: 0, protocol: 'paper', decoding: 'trie',
  });
  assert.equal(summary.figures.episodes, 1);
  const [r] = records;
  assert.ok(r && !r.error, r?.error);
  assert.ok([r.support[0]!.label, r.support[1]!.label].includes(r.prediction!), `prediction ${r.prediction} is a class`);
  // The prompt's text, tokenized at once by the model (BOS first), gives exactly the prompt's ids.
  const segments = buildFewshotPrompt({
    protocol: 'paper', induction: true, repeats: 0,
    support: r.support.map((s) => ({ globalTexts: s.global_texts, label: s.label })), query: { globalTexts: r.query.global_texts },
  });
  const text = segments.map((s) => s.text).join('');
  assert.deepEqual(r.prompt_ids, cliTokenize(text), text);
  // A class name's answer ids are the ids the model gives it after ", output:" (the trie walks these).
  const vocab = await llm.vocabulary();
  for (const s of r.support) {
    const after = await llm.tokenize(`${text}${' ' + s.label.replaceAll('_', ' ')}`, { addBos: true });
    const ids = await answerIds('paper', s.label, { tokenize: (t) => llm.tokenize(t), bos: vocab.bos });
    assert.deepEqual(after.slice(r.prompt_ids.length), ids, s.label);
    assert.ok(ids.every((id) => !vocab.tokens[id]!.includes('▁')), 'byte-level pieces, no SentencePiece marks');
  }
  assert.equal(r.generated_text.trim().length > 0, true);
  assert.ok(!r.generated_text.includes('Ġ'), r.generated_text);
});

test('LLaMA-3 vocabulary: one inpainting over 128,256 local ids, prompts inside the vocabulary', { skip, timeout: 300_000 }, async () => {
  const vocab = await llm.vocabulary();
  const out = [];
  for await (const r of restoreImages({ task: 'inpaint', tokenizer: tok, llm, images: [PHOTOS[0]!], copies: 2, n: 4 })) out.push(r.record);
  assert.equal(out.length, 1);
  const rec = out[0]!;
  assert.equal(rec.status, 'ok', rec.error);
  const restored = rec.tokens!.restored.flat();
  assert.equal(restored.length, 256);
  assert.ok(restored.every((id) => Number.isInteger(id) && id >= 0 && id < vocab.size));
  // The clean tokens already use ids beyond LLaMA-2's 32,000 (the codebook is the whole vocabulary).
  assert.ok(rec.tokens!.clean.flat().some((id) => id >= 32000));
  assert.equal(rec.accuracy!.positions, 64);
});
