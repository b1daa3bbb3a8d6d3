// How a task prompt written as text segments becomes a Prompt. Portable.
//
// - 'v2l' (default): the segments are one text, tokenized as the model tokenizes a plain string (the
//   rules of src/models/llm/prompt.ts): a word is tokenized the same wherever the segments are cut.
// - 'reference': the reference's convention (tasks-spec.md §0, eval_understanding.py:94-157): each segment
//   is tokenized on its own, so SentencePiece puts its dummy "▁" before every segment, and the ids are
//   concatenated. The reference has no captioning/VQA code; this applies its convention to the paper's
//   prompt text.
import type { Prompt } from '../models/llm/types.js';

export type PromptProtocol = 'v2l' | 'reference';
export const PROMPT_PROTOCOLS: readonly PromptProtocol[] = ['v2l', 'reference'];

/** The model's plain tokenization (no BOS; SentencePiece adds its dummy prefix). */
export type PlainTokenize = (text: string) => Promise<readonly number[]> | readonly number[];

export async function segmentsPrompt(segments: readonly string[], protocol: PromptProtocol, tokenize: PlainTokenize): Promise<Prompt> {
  if (protocol === 'v2l') return [segments.join('')];
  const ids: number[] = [];
  for (const s of segments) if (s !== '') ids.push(...(await tokenize(s)));
  return [{ ids }];
}
