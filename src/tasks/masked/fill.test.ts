// Masked fill on a scripted LLM: unmasked ids are forced in raster order, each masked one is the most
// probable allowed id after the prefix and everything before it; the mask is seeded; the training
// sequence's labels cover the local ids only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillMasked } from './fill.js';
import { maskPositions } from './mask.js';
import { trainingSequence, maskedPrefixText } from './sequence.js';
import type { LLM, Prompt, PromptPiece, TopKEntry } from '../../models/llm/types.js';

function scripted(best: (position: number) => number) {
  const seen: { via: string; ids: number[] }[] = [];
  const idsOf = (prompts: Prompt, prefix?: Prompt) => {
    assert.deepEqual(prefix, ['dog grass\n']);
    return [...((prompts as readonly PromptPiece[])[0] as { ids: number[] }).ids];
  };
  const llm = {
    async generate(prompt: Prompt, opts: { prefix?: Prompt; maxTokens: number }) {
      assert.equal(opts.maxTokens, 1);
      const ids = idsOf(prompt, opts.prefix);
      seen.push({ via: 'generate', ids });
      const id = best(ids.length);
      return id < 0 ? { text: '', ids: [], stopReason: 'eos' } : { text: 'x', ids: [id], stopReason: 'maxTokens' };
    },
    async topK(prompts: readonly Prompt[], k: number, opts?: { prefix?: Prompt }): Promise<TopKEntry[][]> {
      const ids = idsOf(prompts[0]!, opts?.prefix);
      seen.push({ via: 'topK', ids });
      return [[{ id: Math.max(best(ids.length), 2), token: 'x', prob: 0.5 }, { id: 100 + ids.length, token: 'y', prob: 0.3 }].slice(0, k)];
    },
  } as unknown as LLM;
  return { llm, seen };
}

test('fill: raster order, unmasked forced, the greedy id taken', async () => {
  const { llm, seen } = scripted((n) => 200 + n);
  const local = [10, 11, 12, 13, 14, 15];
  const steps: number[] = [];
  const r = await fillMasked(llm, { prefix: ['dog grass\n'], local, masked: [4, 1], allowed: (id) => id < 500, onStep: (d) => steps.push(d) });
  assert.deepEqual(r.ids, [10, 201, 12, 13, 204, 15]);
  assert.equal(r.calls, 2);
  assert.deepEqual(seen, [{ via: 'generate', ids: [10] }, { via: 'generate', ids: [10, 201, 12, 13] }]);
  assert.deepEqual(steps, [1, 2]);
});

test('fill: a greedy id outside the local codebook, or the end of sequence, falls back to the best allowed one', async () => {
  const { llm, seen } = scripted((n) => (n === 1 ? 999 : -1));
  const local = [10, 11, 12, 13, 14, 15];
  const r = await fillMasked(llm, { prefix: ['dog grass\n'], local, masked: [1, 3], allowed: (id) => id < 500 });
  assert.deepEqual(r.ids, [10, 101, 12, 2, 14, 15]);
  assert.equal(r.calls, 4);
  assert.deepEqual(seen.map((s) => s.via), ['generate', 'topK', 'generate', 'topK']);
  await assert.rejects(fillMasked(llm, { prefix: ['dog grass\n'], local, masked: [1], allowed: () => false }), /none of the 2 most probable tokens is a local codebook id/);
  await assert.rejects(fillMasked(llm, { prefix: ['dog grass\n'], local, masked: [6], allowed: () => true }), /outside \[0, 6\)/);
});

test('mask: round(ratio * n) seeded positions in raster order', () => {
  const m = maskPositions(256, 0.3, 4);
  assert.equal(m.length, 77);
  assert.deepEqual(m, [...m].sort((a, b) => a - b));
  assert.equal(new Set(m).size, 77);
  assert.deepEqual(m, maskPositions(256, 0.3, 4));
  assert.notDeepEqual(m, maskPositions(256, 0.3, 5));
  assert.throws(() => maskPositions(256, 1.5, 0), /--ratio must be in \[0, 1\]/);
});

test('training sequence: loss on the local ids only', () => {
  assert.equal(maskedPrefixText(['goldfish', ' fish']), 'goldfish fish\n');
  assert.deepEqual(trainingSequence([1, 50, 51], [7, 8]), { input_ids: [1, 50, 51, 7, 8], labels: [-100, -100, -100, 7, 8], attention_mask: [1, 1, 1, 1, 1] });
});
