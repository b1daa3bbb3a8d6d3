// The VQA prompt: segments (no model) and exact ids on LLaMA-2's real vocabulary (expected sequences written
// by hand as token strings, looked up in the vocabulary table).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vqaPrefixSegments, vqaQuerySegments, vqaPrompt } from './prompt.js';
import { queryIds } from '../../models/llm/prompt.js';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const VOCAB = sharedPath('models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const skip = skipUnless(VOCAB, 'the LLaMA-2 vocabulary GGUF');

test('vqa prompt: segments; a question without closing punctuation gets "."', () => {
  assert.deepEqual(vqaPrefixSegments([{ globalTexts: ['red', 'circle'], question: 'what color is the shape?', answer: ' red ' }], 'v2l'), [
    'Answer the question with a single word based on the condition.\n',
    'Condition: ', 'red circle', '. Question: ', 'what color is the shape?', ' Answer: ', 'red\n',
  ]);
  assert.deepEqual(vqaQuerySegments(['blue', 'square'], 'is there a circle', 'reference'), ['Condition: ', 'bluesquare', '. Question: ', 'is there a circle.', ' Answer:']);
  assert.throws(() => vqaPrefixSegments([{ globalTexts: ['a'], question: 'q?', answer: ' ' }], 'v2l'), /empty answer/);
});

test('vqa prompt ids on LLaMA-2\'s vocabulary (both protocols)', { skip }, async () => {
  const llm = await LlamaCppLLM.load(VOCAB, { vocabOnly: true });
  try {
    const v = await llm.vocabulary();
    const id = (s: string) => {
      const i = v.tokens.indexOf(s);
      assert.ok(i >= 0, `token ${s} in the vocabulary`);
      return i;
    };
    const tok = { tokenize: (t: string) => llm.tokenize(t), bos: v.bos };
    const shots = [{ globalTexts: ['red', 'circle'], question: 'what color is the shape?', answer: 'red' }];
    const query = { globalTexts: ['blue', 'square'], question: 'is there a circle' };
    const instruction = ['▁Answer', '▁the', '▁question', '▁with', '▁a', '▁single', '▁word', '▁based', '▁on', '▁the', '▁condition', '.', '<0x0A>'];

    const p = await vqaPrompt(shots, query, 'v2l', tok.tokenize);
    const q = await queryIds(p.prompt, tok, { prefix: p.prefix });
    const prefix = ['<s>', ...instruction, 'Condition', ':', '▁red', '▁circle', '.', '▁Question', ':', '▁what', '▁color', '▁is', '▁the', '▁shape', '?', '▁Answer', ':', '▁red', '<0x0A>'];
    assert.deepEqual(q.ids, [...prefix, 'Condition', ':', '▁blue', '▁square', '.', '▁Question', ':', '▁is', '▁there', '▁a', '▁circle', '.', '▁Answer', ':'].map(id));
    assert.equal(q.prefixLength, prefix.length);

    const r = await vqaPrompt(shots, query, 'reference', tok.tokenize);
    const qr = await queryIds(r.prompt, tok, { prefix: r.prefix });
    const rPrefix = ['<s>', ...instruction, '▁Cond', 'ition', ':', '▁', '▁red', 'circle', '▁.', '▁Question', ':', '▁', '▁what', '▁color', '▁is', '▁the', '▁shape', '?', '▁', '▁Answer', ':', '▁', '▁red', '<0x0A>'];
    assert.deepEqual(qr.ids, [...rPrefix, '▁Cond', 'ition', ':', '▁', '▁bl', 'ues', 'quare', '▁.', '▁Question', ':', '▁', '▁is', '▁there', '▁a', '▁circle', '.', '▁', '▁Answer', ':'].map(id));
    assert.equal(id('▁.'), 869);
  } finally {
    await llm.dispose();
  }
});
