// First-word decoding on a scripted LLM: the word ends at the next word-start token, punctuation, a line
// break, EOS or the token limit; the prompt of every step is the query plus the ids taken so far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateFirstWord, firstWordOf } from './first-word.js';
import type { LLM, Prompt, PromptPiece } from '../../models/llm/types.js';

const TOKENS = ['<unk>', '<s>', '</s>', '▁red', 'dish', '▁blue', '.', '<0x0A>', '▁'];
function scripted(next: number[]): { llm: LLM; seen: number[][] } {
  const seen: number[][] = [];
  const llm = {
    id: 'scripted',
    async vocabulary() {
      return { size: TOKENS.length, tokens: TOKENS, hash: 'x', bos: 1, eos: 2 };
    },
    async detokenize(ids: readonly number[]) {
      return ids.map((i) => TOKENS[i]!).join('').replace(/▁/g, ' ').replace(/<0x0A>/g, '\n').replace(/<\/s>/g, '');
    },
    async generate(prompt: Prompt, opts: { prefix?: Prompt; maxTokens: number }) {
      assert.equal(opts.maxTokens, 1);
      assert.deepEqual(opts.prefix, ['PREFIX']);
      const p = prompt as readonly PromptPiece[];
      assert.equal(p[0], 'QUERY');
      const ids = [...(p[1] as { ids: number[] }).ids];
      seen.push(ids);
      const id = next[ids.length]!;
      return id === 2 ? { text: '', ids: [], stopReason: 'eos' } : { text: TOKENS[id], ids: [id], stopReason: 'maxTokens' };
    },
  } as unknown as LLM;
  return { llm, seen };
}

test('first word: ends at the next word', async () => {
  const { llm, seen } = scripted([3, 4, 5, 6]);
  const r = await generateFirstWord(llm, ['QUERY'], { prefix: ['PREFIX'], maxTokens: 5, eos: [2] });
  assert.deepEqual(r, { word: 'reddish', ids: [3, 4, 5], text: ' reddish blue', stopReason: 'boundary' });
  assert.deepEqual(seen, [[], [3], [3, 4]]);
});

test('first word: punctuation, EOS, the limit, a lone space first', async () => {
  assert.equal((await generateFirstWord(scripted([3, 6]).llm, ['QUERY'], { prefix: ['PREFIX'], maxTokens: 5 })).word, 'red');
  assert.deepEqual(await generateFirstWord(scripted([3, 2]).llm, ['QUERY'], { prefix: ['PREFIX'], maxTokens: 5, eos: [2] }), { word: 'red', ids: [3], text: ' red', stopReason: 'eos' });
  assert.deepEqual(await generateFirstWord(scripted([3, 4, 4]).llm, ['QUERY'], { prefix: ['PREFIX'], maxTokens: 2 }), { word: 'reddish', ids: [3, 4], text: ' reddish', stopReason: 'maxTokens' });
  assert.equal((await generateFirstWord(scripted([8, 3, 7]).llm, ['QUERY'], { prefix: ['PREFIX'], maxTokens: 5 })).word, 'red');
  assert.deepEqual(firstWordOf('\nred'), { word: 'red', complete: false });
  assert.deepEqual(firstWordOf(' .red'), { word: '', complete: true });
});
