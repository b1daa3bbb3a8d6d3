// Decoding and scoring: the reference's union mask (a hybrid of two names is possible), sp.decode, the
// prefix and exact scorings, the Wilson interval, and a property test that trie decoding never leaves the
// class set (random vocabularies, class sets and model distributions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classOfText, exactAnswer, prefixCorrect, referenceDecode, spDecode, unionMask } from './decode.js';
import { wilson95 } from './stats.js';
import { seededRandom } from './episodes.js';
import { buildTrie, greedyTrieChoice } from '../../models/llm/trie.js';
import { makeVocabulary } from '../../models/llm/vocabulary.js';
import type { LLM, Prompt, TopKEntry } from '../../models/llm/types.js';

test('union mask: row j = the j-th ids of every name + EOS; rows past the longest name are empty', () => {
  const m = unionMask([[10, 11, 12], [20, 11]], 2, 5);
  assert.deepEqual(m, [[10, 20], [11], [2, 12], [2], []]);
});

/** A scripted model: at generated position j, the probabilities of `table[j]` (id -> p), the rest 0. */
function scripted(promptLength: number, table: Record<number, number>[], k = 20): LLM & { asked: number[] } {
  const asked: number[] = [];
  const dist = (p: Prompt) => {
    const ids = (p as { ids: number[] }[])[0]!.ids;
    const j = ids.length - promptLength;
    return table[j] ?? {};
  };
  return {
    asked,
    async topK(prompts: readonly Prompt[], kk: number) {
      asked.push(kk);
      return prompts.map((p) => {
        const d = dist(p);
        const e: TopKEntry[] = Object.entries(d).map(([id, prob]) => ({ id: Number(id), token: '', prob }));
        return e.sort((a, b) => b.prob - a.prob || a.id - b.id).slice(0, Math.min(kk, k));
      });
    },
    async score(p: Prompt, conts: readonly Prompt[]) {
      const d = dist(p);
      return conts.map((c) => [Math.log(d[(c as { ids: number[] }[])[0]!.ids[0]!] ?? 1e-30)]);
    },
  } as unknown as LLM & { asked: number[] };
}

test('reference decoding: allowed argmax per position, a hybrid of two names, id 0 past the mask, 16 ids', async () => {
  // names A = [10, 11], B = [20, 21]; the model prefers 10 then 21: the union mask lets "10 21" through.
  const mask = unionMask([[10, 11], [20, 21]], 2);
  const llm = scripted(3, [{ 10: 0.5, 20: 0.4, 99: 0.05 }, { 99: 0.6, 21: 0.3, 11: 0.1 }, { 2: 0.7, 5: 0.3 }]);
  const out = await referenceDecode(llm, [1, 7, 8], { mask });
  assert.deepEqual(out, [10, 21, 2, ...new Array(13).fill(0)]);
  // an allowed id outside the top-k alternatives: the allowed ids are scored instead
  const far = scripted(1, [{ 50: 0.9, 51: 0.05, 20: 0.03, 10: 0.02 }], 1);
  assert.deepEqual(await referenceDecode(far, [1], { mask: unionMask([[10], [20]], 2), maxTokens: 1 }), [20]);
  // unconstrained without induction; the max_seq_len cap cuts the answer, a longer prompt is refused
  const free = scripted(2, [{ 40: 0.9 }, { 41: 0.9 }, { 42: 0.9 }]);
  assert.deepEqual(await referenceDecode(free, [1, 2], { mask: null, maxTokens: 3 }), [40, 41, 42]);
  assert.deepEqual(await referenceDecode(free, [1, 2], { mask: null, maxTokens: 16, maxSeqLen: 4 }), [40, 41]);
  await assert.rejects(referenceDecode(free, [1, 2, 3], { mask: null, maxSeqLen: 2 }), /exceeds --max-seq-len 2/);
});

test('reference decoding when top-k fails (a server that reports nothing when EOS is the argmax): exact fallbacks', async () => {
  const failing = scripted(1, [{ 2: 0.8, 10: 0.15, 20: 0.05 }]);
  (failing as { topK: unknown }).topK = async () => {
    throw new Error('LLM server returned no top_logprobs');
  };
  assert.deepEqual(await referenceDecode(failing, [1], { mask: unionMask([[10], [20]], 2), maxTokens: 1 }), [10], 'the allowed ids are scored');
  (failing as { generate: unknown }).generate = async () => ({ text: '', ids: [], stopReason: 'eos' });
  assert.deepEqual(await referenceDecode(failing, [1], { mask: null, maxTokens: 2, eos: 2 }), [2, 2]);
  (failing as { generate: unknown }).generate = async () => {
    throw new Error('network down');
  };
  await assert.rejects(referenceDecode(failing, [1], { mask: null, maxTokens: 1, eos: 2 }), /no top_logprobs/, 'both failing: the first error is reported');
});

test('sp.decode: pieces joined, first space dropped, controls silent, <unk> as " ⁇ "', async () => {
  const v = await makeVocabulary(['<unk>', '<s>', '</s>', '▁golden', '_', 'ret', '<0x0A>'], { types: [2, 3, 3, 1, 1, 1, 6], model: 'llama', bos: 1, eos: 2 });
  assert.equal(spDecode(v, [3, 4, 5, 2, 0]), 'golden_ret \u2047 ');
  assert.equal(spDecode(v, [6, 3]), '\n golden');
});

test('scoring: reference prefix match, class of a free answer, the paper\'s exact answer', () => {
  assert.ok(prefixCorrect('golden_retrieverxx ⁇', 'golden_retriever'));
  assert.ok(!prefixCorrect('golden_retr', 'golden_retriever'));
  assert.equal(classOfText('cat_foodies', ['cat', 'cat_food', 'dog']), 'cat_food');
  assert.equal(classOfText('bird', ['cat', 'dog']), null);
  assert.equal(exactAnswer(' golden retriever. Input: x'), 'golden retriever');
  assert.equal(exactAnswer(' tench\nInput'), 'tench');
});

test('Wilson 95% interval', () => {
  const [lo, hi] = wilson95(91, 100)!;
  assert.ok(Math.abs(lo - 0.8377) < 1e-3 && Math.abs(hi - 0.9519) < 1e-3, `${lo} ${hi}`);
  const [lo0, hi0] = wilson95(0, 10)!;
  assert.equal(lo0, 0);
  assert.ok(hi0 > 0.25 && hi0 < 0.32);
  assert.equal(wilson95(0, 0), null);
});

test('property: the trie decoder always returns one of the classes, with exactly its ids', async () => {
  const rand = seededRandom(42);
  for (let trial = 0; trial < 300; trial++) {
    const vocab = 2 + Math.floor(rand() * 30);
    const n = 1 + Math.floor(rand() * 6);
    const cands: number[][] = [];
    for (let c = 0; c < n; c++) {
      const len = 1 + Math.floor(rand() * 4);
      // share prefixes often: start from an earlier candidate's prefix
      const from = c > 0 && rand() < 0.5 ? cands[Math.floor(rand() * c)]!.slice(0, Math.floor(rand() * 3)) : [];
      const ids = [...from];
      while (ids.length < len) ids.push(Math.floor(rand() * vocab));
      cands.push(ids);
    }
    const r = await greedyTrieChoice(buildTrie(cands), async (_path, children) => {
      // an arbitrary model: random probabilities, often concentrated, sometimes summing to ~1
      const ps = children.map(() => rand() ** 3);
      const s = ps.reduce((a, b) => a + b, 0) + rand();
      return ps.map((p) => p / s);
    });
    assert.ok(r.index >= 0 && r.index < n, `trial ${trial}: index ${r.index}`);
    // the walk ends on a candidate whose ids are the path (the first listed among duplicates)
    assert.deepEqual(r.ids, cands[r.index], `trial ${trial}`);
    assert.equal(cands.findIndex((c) => c.join() === r.ids.join()), r.index);
  }
});
