// A small deterministic LLM for the few-shot tests (never shipped, not a model): it reads the episode out of
// the prompt's ids and answers with the label of the support example whose image tokens share the most
// ids with the query's (ties: the first), then EOS. So a run gets 100% exactly when the plumbing carries the
// right tokens to the right places. Tokenization and the vocabulary are a real model's (delegated).
//
// Distribution after a prompt ending in `output` + g: 0.9 on the next id of (label + EOS) when g is a
// prefix of it, the rest spread evenly over the vocabulary; KV reuse is simulated (common prefix with
// the previous input), so `stats()` behaves as a real backend's.
import type { ChoiceOptions, ChoiceResult, GenerateOptions, GenerateResult, GenerateStep, LLM, LLMStats, Prompt, QueryOptions, TopKEntry, Vocabulary } from '../../../models/llm/types.js';
import { commonPrefixLength, queryIds, flattenPrompt } from '../../../models/llm/prompt.js';
import { buildTrie, greedyTrieChoice } from '../../../models/llm/trie.js';

export interface OverlapMarkers {
  /** Ids that open an example's input (before the image tokens). */
  input: number[];
  /** Ids between the image tokens and the label. */
  output: number[];
  /** Ids that close a label (the paper's "."), if any. */
  end?: number[];
}

function indexOfSeq(a: readonly number[], s: readonly number[], from: number): number {
  outer: for (let i = from; i + s.length <= a.length; i++) {
    for (let j = 0; j < s.length; j++) if (a[i + j] !== s[j]) continue outer;
    return i;
  }
  return -1;
}

function overlap(a: readonly number[], b: readonly number[]): number {
  const m = new Map<number, number>();
  for (const x of a) m.set(x, (m.get(x) ?? 0) + 1);
  let n = 0;
  for (const x of b) {
    const c = m.get(x) ?? 0;
    if (c > 0) {
      n++;
      m.set(x, c - 1);
    }
  }
  return n;
}

export class OverlapLLM implements LLM {
  readonly id = 'overlap-test-llm (deterministic test double)';
  private evaluated = 0;
  private reused = 0;
  private last: number[] = [];
  /** Number of topK/score/choose/generate calls; `failAfter` makes the next call past it throw (interruptions). */
  calls = 0;
  failAfter = Infinity;

  constructor(private readonly base: LLM, private readonly markers: OverlapMarkers, private readonly vocab: Vocabulary) {}

  static async create(base: LLM, markers: OverlapMarkers): Promise<OverlapLLM> {
    return new OverlapLLM(base, markers, await base.vocabulary());
  }

  vocabulary(): Promise<Vocabulary> {
    return Promise.resolve(this.vocab);
  }
  tokenize(text: string, opts?: { addBos?: boolean }): Promise<number[]> {
    return this.base.tokenize(text, opts);
  }
  detokenize(ids: readonly number[]): Promise<string> {
    return this.base.detokenize(ids);
  }
  private tok() {
    return { tokenize: (t: string) => this.base.tokenize(t), bos: this.vocab.bos };
  }
  private tick(): void {
    if (++this.calls > this.failAfter) throw new Error('overlap-test-llm: interrupted (failAfter)');
  }
  private account(ids: readonly number[]): void {
    const keep = Math.min(commonPrefixLength(this.last, ids), ids.length - 1);
    this.evaluated += ids.length - keep;
    this.reused += keep;
    this.last = [...ids];
  }

  /** The id the model puts 0.9 on after `ids`, or -1. */
  next(ids: readonly number[]): number {
    const { input, output, end = [] } = this.markers;
    const examples: { image: number[]; label: number[] }[] = [];
    let at = 0;
    let lastOut = -1;
    for (;;) {
      const i = indexOfSeq(ids, input, at);
      if (i < 0) break;
      const o = indexOfSeq(ids, output, i + input.length);
      if (o < 0) break;
      const image = ids.slice(i + input.length, o);
      const nextIn = indexOfSeq(ids, input, o + output.length);
      let label = ids.slice(o + output.length, nextIn < 0 ? ids.length : nextIn);
      if (nextIn >= 0 && end.length && label.length >= end.length && label.slice(-end.length).join() === end.join()) label = label.slice(0, -end.length);
      examples.push({ image, label });
      lastOut = o + output.length;
      if (nextIn < 0) break;
      at = nextIn;
    }
    if (examples.length < 2) return -1;
    const query = examples[examples.length - 1]!;
    const generated = ids.slice(lastOut);
    let best = 0;
    let bestN = -1;
    examples.slice(0, -1).forEach((e, i) => {
      const n = overlap(e.image, query.image);
      if (n > bestN) {
        best = i;
        bestN = n;
      }
    });
    const target = [...examples[best]!.label, this.vocab.eos ?? 2];
    if (generated.length >= target.length || generated.some((g, j) => g !== target[j])) return -1;
    return target[generated.length]!;
  }

  private prob(ids: readonly number[], id: number): number {
    const n = this.next(ids);
    const rest = (n < 0 ? 1 : 0.1) / (n < 0 ? this.vocab.size : this.vocab.size - 1);
    return id === n ? 0.9 : rest;
  }

  private top(ids: readonly number[], k: number): TopKEntry[] {
    const n = this.next(ids);
    const out: TopKEntry[] = [];
    if (n >= 0) out.push({ id: n, token: this.vocab.tokens[n]!, prob: 0.9 });
    for (let id = 0; out.length < k && id < this.vocab.size; id++) if (id !== n) out.push({ id, token: this.vocab.tokens[id]!, prob: this.prob(ids, id) });
    return out;
  }

  async topK(prompts: readonly Prompt[], k: number, opts: QueryOptions = {}): Promise<TopKEntry[][]> {
    this.tick();
    const out: TopKEntry[][] = [];
    for (const p of prompts) {
      const { ids } = await queryIds(p, this.tok(), opts);
      this.account(ids);
      out.push(this.top(ids, k));
    }
    return out;
  }

  async score(prompt: Prompt, continuations: readonly Prompt[], opts: QueryOptions = {}): Promise<number[][]> {
    this.tick();
    const { ids } = await queryIds(prompt, this.tok(), opts);
    const out: number[][] = [];
    for (const c of continuations) {
      const cids = await flattenPrompt(c, this.tok(), { continuation: true });
      this.account([...ids, ...cids]);
      out.push(cids.map((id, j) => Math.log(this.prob([...ids, ...cids.slice(0, j)], id))));
    }
    return out;
  }

  async choose(prompt: Prompt, candidates: readonly string[], opts: ChoiceOptions = {}): Promise<ChoiceResult> {
    this.tick();
    const { ids } = await queryIds(prompt, this.tok(), opts);
    const cands = await Promise.all(candidates.map((c) => flattenPrompt(c, this.tok(), { continuation: true })));
    const r = await greedyTrieChoice(buildTrie(cands), async (path, children) => {
      this.account([...ids, ...path]);
      return children.map((id) => this.prob([...ids, ...path], id));
    });
    return { index: r.index, text: candidates[r.index]!, logprob: r.logprob };
  }

  async generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult> {
    this.tick();
    const { ids } = await queryIds(prompt, this.tok(), opts);
    const out: number[] = [];
    const steps: GenerateStep[] = [];
    let stopReason: GenerateResult['stopReason'] = 'maxTokens';
    while (out.length < opts.maxTokens) {
      const top = this.top([...ids, ...out], Math.max(1, opts.topLogprobs ?? 0));
      // As the llama.cpp backend: an EOS ends generation before its position is reported.
      if (top[0]!.id === this.vocab.eos) {
        stopReason = 'eos';
        break;
      }
      if (opts.topLogprobs) steps.push({ id: top[0]!.id, logprob: Math.log(top[0]!.prob), top });
      out.push(top[0]!.id);
    }
    this.account([...ids, ...out]);
    return { text: await this.base.detokenize(out), ids: out, stopReason, ...(opts.topLogprobs ? { steps } : {}) };
  }

  stats(): LLMStats {
    return { evaluatedTokens: this.evaluated, reusedTokens: this.reused };
  }

  async dispose(): Promise<void> {}
}
