// The logits capture (./logits-capture.ts) against node-llama-cpp's own probabilities Map: the same ids
// and the same probabilities bit for bit, on LLaMA-3's 128,256-token vocabulary and on stories260K's 512.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaCppLLM } from './llama-cpp.js';
import { captureUnavailableReason } from './logits-capture.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const models = [
  { name: 'llama3-vocab-random-tiny', path: sharedPath('models/llama3-vocab-random-tiny/llama3-vocab-random-tiny.gguf'), prompt: 'Hello world, a photo of a', cands: [' Chihuahua', ' cat', ' dog on a sofa', ' dog'] },
  { name: 'stories260K', path: sharedPath('models/stories260K/stories260K.gguf'), prompt: 'Once upon a time, there was a little', cands: [' girl', ' boy', ' girl named Lily', ' dog'] },
];

for (const m of models) {
  const skip = skipUnless(m.path, `the ${m.name} model`);
  test(`${m.name}: top-k, score and choose through the capture equal node-llama-cpp's Map exactly`, { skip }, async (t) => {
    const viaMap = await LlamaCppLLM.load(m.path, { distribution: 'map' });
    const viaCapture = await LlamaCppLLM.load(m.path);
    t.after(async () => {
      await viaMap.dispose();
      await viaCapture.dispose();
    });
    if (viaCapture.distribution !== 'capture') {
      // Not a missing ../shared file: a machine without a C compiler or Node headers (or not Linux).
      t.skip(`the logits capture is unavailable here: ${captureUnavailableReason() || 'node-llama-cpp did not bind to it'}`);
      return;
    }
    const size = (await viaMap.vocabulary()).size;
    const prompts = [m.prompt, [m.prompt, { ids: [1, 2, 3] }], 'x'] as const;
    for (const k of [1, 5, 300]) assert.deepEqual(await viaCapture.topK(prompts, k), await viaMap.topK(prompts, k), `k = ${k}`);
    // The whole distribution, in order (ties by id).
    assert.deepEqual(await viaCapture.topK([m.prompt], size), await viaMap.topK([m.prompt], size));
    assert.deepEqual(await viaCapture.score(m.prompt, m.cands), await viaMap.score(m.prompt, m.cands));
    assert.deepEqual(await viaCapture.choose(m.prompt, m.cands), await viaMap.choose(m.prompt, m.cands));
    assert.deepEqual(await viaCapture.choose(m.prompt, m.cands, { mode: 'score' }), await viaMap.choose(m.prompt, m.cands, { mode: 'score' }));
    // Greedy generation's per-step top-k (what `v2l llm serve` returns as logprobs).
    const gen = { maxTokens: 4, topLogprobs: 5 };
    assert.deepEqual(await viaCapture.generate(m.prompt, gen), await viaMap.generate(m.prompt, gen));
    assert.deepEqual(viaCapture.stats(), viaMap.stats());
  });
}
