// A deterministic LLM for the restoration tests: the next id is a hash of the input ids, every prompt
// it sees is recorded (the leak tests read them). Implements only what restoration uses. Portable.
import type { LLM, LLMStats, Prompt, TopKEntry, Vocabulary } from '../../models/llm/types.js';

export class RecordingLLM implements LLM {
  readonly id = 'recording-test-llm';
  readonly prompts: number[][] = [];
  private evaluated = 0;
  constructor(private readonly size: number, readonly contextSize = 4096) {}

  private ids(p: Prompt): number[] {
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
    return prompts.map((p) => {
      const ids = this.ids(p);
      this.prompts.push(ids);
      this.evaluated += ids.length;
      let h = 2166136261;
      for (const id of ids) h = Math.imul(h ^ id, 16777619) >>> 0;
      return [{ id: h % this.size, token: '', prob: 1 }].slice(0, k);
    });
  }
  generate(): never {
    throw new Error('not used');
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
