// The clean protocol never shows the LLM a clean query token; the reference protocol does (its leak),
// which is what makes this test able to fail. Clean ids are sentinels that occur nowhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restoreTokens, type RestoreTokensInput } from './restore-tokens.js';
import { CopyingLLM, RecordingLLM } from './test-utils/llm.js';
import { predictionMask, RESTORE_TASKS } from './masks.js';
import type { RestoreTask } from './masks.js';

const g = 16;
const VOCAB = 1000;
const SENTINEL = 5000; // clean ids live in [5000, 5256): never in the vocabulary, never drawn
const pieces = { bos: 1, instruction: [10, 11, 12], input: [20, 21], output: [30, 31] };

function input(task: RestoreTask, protocol: 'clean' | 'reference', others = 2): RestoreTokensInput {
  const cleanLocal = Array.from({ length: g * g }, (_, i) => SENTINEL + i);
  const hidden = predictionMask(task, g);
  // The user's corrupted grid: for in/outpainting the visible tokens (here: arbitrary ids) and filler in
  // the hole; for the pixel tasks tokens of the corrupted image.
  const corrupted = Array.from({ length: g * g }, (_, i) => (hidden[i] && (task === 'inpaint' || task === 'outpaint') ? 0 : 100 + (i % 500)));
  return {
    task, protocol, g, m: 2, n: 16, copies: 10, seed: 3, vocabSize: VOCAB, pieces,
    query: { global: [7, 8, 9], local: corrupted },
    clean: { global: [SENTINEL + 900, SENTINEL + 901, SENTINEL + 902], local: cleanLocal },
    others: Array.from({ length: others }, (_, j) => ({
      clean: Array.from({ length: g * g }, (_, i) => 600 + ((i + j) % 300)),
      corrupted: Array.from({ length: g * g }, (_, i) => 300 + ((i * 7 + j) % 300)),
    })),
  };
}

const leaked = (prompts: number[][]) => prompts.flat().filter((id) => id >= SENTINEL).length;

for (const task of RESTORE_TASKS) {
  test(`clean protocol, ${task}: no prompt holds a clean query token; the reference protocol's prompts do`, async () => {
    const llm = new RecordingLLM(VOCAB);
    const out = await restoreTokens(llm, input(task, 'clean'));
    assert.ok(llm.prompts.length > 0);
    assert.equal(leaked(llm.prompts), 0);
    assert.deepEqual(out.global, [7, 8, 9], 'decoded with the corrupted image\'s global tokens');
    assert.ok(out.local.every((id) => id < SENTINEL));
    // Visible positions keep the user's tokens.
    const inp = input(task, 'clean');
    out.hidden.forEach((h, i) => { if (!h) assert.equal(out.local[i], inp.query.local[i]); });

    const ref = new RecordingLLM(VOCAB);
    const rout = await restoreTokens(ref, input(task, 'reference'));
    assert.ok(leaked(ref.prompts) > 0, 'the reference protocol leaks the clean tokens');
    assert.ok(rout.global.every((id) => id >= SENTINEL), 'and decodes with the clean global tokens');
  });
}

test('step counts and calls: inpainting 32 steps, outpainting 64, deblur 128; one generate per step, 2 ids', async () => {
  for (const [task, steps] of [['inpaint', 32], ['outpaint', 64], ['deblur', 128]] as const) {
    const llm = new RecordingLLM(VOCAB);
    const out = await restoreTokens(llm, input(task, 'reference'));
    assert.equal(out.steps, steps);
    assert.equal(out.calls, steps);
    assert.equal(llm.prompts.length, 2 * steps, 'two inputs evaluated per step');
  }
});

test('an end-of-sequence id does not stop a step: decoding goes on past it, as the reference\'s eos_id = -1', async () => {
  const llm = new RecordingLLM(VOCAB, 4096, true);
  const out = await restoreTokens(llm, input('inpaint', 'clean'));
  out.hidden.forEach((h, i) => { if (h) assert.equal(out.local[i], 2); });
  assert.equal(out.calls, 32 * 3, 'generate stopped at once, then one topK per id');
});

test('batched pixel-task steps give the same tokens as one by one, in fewer calls', async () => {
  const a = await restoreTokens(new RecordingLLM(VOCAB), input('deblur', 'clean'));
  const b = await restoreTokens(new RecordingLLM(VOCAB), { ...input('deblur', 'clean'), batch: 16 });
  assert.deepEqual(b.local, a.local);
  assert.equal(b.calls, 2 * 128 / 16);
  assert.ok(a.calls >= 128 && a.calls < 140, String(a.calls)); // one generate per step, a topK after the odd EOS
});

test('reference prompts: 10 copies; clean deblur without other images is refused', async () => {
  const llm = new RecordingLLM(VOCAB);
  await restoreTokens(llm, input('inpaint', 'reference'));
  // 1 + 3 + 10 x (2 + 16 + 2 + 2) + 2 + 16 + 2 = 244 ids for the first id of a step.
  assert.equal(llm.prompts[0].length, 1 + 3 + 10 * 22 + 20);
  await assert.rejects(restoreTokens(new RecordingLLM(VOCAB), input('deblur', 'clean', 0)), /context-images/);
});

test('reference inpainting, first step: the query window is the 16 clean ids before row 4 col 4, examples are the copies\' windows', async () => {
  const llm = new RecordingLLM(VOCAB);
  const inp = input('inpaint', 'reference');
  await restoreTokens(llm, inp);
  const first = llm.prompts[0];
  // p = 21 + 4 * 16 + 4 = 89 in the reference's 277-id sequence (here k = 3: p = 3 + 68); window = local 52..67.
  const tail = [20, 21, ...Array.from({ length: 16 }, (_, j) => SENTINEL + 52 + j), 30, 31];
  assert.deepEqual(first.slice(-tail.length), tail);
  assert.deepEqual(first.slice(0, 6), [1, 10, 11, 12, 20, 21]);
  // Each example's output is the copy's ids at local 68, 69: the clean ids unless replaced (< VOCAB).
  for (let i = 0; i < 10; i++) {
    const out = first.slice(4 + i * 22 + 20, 4 + i * 22 + 22);
    out.forEach((id, j) => assert.ok(id === SENTINEL + 68 + j || id < VOCAB, `example ${i}: ${id}`));
  }
  // The second call of the step is the first plus the id generated.
  assert.deepEqual(llm.prompts[1].slice(0, -1), first);
});

test('the reference protocol leaks: an LLM that only copies the examples\' majority restores every token; under the clean protocol it cannot', async () => {
  for (const task of ['deblur', 'inpaint'] as const) {
    const ref = await restoreTokens(new CopyingLLM(VOCAB, pieces.output), input(task, 'reference'));
    const cln = await restoreTokens(new CopyingLLM(VOCAB, pieces.output), input(task, 'clean'));
    const acc = (local: number[]) => {
      let hit = 0;
      let n = 0;
      ref.hidden.forEach((h, i) => { if (h) { n++; if (local[i] === SENTINEL + i) hit++; } });
      return hit / n;
    };
    assert.equal(acc(ref.local), 1, `${task}: reference protocol, copying LLM`);
    assert.equal(acc(cln.local), 0, `${task}: clean protocol, copying LLM`);
  }
});
