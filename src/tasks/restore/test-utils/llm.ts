// A deterministic LLM for the restoration tests: the next id is a hash of the input ids (or always the
// EOS id 2, to test decoding past it), every input it evaluates is recorded (the leak tests read them).
// Implements only what restoration uses. Portable.
import type { GenerateOptions, GenerateResult, LLM, LLMStats, Prompt, QueryOptions, TopKEntry, Vocabulary } from '../../../models/llm/types.js';

export class RecordingLLM implements LLM {
  readonly id = 'recording-test-llm';
  readonly prompts: number[][] = [];
  private evaluated = 0;
  constructor(private readonly size: number, readonly contextSize = 4096, private readonly alwaysEos = false) {}

  protected next(ids: readonly number[]): number {
    this.prompts.push([...ids]);
    this.evaluated += ids.length;
    if (this.alwaysEos) return 2;
    let h = 2166136261;
    for (const id of ids) h = Math.imul(h ^ id, 16777619) >>> 0;
    return h % this.size;
  }

  protected ids(p: Prompt): number[] {
    if (typeof p === 'string') throw new Error('RecordingLLM takes id prompts only');
    return p.flatMap((piece) => {
      if (typeof piece === 'string') throw new Error('RecordingLLM takes id prompts only');
      return [...piece.ids];
    });
  }

  async vocabulary(): Promise<Vocabulary> {
    return { size: this.size, tokens: Array.from({ length: this.size }, (_, i) => `t${i}`), hash: 'test', bos: 1, eos: 2 };
  }
  async tokenize(text: string): Promise<number[]> {
    return [...text].map((c) => 3 + (c.charCodeAt(0) % (this.size - 3)));
  }
  async detokenize(ids: readonly number[]): Promise<string> {
    return ids.join(' ');
  }
  async topK(prompts: readonly Prompt[], k: number): Promise<TopKEntry[][]> {
    return prompts.map((p) => [{ id: this.next(this.ids(p)), token: '', prob: 1 }].slice(0, k));
  }
  /** Greedy; stops at EOS (id 2) as the real backends do. */
  async generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult> {
    const cur = this.ids(prompt);
    const out: number[] = [];
    while (out.length < opts.maxTokens) {
      const id = this.next(cur);
      if (id === 2) return { text: '', ids: out, stopReason: 'eos' };
      out.push(id);
      cur.push(id);
    }
    return { text: '', ids: out, stopReason: 'maxTokens' };
  }
  choose(): never {
    throw new Error('not used');
  }
  score(): never {
    throw new Error('not used');
  }
  stats(): LLMStats {
    return { evaluatedTokens: this.evaluated, reusedTokens: 0 };
  }
  async dispose(): Promise<void> {}
}

/**
 * An LLM that knows nothing of images and copies: the next id is the most frequent id at the same offset
 * after the " >\nOutput: " of every in-context example (ties: the first seen). What the reference
 * protocol's leak lets any LLM do.
 */
export class CopyingLLM extends RecordingLLM {
  constructor(size: number, private readonly out: readonly number[]) {
    super(size);
  }

  override async topK(prompts: readonly Prompt[], k: number): Promise<TopKEntry[][]> {
    return prompts.map((p) => [{ id: this.copy(p), token: '', prob: 1 }].slice(0, k));
  }

  override async generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult> {
    const ids: number[] = [];
    for (let j = 0; j < opts.maxTokens; j++) ids.push(this.copy([...(prompt as { ids: number[] }[]), { ids }]));
    return { text: '', ids, stopReason: 'maxTokens' };
  }

  private copy(p: Prompt): number {
    const ids = (p as { ids: readonly number[] }[]).flatMap((x) => [...x.ids]);
    this.prompts.push(ids);
    const ends: number[] = [];
    for (let i = 0; i + this.out.length <= ids.length; i++) {
      if (this.out.every((v, j) => ids[i + j] === v)) ends.push(i + this.out.length);
    }
    const query = ends.pop()!; // the last OUT is the query's; what follows it is generated so far
    const offset = ids.length - query;
    const counts = new Map<number, number>();
    for (const e of ends) {
      const id = ids[e + offset];
      if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    let best = 0;
    let n = -1;
    for (const [id, c] of counts) if (c > n) [best, n] = [id, c];
    return best;
  }
}
