// The real LLaMA-2 vocabulary (vocab-only GGUF from ../shared): size, raw texts, specials, rendering, and
// llama.cpp's own tokenizer test vectors through the local backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readVocabulary } from './gguf-vocabulary.js';
import { renderTokens, tokenBytes, vocabularyHash, vocabularySample, TokenType } from './vocabulary.js';
import { LlamaCppLLM } from './llama-cpp.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const vocabPath = fileURLToPath(new URL('../../../../shared/models/llama2-tokenizer/ggml-vocab-llama-spm.gguf', import.meta.url));
const skip = skipUnless(vocabPath, 'the LLaMA-2 tokenizer');

test('LLaMA-2 vocabulary: 32,000 raw token texts with byte and special tokens', { skip }, async () => {
  const v = await readVocabulary(vocabPath);
  assert.equal(v.size, 32000);
  assert.equal(v.tokens.length, 32000);
  assert.equal(v.model, 'llama');
  assert.deepEqual([v.tokens[0], v.tokens[1], v.tokens[2]], ['<unk>', '<s>', '</s>']);
  assert.equal(v.bos, 1);
  assert.equal(v.eos, 2);
  assert.equal(v.tokens[13], '<0x0A>');
  assert.equal(v.types?.[13], TokenType.byte);
  assert.equal(v.types?.[1], TokenType.control);
  assert.equal(v.tokens[15043], '▁Hello');
  assert.match(v.hash, /^[0-9a-f]{64}$/);
  assert.equal(v.hash, await vocabularyHash(v.tokens));
  // Rendering: "▁" is a space, <0x0A> a newline byte, control tokens nothing; bytes join into UTF-8.
  assert.equal(renderTokens(v, [1, 15043, 3186, 13]), ' Hello world\n');
  assert.deepEqual([...tokenBytes(v, 13)], [10]);
  assert.equal(renderTokens(v, [29871, 243, 162, 169, 156]), ' 🦙');
  assert.equal(vocabularySample(v, 4).map((e) => e.id).join(), '0,8000,16000,24000');
});

test('llama.cpp tokenizer test vectors (.inp/.out) all reproduce', { skip }, async () => {
  // Format (llama.cpp tests/test-tokenizer-0): inputs separated by "\n__ggml_vocab_test__\n" (text after
  // the last separator is not a test); one line of space-separated ids per input, tokenized without BOS.
  const inp = readFileSync(vocabPath + '.inp', 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1);
  const out = readFileSync(vocabPath + '.out', 'utf8').split('\n');
  if (out.at(-1) === '') out.pop();
  assert.equal(inp.length, out.length);
  assert.ok(inp.length >= 40);
  const llm = await LlamaCppLLM.load(vocabPath, { vocabOnly: true });
  try {
    let matched = 0;
    for (let i = 0; i < inp.length; i++) {
      const want = out[i]!.trim() === '' ? [] : out[i]!.trim().split(/\s+/).map(Number);
      const got = await llm.tokenize(inp[i]!);
      assert.deepEqual(got, want, `test vector ${i}: ${JSON.stringify(inp[i])}`);
      matched++;
    }
    assert.equal(matched, inp.length);
    assert.equal((await llm.vocabulary()).size, 32000);
    await assert.rejects(llm.topK(['Hello'], 1), /vocab-only/);
  } finally {
    await llm.dispose();
  }
});
