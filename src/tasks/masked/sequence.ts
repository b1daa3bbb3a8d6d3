// The sequence of the masked-restoration task (paper §4.4; tasks-spec.md §4): the image's global tokens as
// text, then its local tokens as raw ids in raster order. The same layout is what `v2l lora-data` writes for
// training and what `v2l restore --task masked` feeds the LoRA-tuned LLM, so the two always agree. Portable.
//
// The paper gives no prompt text: v2l writes the global tokens as space-separated words and ends the text
// with a line break, so the local ids start on a token boundary the model can learn.
import { globalText } from '../global-text.js';
import type { Prompt } from '../../models/llm/types.js';

/** The text before the local ids. */
export function maskedPrefixText(globalTexts: readonly string[]): string {
  return `${globalText(globalTexts, 'words')}\n`;
}

/** The prefix as a Prompt (tokenized from the start of the input: BOS, then the text). */
export function maskedPrefix(globalTexts: readonly string[]): Prompt {
  return [maskedPrefixText(globalTexts)];
}

export interface TrainingSequence {
  /** BOS + prefix ids + local ids. */
  input_ids: number[];
  /** -100 (ignored by the loss) over BOS and the prefix, the id itself over the local tokens. */
  labels: number[];
  attention_mask: number[];
}

/**
 * One training sequence in the form Hugging Face trainers (PEFT on transformers) read from JSON lines:
 * the loss covers the local tokens only (labels -100 elsewhere; the model shifts labels itself).
 */
export function trainingSequence(prefixIds: readonly number[], local: readonly number[]): TrainingSequence {
  const input_ids = [...prefixIds, ...local];
  return {
    input_ids,
    labels: [...prefixIds.map(() => -100), ...local],
    attention_mask: input_ids.map(() => 1),
  };
}
