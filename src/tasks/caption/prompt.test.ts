// The captioning prompt: segments (no model), and the exact ids on LLaMA-2's real vocabulary, expected
// sequences written by hand as token strings and looked up in the vocabulary table (ids the spec checked:
// "\n" 13, "Input" 4290, ":" 29901, "▁" 29871, "." 29889).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionPrefixSegments, captionQuerySegments, captionPrompt, shotCaption, captionFromGenerated, captionStops } from './prompt.js';
import { segmentsPrompt } from '../prompt-protocol.js';
import { queryIds } from '../../models/llm/prompt.js';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const VOCAB = sharedPath('models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const skip = skipUnless(VOCAB, 'the LLaMA-2 vocabulary GGUF');

test('caption prompt: segments of the paper\'s prompt, one caption ending with "."', () => {
  const shots = [{ globalTexts: ['dog', 'grass'], caption: '  A dog on grass .' }, { globalTexts: ['goldfish', 'fish'], caption: 'Fish!' }];
  assert.deepEqual(captionPrefixSegments(shots, 'v2l'), [
    'Generate a caption sentence based on words describing an image.\n',
    'Input: ', 'dog grass', ', output: ', 'A dog on grass.\n',
    'Input: ', 'goldfish fish', ', output: ', 'Fish.\n',
  ]);
  // The reference glues the global strings (tasks-spec.md §0).
  assert.deepEqual(captionQuerySegments(['goldfish', 'fish'], 'reference'), ['Input: ', 'goldfishfish', ', output:']);
  assert.equal(shotCaption('two kayaks'), 'two kayaks.');
  assert.throws(() => shotCaption(' . '), /empty caption/);
  assert.equal(captionFromGenerated(' A cat on a bed. Another'), 'A cat on a bed');
  assert.equal(captionFromGenerated(' A cat\nInput:'), 'A cat');
  assert.deepEqual(captionStops('reference'), ['.']);
});

test('segmentsPrompt: v2l joins the text; reference tokenizes every segment on its own', async () => {
  // A toy tokenizer: one id per word, a dummy-prefix id 99 at the start of every call (as SentencePiece's "▁").
  const calls: string[] = [];
  const tokenize = (t: string) => {
    calls.push(t);
    return [99, ...t.split(/\s+/).filter(Boolean).map((w) => w.length)];
  };
  assert.deepEqual(await segmentsPrompt(['ab ', 'c', 'de'], 'v2l', tokenize), ['ab cde']);
  assert.deepEqual(calls, []);
  assert.deepEqual(await segmentsPrompt(['ab ', 'c', 'de'], 'reference', tokenize), [{ ids: [99, 2, 99, 1, 99, 2] }]);
  assert.deepEqual(calls, ['ab ', 'c', 'de']);
});

test('caption prompt ids on LLaMA-2\'s vocabulary (both protocols)', { skip }, async () => {
  const llm = await LlamaCppLLM.load(VOCAB, { vocabOnly: true });
  try {
    const v = await llm.vocabulary();
    const id = (s: string) => {
      const i = v.tokens.indexOf(s);
      assert.ok(i >= 0, `token ${s} in the vocabulary`);
      return i;
    };
    const tok = { tokenize: (t: string) => llm.tokenize(t), bos: v.bos };
    const shots = [{ globalTexts: ['dog', 'grass'], caption: 'A dog on grass' }];
    const instruction = ['▁Gener', 'ate', '▁a', '▁ca', 'ption', '▁sentence', '▁based', '▁on', '▁words', '▁describing', '▁an', '▁image', '.', '<0x0A>'];

    const p = await captionPrompt(shots, ['cat', 'bed'], 'v2l', tok.tokenize);
    const q = await queryIds(p.prompt, tok, { prefix: p.prefix });
    const prefix = ['<s>', ...instruction, 'Input', ':', '▁dog', '▁grass', ',', '▁output', ':', '▁A', '▁dog', '▁on', '▁grass', '.', '<0x0A>'];
    assert.deepEqual(q.ids, [...prefix, 'Input', ':', '▁cat', '▁bed', ',', '▁output', ':'].map(id));
    assert.equal(q.prefixLength, prefix.length);
    assert.deepEqual(q.ids.slice(15, 17), [4290, 29901]);

    // reference: every segment with its own "▁"; "Input: " ends with a lone "▁" (29871) as in tasks-spec.md §1.
    const r = await captionPrompt(shots, ['cat', 'bed'], 'reference', tok.tokenize);
    const qr = await queryIds(r.prompt, tok, { prefix: r.prefix });
    const rPrefix = ['<s>', ...instruction, '▁Input', ':', '▁', '▁dog', 'gr', 'ass', '▁,', '▁output', ':', '▁', '▁A', '▁dog', '▁on', '▁grass', '.', '<0x0A>'];
    assert.deepEqual(qr.ids, [...rPrefix, '▁Input', ':', '▁', '▁cat', 'bed', '▁,', '▁output', ':'].map(id));
    assert.equal(id('▁'), 29871);
  } finally {
    await llm.dispose();
  }
});
