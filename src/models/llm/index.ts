// v2l/llm: the frozen LLM behind the LLM interface: llama.cpp (node-llama-cpp, loaded on first use), a
// remote OpenAI-completions server, the completions server over any LLM, GGUF vocabularies. Node edge;
// the portable parts (prompt, trie, vocabulary) are also in v2l/core.
export type { LLM, Prompt, PromptPiece, Vocabulary, TopKEntry, GenerateOptions, GenerateResult, GenerateStep, ChoiceResult, ChoiceOptions, LLMStats, QueryOptions } from './types.js';
export { LlamaCppLLM, type LlamaCppOptions } from './llama-cpp.js';
export { RemoteLLM, type RemoteOptions } from './remote.js';
export { loadLLM, isRemoteSpec, type LoadLLMOptions } from './load.js';
export { startCompletionsServer, type CompletionsServer } from './server.js';
export { readVocabulary } from './gguf-vocabulary.js';
export { makeVocabulary, vocabularyHash, renderTokens, tokenBytes, vocabularySample, TokenType } from './vocabulary.js';
export { flattenPrompt, queryIds, tokenizeContinuation, type PromptTokenizer } from './prompt.js';
export { buildTrie, greedyTrieChoice, greedyFromScores, bestByScore, type TrieNode, type TrieChoice } from './trie.js';
