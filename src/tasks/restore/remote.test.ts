// Restoration through an OpenAI-compatible server (here `v2l llm serve`'s server over the LLaMA-2-vocabulary
// GGUF): independent deblur steps batched into completions requests give the ids the local model gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { RemoteLLM } from '../../models/llm/remote.js';
import { startCompletionsServer } from '../../models/llm/server.js';
import { FIXTURE_LLMS } from '../test-utils/fixtures.js';
import { skipUnless } from '../../util/test-utils/shared.js';
import { promptPieces } from './prompt.js';
import { restoreTokens, type RestoreTokensInput } from './restore-tokens.js';

const skip = skipUnless(FIXTURE_LLMS['llama2-vocab-random-tiny'], 'the LLaMA-2-vocabulary GGUF');

test('remote server: batched steps equal the local model\'s steps', { skip }, async () => {
  const local = await LlamaCppLLM.load(FIXTURE_LLMS['llama2-vocab-random-tiny'], { threads: 1 });
  const server = await startCompletionsServer(local, { port: 0, host: '127.0.0.1' });
  try {
    const remote = await RemoteLLM.connect({ baseUrl: server.url, expectVocabulary: await local.vocabulary() });
    const g = 4;
    const pieces = await promptPieces((t) => local.tokenize(t), 1, 2);
    const grid = (seed: number) => Array.from({ length: g * g }, (_, i) => 1000 + ((i * 7919 + seed * 104729) % 30000));
    const inp: RestoreTokensInput = {
      task: 'deblur', protocol: 'clean', g, m: 2, n: 16, copies: 3, seed: 0, vocabSize: 32000, pieces,
      query: { global: [1, 2, 3], local: grid(1) },
      others: [2, 3, 4].map((s) => ({ clean: grid(s), corrupted: grid(s + 10) })),
    };
    const a = await restoreTokens(local, { ...inp, batch: 8 });
    const before = remote.stats();
    const b = await restoreTokens(remote, { ...inp, batch: 8 });
    assert.deepEqual(b.local, a.local);
    assert.equal(b.calls, 2 * 8 / 8);
    assert.ok(remote.stats().evaluatedTokens > before.evaluatedTokens);
    await remote.dispose();
  } finally {
    await server.close();
    await local.dispose();
  }
});
