// The episode loop against an LLM server (`--llm http://...`): the deterministic overlap LLM (test double)
// behind v2l's OpenAI-compatible completions server, reached through the remote backend, which returns at
// most 20 alternatives per position. Same prompt ids and 100% as locally, in both decodings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { RemoteLLM } from '../../models/llm/remote.js';
import { startCompletionsServer, type CompletionsServer } from '../../models/llm/server.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';
import type { ImageTokenProvider } from '../image-tokens.js';
import { OverlapLLM } from './test-utils/overlap-llm.js';
import { sampleEpisodes } from './episodes.js';
import { runFewshot, type FewshotRunOptions } from './run.js';
import { REFERENCE_IN, REFERENCE_OUT } from './prompt.js';
import type { LLM } from '../../models/llm/types.js';

const VOCAB = sharedPath('models/llama2-vocab-random-tiny/llama2-vocab-random-tiny.gguf');
const skip = skipUnless(VOCAB, 'the LLaMA-2-vocabulary GGUF');
let base: LlamaCppLLM;
let served: OverlapLLM;
let srv: CompletionsServer;
before(async () => {
  if (skip) return;
  base = await LlamaCppLLM.load(VOCAB, { vocabOnly: true });
  served = await OverlapLLM.create(base, { input: await base.tokenize(REFERENCE_IN), output: await base.tokenize(REFERENCE_OUT) });
  srv = await startCompletionsServer(served, { modelName: 'overlap' });
});
after(async () => {
  await srv?.close();
  await base?.dispose();
});

const words = ['apple', 'river', 'hammer', 'violin', 'tiger'];
const classes = new Map(words.map((w, c) => [`n0${c}`, Array.from({ length: 6 }, (_, i) => `n0${c}/${w}${i}`)]));
const tokens: ImageTokenProvider = {
  id: 'synthetic', isStandIn: false,
  async global(sources, k) {
    return sources.map((s) => ({ source: s, global: { ids: [0], texts: Array.from({ length: k }, (_, i) => ` ${s.split('/')[1]!.replace(/\d+$/, '')}${i % 2 ? '' : 's'}`) } }));
  },
  async all() {
    throw new Error('not used');
  },
};
const opts = (llm: LLM, decoding: 'trie' | 'reference', induction = true): FewshotRunOptions => ({
  episodes: sampleEpisodes(classes, { ways: 5, shots: 1, episodes: 3, seed: 4 }), resolve: (f) => f,
  className: (w) => ['golden_retriever', 'tench', 'French_bulldog', 'axolotl', 'tree_frog'][Number(w.slice(1))]!,
  tokens, llm, globalTokens: 5, induction, repeats: 0, protocol: 'reference', decoding,
});

for (const [decoding, induction] of [['trie', true], ['reference', true], ['reference', false]] as const) {
  test(`through a completions server: decoding ${decoding}, induction ${induction ? 'on' : 'off'} gives the local run's records`, { skip }, async () => {
    const remote = await RemoteLLM.connect({ baseUrl: srv.url, expectVocabulary: await base.vocabulary() });
    try {
      const far = await runFewshot(opts(remote, decoding, induction));
      const near = await runFewshot(opts(await OverlapLLM.create(base, { input: await base.tokenize(REFERENCE_IN), output: await base.tokenize(REFERENCE_OUT) }), decoding, induction));
      assert.equal(far.summary.figures.accuracy, 1);
      assert.deepEqual(far.records.map((r) => [r.prompt_ids, r.generated_ids, r.prediction]), near.records.map((r) => [r.prompt_ids, r.generated_ids, r.prediction]));
    } finally {
      await remote.dispose();
    }
  });
}
