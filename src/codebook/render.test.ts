import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateText, detectTokenStyle, renderToken, renderVocabulary, tokenStyleOf } from './render.js';
import { readVocabulary } from '../models/llm/gguf-vocabulary.js';
import { skipUnless } from '../util/test-utils/shared.js';

const LLAMA2 = new URL('../../../shared/models/llama2-tokenizer/ggml-vocab-llama-spm.gguf', import.meta.url).pathname;

test('SentencePiece pieces, bytes, whitespace and specials render by the documented rules', () => {
  assert.equal(renderToken('▁dog'), 'dog');
  assert.equal(renderToken('ing'), 'ing');
  assert.equal(renderToken('<0x41>'), 'A');
  assert.equal(renderToken('<0x0A>'), 'newline');
  assert.equal(renderToken('<0x09>'), 'tab');
  assert.equal(renderToken('<0x20>'), 'space');
  assert.equal(renderToken('<0x00>'), 'byte 0x00');
  assert.equal(renderToken('<0xE4>'), 'byte 0xE4');
  assert.equal(renderToken('▁'), 'space');
  assert.equal(renderToken('▁▁▁▁'), '4 spaces');
  assert.equal(renderToken('<s>'), 'start');
  assert.equal(renderToken('</s>'), 'end');
  assert.equal(renderToken('<unk>'), 'unknown');
  assert.equal(renderToken('<|im_start|>'), 'im start');
  // A GGUF control type makes any text special.
  assert.equal(renderToken('<|begin_of_text|>', 'bytelevel', 3), 'begin of text');
  assert.equal(renderToken('▁<', 'sentencepiece'), '<');
});

test('byte-level BPE pieces (GPT-2, LLaMA-3, Qwen) decode through the byte table', () => {
  assert.equal(detectTokenStyle(['Ġthe', 'Ġdog', 'Ċ', 'a']), 'bytelevel');
  assert.equal(renderToken('Ġdog', 'bytelevel'), 'dog');
  assert.equal(renderToken('Ċ', 'bytelevel'), 'newline');
  assert.equal(renderToken('Ġ', 'bytelevel'), 'space');
  // "é" is bytes C3 A9 -> GPT-2 code points "Ã©".
  assert.equal(renderToken('Ã©', 'bytelevel'), 'é');
  assert.equal(renderToken('Ã', 'bytelevel'), 'byte 0xC3');
});

test('candidates: detokenized by default, plain concatenation as the reference by option', () => {
  const vocab = { tokens: ['<unk>', '<s>', '</s>', '▁big', '▁dog', 's', '<0xC3>', '<0xA9>'] };
  assert.equal(candidateText([3, 4], vocab, 'sentencepiece'), 'big dog');
  assert.equal(candidateText([4, 5], vocab, 'sentencepiece'), 'dogs');
  assert.equal(candidateText([3, 4, 2], vocab, 'sentencepiece'), 'big dog');
  assert.equal(candidateText([4, 6, 7], vocab, 'sentencepiece'), 'dogé');
  assert.equal(candidateText([3, 4], vocab, 'sentencepiece', 'reference'), 'bigdog');
  assert.equal(candidateText([4], vocab, 'sentencepiece'), 'dog');
  assert.equal(candidateText([1], vocab, 'sentencepiece'), 'start');
});

test('the real LLaMA-2 vocabulary renders 32,000 non-empty texts in id order', { skip: skipUnless(LLAMA2, 'the LLaMA-2 tokenizer') }, async () => {
  const vocab = await readVocabulary(LLAMA2);
  assert.equal(tokenStyleOf(vocab), 'sentencepiece');
  const texts = renderVocabulary(vocab);
  assert.equal(texts.length, 32000);
  assert.ok(texts.every((t) => t.length > 0));
  assert.deepEqual(texts.slice(0, 4), ['unknown', 'start', 'end', 'byte 0x00']);
  assert.equal(texts[13], 'newline'); // <0x0A>
  assert.equal(texts[vocab.tokens.indexOf('▁the')], 'the');
  assert.equal(texts[vocab.tokens.indexOf('▁▁▁▁')], '4 spaces');
  assert.equal(texts[vocab.tokens.indexOf('toString')], 'toString');
});
