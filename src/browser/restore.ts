// Restoration in the browser: filled in next.
import type { BrowserTokenizer } from './tokenizer.js';
import type { WllamaLLM } from './wllama-llm.js';
import type { LocalRestore } from './local-api.js';

export function restoreRunner(_o: { tokenizer: BrowserTokenizer; llm: WllamaLLM }): LocalRestore | null {
  return null;
}
