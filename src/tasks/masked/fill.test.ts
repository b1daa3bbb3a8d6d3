// Masked fill on a scripted LLM: unmasked ids are forced in raster order, each masked one is the most
// probable allowed id after the prefix and everything before it; the mask is seeded; the training
// sequence's labels cover the local ids only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillMasked } from './fill.js';
import { maskPositions } from './mask.js';
import { trainingSequence, maskedPrefixText } from './sequence.js';
import type { LLM, Prompt, PromptPiece, TopKEntry } from '../../models/llm/types.js';

test('fill: raster order, unmasked forced, the best allowed id taken', async () => {
  const seen: number[][] = [];
  const llm = {
    async topK(prompts: readonly Prompt[], k: number, opts?: { prefix?: Prompt }): Promise<TopKEntry[][]> {
      assert.deepEqual(opts?.prefix, ['dog grass\n']);
      const ids = [...((prompts[0] as readonly PromptPiece[])[0] as { ids: number[] }).ids];
      seen.push(ids);
      // The most probable is 999 (not a local id), then 100 + position.
      return [[{ id: 999, token: 'x', prob: 0.5 }, { id: 100 + ids.length, token: 'y', prob: 0.3 }].slice(0, k)];
    },
  } as unknown as LLM;
  const local = [10, 11, 12, 13, 14, 15];
  const steps: number[] = [];
  const r = await fillMasked(llm, { prefix: ['dog grass\n'], local, masked: [4, 1], allowed: (id) => id < 500, onStep: (d) => steps.push(d) });
  assert.deepEqual(r.ids, [10, 101, 12, 13, 104, 15]);
  assert.equal(r.calls, 2);
  assert.deepEqual(seen, [[10], [10, 101, 12, 13]]);
  assert.deepEqual(steps, [1, 2]);
  await assert.rejects(fillMasked(llm, { prefix: ['dog grass\n'], local, masked: [0], allowed: () => false }), /none of the 2 most probable tokens is a local codebook id/);
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
