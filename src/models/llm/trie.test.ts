// The candidate trie and its greedy rule, on explicit probability tables (the algorithm alone; the
// real-model checks are in llama-cpp.test.ts and remote.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrie, greedyTrieChoice, greedyFromScores, bestByScore } from './trie.js';

test('trie shares prefixes and marks candidate ends', () => {
  const t = buildTrie([[5, 6], [5, 7], [5], [5, 6]]);
  assert.deepEqual([...t.children.keys()], [5]);
  const n5 = t.children.get(5)!;
  assert.equal(n5.end, 2);
  assert.deepEqual([...n5.children.keys()], [6, 7]);
  assert.equal(n5.children.get(6)!.end, 0, 'a duplicate keeps the first index');
  assert.throws(() => buildTrie([[1], []]), /candidate 1 has no tokens/);
});

test('greedy takes the most probable allowed token; a candidate that is a prefix ends by the stop rule', async () => {
  // Candidates: "a" = [1], "a b" = [1, 2], "c" = [3].
  const cands = [[1], [1, 2], [3]];
  const table = (pAfter1: number) => async (path: readonly number[], children: readonly number[]) =>
    children.map((id) => (path.length === 0 ? ({ 1: 0.6, 3: 0.3 } as Record<number, number>)[id]! : id === 2 ? pAfter1 : 0));
  // After [1], p(2) = 0.3: not continuing (0.7) beats it -> "a".
  assert.equal((await greedyTrieChoice(buildTrie(cands), table(0.3))).index, 0);
  // p(2) = 0.6 > 0.4 -> "a b".
  const r = await greedyTrieChoice(buildTrie(cands), table(0.6));
  assert.equal(r.index, 1);
  assert.ok(Math.abs(r.logprob - (Math.log(0.6) + Math.log(0.6))) < 1e-12);
});

test('greedy from complete scores equals the step-by-step walk; best-by-score sums', async () => {
  const cands = [[1, 4], [1, 5], [2]];
  const lps = [[Math.log(0.5), Math.log(0.1)], [Math.log(0.5), Math.log(0.8)], [Math.log(0.4)]];
  const g = await greedyFromScores(cands, lps);
  assert.equal(g.index, 1);
  assert.deepEqual(g.ids, [1, 5]);
  const s = bestByScore(cands, lps);
  assert.equal(s.index, 1);
  assert.ok(Math.abs(s.logprob - Math.log(0.4)) < 1e-12);
  // Greedy and best-by-score differ when the greedy first step leads to a weak continuation.
  const lps2 = [[Math.log(0.5), Math.log(0.1)], [Math.log(0.5), Math.log(0.1)], [Math.log(0.4)]];
  assert.equal((await greedyFromScores(cands, lps2)).index, 0);
  assert.equal(bestByScore(cands, lps2).index, 2);
});
