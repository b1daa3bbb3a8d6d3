// The reference's restoration prompt, id for id, with LLaMA-2's real tokenizer (tasks-spec.md §3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { promptLength, promptPieces, restorePrompt } from './prompt.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const vocabPath = sharedPath('models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const skip = skipUnless(vocabPath, 'the LLaMA-2 vocabulary GGUF');

test('reference prompt ids: instruction, IN/OUT pieces, 10 examples, 344 ids for n = 16, m = 2', { skip }, async () => {
  const llm = await LlamaCppLLM.load(vocabPath, { vocabOnly: true });
  try {
    const pieces = await promptPieces((t) => llm.tokenize(t), 1, 2);
    assert.deepEqual(pieces.instruction, [29257, 263, 716, 4086, 322, 8500, 278, 29871, 29906, 18897, 1494, 278, 6455, 29889, 13]);
    assert.deepEqual(pieces.input, [835, 13, 4290, 29901, 529, 29871]);
    assert.deepEqual(pieces.output, [29871, 1405, 13, 6466, 29901, 29871]);
    const examples = Array.from({ length: 10 }, (_, i) => ({ input: Array.from({ length: 16 }, (_, j) => 1000 + i * 16 + j), output: [5000 + i, 6000 + i] }));
    const query = Array.from({ length: 16 }, (_, j) => 7000 + j);
    const ids = restorePrompt(pieces, examples, query);
    assert.equal(ids.length, 344);
    assert.equal(promptLength(pieces, 10, 16, 16, 2), 344);
    // Hand-derived head and tail.
    assert.deepEqual(ids.slice(0, 16 + 6), [1, 29257, 263, 716, 4086, 322, 8500, 278, 29871, 29906, 18897, 1494, 278, 6455, 29889, 13, 835, 13, 4290, 29901, 529, 29871]);
    assert.deepEqual(ids.slice(22, 38), examples[0].input);
    assert.deepEqual(ids.slice(38, 46), [29871, 1405, 13, 6466, 29901, 29871, 5000, 6000]);
    assert.deepEqual(ids.slice(-22), [835, 13, 4290, 29901, 529, 29871, ...query, 29871, 1405, 13, 6466, 29901, 29871].slice(-22));
    // Pixel tasks: 2-id inputs and query: 190 ids.
    assert.equal(promptLength(pieces, 10, 2, 2, 2), 190);
  } finally {
    await llm.dispose();
  }
});
