// The restoration prompt of one step, as exact ids. Portable: the model's tokenizer is passed in.
//
// The reference (eval_denoising_generation.py:374-378, 459-490, tasks-spec.md §3):
//   [BOS] enc("Learning a new language and predict the {m} tokens following the examples.\n")
//   for each example: enc("###\nInput: < ") input enc(" >\nOutput: ") output
//   enc("###\nInput: < ") query enc(" >\nOutput: ")
// every text piece encoded SEPARATELY (SentencePiece adds its dummy "▁" to each), image tokens as raw ids.
// With LLaMA-2: instruction = 29257 263 716 4086 322 8500 278 29871 29906 18897 1494 278 6455 29889 13,
// IN = 835 13 4290 29901 529 29871, OUT = 29871 1405 13 6466 29901 29871. Both protocols use this form;
// they differ only in what the examples and the query hold (./context.ts).
import type { Example } from './context.js';

export const INSTRUCTION = (m: number) => `Learning a new language and predict the ${m} tokens following the examples.\n`;
export const IN_TEXT = '###\nInput: < ';
export const OUT_TEXT = ' >\nOutput: ';

/** The ids of the fixed text pieces, each tokenized on its own as the model tokenizes a plain string. */
export interface PromptPieces {
  bos: number | null;
  instruction: number[];
  input: number[];
  output: number[];
}

/** Tokenizes the fixed pieces once per run (`tokenize` = the model's plain tokenization, no BOS). */
export async function promptPieces(tokenize: (text: string) => Promise<number[]> | number[], bos: number | null | undefined, m: number): Promise<PromptPieces> {
  return {
    bos: bos ?? null,
    instruction: [...(await tokenize(INSTRUCTION(m)))],
    input: [...(await tokenize(IN_TEXT))],
    output: [...(await tokenize(OUT_TEXT))],
  };
}

/** Prompt ids: BOS, instruction, the examples, then the query awaiting its output. */
export function restorePrompt(pieces: PromptPieces, examples: readonly Example[], query: readonly number[]): number[] {
  const out: number[] = [];
  if (pieces.bos !== null) out.push(pieces.bos);
  out.push(...pieces.instruction);
  for (const e of examples) out.push(...pieces.input, ...e.input, ...pieces.output, ...e.output);
  out.push(...pieces.input, ...query, ...pieces.output);
  return out;
}

/** The length of a prompt with `copies` examples of `inLen` -> `m` ids and a query of `qLen` ids. */
export function promptLength(pieces: PromptPieces, copies: number, inLen: number, qLen: number, m: number): number {
  const io = pieces.input.length + pieces.output.length;
  return (pieces.bos !== null ? 1 : 0) + pieces.instruction.length + copies * (io + inLen + m) + io + qLen;
}
