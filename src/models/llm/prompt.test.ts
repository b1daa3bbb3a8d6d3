// Prompt flattening rules, with the real LLaMA-2 tokenizer (vocab-only GGUF from ../shared).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { flattenPrompt, queryIds, tokenizeContinuation, lexicographicOrder, commonPrefixLength, type PromptTokenizer } from './prompt.js';
import { LlamaCppLLM } from './llama-cpp.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const vocabPath = fileURLToPath(new URL('../../../../shared/models/llama2-tokenizer/ggml-vocab-llama-spm.gguf', import.meta.url));
const skip = skipUnless(vocabPath, 'the LLaMA-2 tokenizer');
let llm: LlamaCppLLM;
let tok: PromptTokenizer;
before(async () => {
  if (skip) return;
  llm = await LlamaCppLLM.load(vocabPath, { vocabOnly: true });
  tok = { tokenize: (t) => llm.tokenize(t), bos: 1 };
});
after(async () => {
  await llm?.dispose();
});

test('a plain string: BOS, then the model tokenization (dummy-prefix space)', { skip }, async () => {
  assert.deepEqual(await flattenPrompt('Hello world', tok), [1, 15043, 3186]);
  assert.deepEqual(await flattenPrompt('Hello world', tok, { addBos: false }), [15043, 3186]);
  assert.deepEqual(await flattenPrompt(['Hello', ' world'], tok), [1, 15043, 3186], 'adjacent text pieces join');
});

test('text after ids is a continuation: no dummy prefix, spaces as written', { skip }, async () => {
  assert.deepEqual(await tokenizeContinuation(tok, ' world'), [3186]);
  assert.deepEqual(await tokenizeContinuation(tok, 'world'), [11526]);
  assert.deepEqual(await tokenizeContinuation(tok, '\n\nHi'), [13, 13, 18567]);
  // Raw ids pass through exactly, even ids no text would produce (byte tokens, specials).
  assert.deepEqual(await flattenPrompt([{ ids: [15043] }, ' world', { ids: [13, 2] }, '!'], tok), [1, 15043, 3186, 13, 2, 29991]);
  const full = await flattenPrompt('Hello world, this is a test', tok);
  const mixed = await flattenPrompt(['Hello world,', { ids: await tokenizeContinuation(tok, ' this is') }, ' a test'], tok);
  assert.deepEqual(mixed, full);
  await assert.rejects(flattenPrompt([{ ids: [1.5] }], tok), /invalid token id: 1.5/);
});

test('prefix and prompt: BOS once at the start, the prompt continues the prefix', { skip }, async () => {
  const q = await queryIds(' world', tok, { prefix: 'Hello' });
  assert.deepEqual(q, { ids: [1, 15043, 3186], prefixLength: 2 });
  assert.deepEqual((await queryIds('Hello', tok)).ids, [1, 15043]);
});

test('lexicographic order puts shared prefixes next to each other', () => {
  const seqs = [[3, 1], [1, 2, 3], [1, 2], [2], [1, 2, 4]];
  assert.deepEqual(lexicographicOrder(seqs), [2, 1, 4, 3, 0]);
  assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 4, 5]), 2);
});
