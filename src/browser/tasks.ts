// The in-context tasks in the browser (few-shot, restoration), from the portable core. Filled in below.
import type { BrowserTokenizer } from './tokenizer.js';
import type { WllamaLLM } from './wllama-llm.js';
import type { LocalApiOptions } from './local-api.js';

export function browserTasks(_o: { tokenizer: BrowserTokenizer; llm: WllamaLLM }): { fewshot: LocalApiOptions['fewshot']; fewshotInfo: LocalApiOptions['fewshotInfo']; restore: LocalApiOptions['restore'] } {
  return { fewshot: null, fewshotInfo: null, restore: null };
}
