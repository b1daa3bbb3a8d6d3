// Constrained decoding over a fixed set of candidates (classification): a trie of the candidates' token
// ids, walked greedily so that the output is always one of the candidates. Portable: the model is reached
// through a callback that gives the probabilities of the allowed next tokens.

import { flattenPrompt, type PromptTokenizer } from './prompt.js';

export interface TrieNode {
  /** Next token id -> subtree, in the order first seen. */
  readonly children: Map<number, TrieNode>;
  /** Index of the (first) candidate whose tokens end exactly here, or -1. */
  end: number;
}

export function buildTrie(candidates: readonly (readonly number[])[]): TrieNode {
  const root: TrieNode = { children: new Map(), end: -1 };
  candidates.forEach((ids, index) => {
    if (ids.length === 0) throw new Error(`candidate ${index} has no tokens`);
    let node = root;
    for (const id of ids) {
      let next = node.children.get(id);
      if (!next) node.children.set(id, (next = { children: new Map(), end: -1 }));
      node = next;
    }
    if (node.end < 0) node.end = index;
  });
  return root;
}

/** Probabilities (not logs) of `children` as the next token after the trie path `path`. */
export type ChildProbabilities = (path: readonly number[], children: readonly number[]) => Promise<number[]>;

export interface TrieChoice {
  index: number;
  ids: number[];
  /** Sum of the natural-log probabilities of the chosen tokens. */
  logprob: number;
}

/**
 * Greedy walk: at each node take the allowed next token with the highest probability (ties: the
 * candidate listed first). Where a candidate ends at a node that also continues into longer candidates
 * (e.g. "cat" and "cat food"), the walk stops there when the probability of NOT continuing into any
 * longer candidate, 1 - sum(p(children)), is at least the best child's probability; otherwise it goes on.
 */
export async function greedyTrieChoice(root: TrieNode, probs: ChildProbabilities): Promise<TrieChoice> {
  const path: number[] = [];
  let logprob = 0;
  let node = root;
  for (;;) {
    const ids = [...node.children.keys()];
    if (ids.length === 0) break;
    const p = await probs(path, ids);
    let best = 0;
    for (let i = 1; i < ids.length; i++) if (p[i]! > p[best]!) best = i;
    if (node.end >= 0) {
      const continuing = p.reduce((s, x) => s + x, 0);
      if (1 - continuing >= p[best]!) break;
    }
    path.push(ids[best]!);
    logprob += Math.log(p[best]!);
    node = node.children.get(ids[best]!)!;
  }
  if (node.end < 0) throw new Error('internal: greedy trie walk ended inside a candidate');
  return { index: node.end, ids: path, logprob };
}

/**
 * The same greedy choice computed from complete per-token scores of every candidate (teacher forcing):
 * every trie edge's probability is one of the candidates' token log-probabilities. Used where the model
 * answers scoring requests more cheaply than step-by-step ones (a remote server).
 */
export function greedyFromScores(candidates: readonly (readonly number[])[], logprobs: readonly (readonly number[])[]): Promise<TrieChoice> {
  const root = buildTrie(candidates);
  const edge = new Map<string, number>();
  candidates.forEach((ids, c) => {
    for (let j = 0; j < ids.length; j++) edge.set(ids.slice(0, j + 1).join(','), logprobs[c]![j]!);
  });
  return greedyTrieChoice(root, async (path, children) =>
    children.map((id) => Math.exp(edge.get([...path, id].join(','))!)),
  );
}

/** The candidate with the highest total log-probability (ties: listed first). */
export function bestByScore(candidates: readonly (readonly number[])[], logprobs: readonly (readonly number[])[]): TrieChoice {
  let best = -1;
  let bestLp = -Infinity;
  candidates.forEach((_, c) => {
    const lp = logprobs[c]!.reduce((s, x) => s + x, 0);
    if (best < 0 || lp > bestLp) {
      best = c;
      bestLp = lp;
    }
  });
  if (best < 0) throw new Error('no candidates to choose from');
  return { index: best, ids: [...candidates[best]!], logprob: bestLp };
}

/** Each candidate's ids as a continuation of the prompt (what every backend's choose() walks); empty ones refused. */
export async function candidateIds(candidates: readonly string[], tok: PromptTokenizer): Promise<number[][]> {
  if (candidates.length === 0) throw new Error('choose: no candidates');
  const cands = await Promise.all(candidates.map((c) => flattenPrompt(c, tok, { continuation: true })));
  cands.forEach((c, i) => {
    if (c.length === 0) throw new Error(`choose: candidate ${i} (${JSON.stringify(candidates[i])}) is empty`);
  });
  return cands;
}

/**
 * choose() of a backend that gives next-token probabilities itself: the best total log-probability in mode
 * 'score' (from `score`), else the greedy trie walk over `probs`.
 */
export async function chooseAmong(
  candidates: readonly string[], cands: readonly (readonly number[])[], mode: 'greedy' | 'score' | undefined,
  score: () => Promise<number[][]>, probs: ChildProbabilities,
): Promise<{ index: number; text: string; logprob: number }> {
  const best = mode === 'score' ? bestByScore(cands, await score()) : await greedyTrieChoice(buildTrie(cands), probs);
  return { index: best.index, text: candidates[best.index]!, logprob: best.logprob };
}
