// The frozen LLM, as every caller in v2l sees it. Backends: ./llama-cpp.ts (local GGUF through
// node-llama-cpp) and ./remote.ts (any OpenAI-compatible completions server). Portable: types only.

/**
 * A prompt is a sequence of text pieces and raw token ids. Local image tokens enter the LLM as exact
 * ids, never re-tokenized text. A bare string is one text piece.
 */
export type PromptPiece = string | { ids: readonly number[] };
export type Prompt = string | readonly PromptPiece[];

export interface Vocabulary {
  /** Number of token ids (e.g. 32,000 for LLaMA-2). */
  readonly size: number;
  /** Raw text of every token, in id order, as stored in the model: "▁Hello", "<0x0A>", "<s>". */
  readonly tokens: readonly string[];
  /** sha256 (hex) of the token texts joined by "\n": identifies the vocabulary in manifests. */
  readonly hash: string;
  readonly bos?: number;
  readonly eos?: number;
  /** Tokenizer family as GGUF names it ("llama" = SentencePiece, "gpt2" = byte-level BPE): how to render texts. */
  readonly model?: string;
  /** GGUF token types per id where known (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). */
  readonly types?: readonly number[];
}

export interface TopKEntry {
  id: number;
  /** The token's raw vocabulary text (with "▁"). */
  token: string;
  prob: number;
}

export interface GenerateOptions {
  maxTokens: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Generation ends when the text produced contains one of these; the result includes it. */
  stop?: readonly string[];
  /** When > 0, also return the top-k alternatives at every generated position (`GenerateResult.steps`). */
  topLogprobs?: number;
}

/**
 * One generated position: the token taken, its log-probability and the top alternatives. With sampling
 * (temperature > 0) these are the probabilities of the distribution sampled from (after temperature and
 * top-p), with greedy decoding those of the model.
 */
export interface GenerateStep {
  id: number;
  logprob: number;
  top: TopKEntry[];
}

export interface GenerateResult {
  text: string;
  ids: number[];
  /** 'maxTokens': the token limit, or the end of the context window, was reached. */
  stopReason: 'stop' | 'maxTokens' | 'eos';
  /**
   * Per generated token, when `topLogprobs` was asked for; when generation ended at EOS, one more step
   * for the EOS position (its id is the EOS token, which is not in `ids` or `text`).
   */
  steps?: GenerateStep[];
}

export interface ChoiceResult {
  /** Index into the candidate list. */
  index: number;
  text: string;
  /** Sum of log-probabilities of the chosen tokens. */
  logprob: number;
}

export interface LLMStats {
  /** Tokens the model evaluated (prompt and generated), counting reused prefixes once. */
  evaluatedTokens: number;
  /** Tokens served from a reused prefix instead of being evaluated again. */
  reusedTokens: number;
}

export interface QueryOptions {
  /**
   * A prefix shared by every prompt of the call (e.g. the in-context examples): evaluated once,
   * its KV cache reused for each prompt, which is appended after it. The prompt is tokenized as a
   * continuation of the prefix (no BOS, no dummy-prefix space; rules in ./prompt.ts).
   */
  prefix?: Prompt;
  /**
   * Put the model's BOS token at the start (default true). Only the very start of the model's input gets
   * it: the prefix when there is one, otherwise the prompt.
   */
  addBos?: boolean;
}

export interface ChoiceOptions extends QueryOptions {
  /**
   * 'greedy' (default, as the reference): walk the candidate trie taking the most probable allowed token
   * at each step. 'score': the candidate with the highest total log-probability (every candidate scored).
   */
  mode?: 'greedy' | 'score';
}

export interface LLM {
  /** Model identity (path or server model name) for reports and manifests. */
  readonly id: string;
  vocabulary(): Promise<Vocabulary>;
  tokenize(text: string, opts?: { addBos?: boolean }): Promise<number[]>;
  detokenize(ids: readonly number[]): Promise<string>;
  /** Next-token top-k after each prompt, batched; probabilities over the full vocabulary. */
  topK(prompts: readonly Prompt[], k: number, opts?: QueryOptions): Promise<TopKEntry[][]>;
  generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult>;
  /** Constrained greedy decoding over a trie of candidate strings: always returns one candidate. */
  choose(prompt: Prompt, candidates: readonly string[], opts?: ChoiceOptions): Promise<ChoiceResult>;
  /**
   * Per-token log-probabilities of each continuation after the prompt (teacher forcing). Continuations
   * are tokenized as text that follows the prompt (no BOS, no dummy-prefix space).
   */
  score(prompt: Prompt, continuations: readonly Prompt[], opts?: QueryOptions): Promise<number[][]>;
  stats(): LLMStats;
  dispose(): Promise<void>;
}
