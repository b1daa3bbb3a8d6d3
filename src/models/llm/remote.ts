// The remote LLM backend: any OpenAI-compatible completions server (vLLM, llama.cpp's server, ./server.ts).
// Portable: fetch only. Every prompt is sent as an array of token ids, so local image tokens reach the
// model exactly and the server never re-tokenizes them.
//
// Protocol fields relied on (see ./server.ts for the full list):
// - POST /v1/completions with `prompt: number[]`, `max_tokens`, `temperature`, `top_p`, `seed`, `stop`,
//   `logprobs: k`; top-k alternatives are read from `choices[0].logprobs.top_logprobs[0]`. To avoid the
//   collision of token texts (many ids share a text, e.g. byte tokens), `return_tokens_as_token_ids: true`
//   is sent (vLLM, ./server.ts: keys "token_id:<id>"); llama.cpp's `logprobs.content[].top_logprobs[]`
//   with `id` fields is read too. A key that is plain text is mapped through the vocabulary: a byte token
//   with the same text as an ordinary token is read as the ordinary one (the protocol cannot tell them
//   apart), any other ambiguity is refused.
// - `echo: true, max_tokens: 0, logprobs: 0` for per-token scores of a prompt (`token_logprobs`): vLLM
//   answers it, llama.cpp's server refuses it (choose() then walks the trie step by step).
// - POST /tokenize {content, prompt, add_special, add_special_tokens} -> {tokens} for text pieces
//   (llama.cpp and vLLM both serve it); POST /detokenize {tokens} -> {content | prompt}.
// - GET /v1/models: the model name, and `meta.n_vocab` / `meta.vocab_hash` where the server gives them.
// - usage.prompt_tokens / completion_tokens / prompt_tokens_details.cached_tokens for the token counts.
import { queryIds, flattenPrompt } from './prompt.js';
import { bestByScore, greedyFromScores, greedyTrieChoice, buildTrie } from './trie.js';
import { makeVocabulary, renderTokens, TokenType } from './vocabulary.js';
import type {
  LLM, Vocabulary, Prompt, TopKEntry, GenerateOptions, GenerateResult, ChoiceResult, ChoiceOptions, LLMStats, QueryOptions,
} from './types.js';

export interface RemoteOptions {
  /** Server root, e.g. "http://127.0.0.1:8080" (a trailing "/v1" is accepted). */
  baseUrl: string;
  /** Model name to request; default: the first one the server lists. */
  model?: string;
  apiKey?: string;
  /** Per-attempt timeout in ms (default 60,000). */
  timeoutMs?: number;
  /** Retries after a network error, timeout, 429 or 5xx (default 3), with exponential backoff and jitter. */
  retries?: number;
  /** First backoff in ms (default 250); doubles each retry, times a random factor in [0.5, 1.5). */
  backoffMs?: number;
  /** Requests in flight at once (default 4). */
  maxConcurrency?: number;
  /**
   * The vocabulary the caller's token ids refer to (or its hash). Connecting fails when the server's
   * vocabulary differs: ids would silently mean other tokens.
   */
  expectVocabulary?: Vocabulary | string;
  /** The most top-k alternatives the server returns (vLLM's default max_logprobs is 20). */
  maxLogprobs?: number;
  /** Prompts per completions request (default 16; the protocol takes a list of prompts). */
  batchSize?: number;
}

interface CompletionChoice {
  index?: number;
  text: string;
  finish_reason: string | null;
  stop_reason?: string | number | null;
  logprobs?: {
    tokens?: string[];
    token_logprobs?: (number | null)[];
    top_logprobs?: (Record<string, number> | null)[];
    content?: { id?: number; token?: string; logprob: number; top_logprobs?: { id?: number; token?: string; logprob: number }[] }[];
  } | null;
}
interface CompletionResponse {
  choices: CompletionChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null };
}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RemoteLLM implements LLM {
  readonly id: string;
  private evaluated = 0;
  private reused = 0;
  private readonly sem: Semaphore;
  private readonly tokCache = new Map<string, Promise<number[]>>();
  private vocab?: Promise<Vocabulary>;
  private bos?: number;
  /** Whether the server answers `echo` with prompt logprobs (unknown until tried). */
  private echo?: boolean;
  private byText?: Promise<Map<string, number[]>>;

  private constructor(private readonly root: string, readonly model: string, private readonly opts: RemoteOptions) {
    this.id = `${root} ${model}`;
    this.sem = new Semaphore(Math.max(1, opts.maxConcurrency ?? 4));
  }

  /** Connect: list the model, check the vocabulary where one is expected. */
  static async connect(opts: RemoteOptions): Promise<RemoteLLM> {
    let root: string;
    try {
      root = new URL(opts.baseUrl).toString().replace(/\/+$/, '').replace(/\/v1$/, '');
    } catch {
      throw new Error(`not a valid LLM server URL: ${opts.baseUrl}`);
    }
    const probe = new RemoteLLM(root, opts.model ?? '', opts);
    const models = await probe.request<{ data?: { id: string; meta?: { n_vocab?: number; vocab_hash?: string } }[] }>('GET', '/v1/models');
    const list = models.data ?? [];
    const entry = opts.model ? list.find((m) => m.id === opts.model) : list[0];
    if (!entry) {
      throw new Error(`LLM server ${root} does not serve ${opts.model ? `model ${opts.model}` : 'any model'} (it lists: ${list.map((m) => m.id).join(', ') || 'none'})`);
    }
    const llm = new RemoteLLM(root, entry.id, opts);
    if (opts.expectVocabulary !== undefined) await llm.checkVocabulary(opts.expectVocabulary, entry.meta ?? {});
    return llm;
  }

  /** Refuse a server whose vocabulary is not the expected one. */
  private async checkVocabulary(expect: Vocabulary | string, meta: { n_vocab?: number; vocab_hash?: string }): Promise<void> {
    const refuse = (why: string): never => {
      throw new Error(`vocabulary mismatch: the LLM server ${this.root} (model ${this.model}) ${why}; refusing to send token ids that would mean other tokens`);
    };
    const expectHash = typeof expect === 'string' ? expect : expect.hash;
    if (typeof expect !== 'string' && meta.n_vocab !== undefined && meta.n_vocab !== expect.size) {
      refuse(`has ${meta.n_vocab} tokens, expected ${expect.size}`);
    }
    const served = meta.vocab_hash ?? (await this.serverVocabulary().then((v) => v?.hash, () => undefined));
    if (served !== undefined) {
      if (served !== expectHash) refuse(`has vocabulary ${served.slice(0, 12)}…, expected ${expectHash.slice(0, 12)}…`);
      return;
    }
    if (typeof expect === 'string') refuse('does not report its vocabulary hash, so it cannot be checked against the expected hash (pass the Vocabulary itself)');
    const vocab = expect as Vocabulary;
    // Probe 1: detokenizing ordinary tokens spread over the ids gives their texts.
    const sample: number[] = [];
    const step = Math.max(1, Math.floor(vocab.size / 64));
    for (let id = 0; id < vocab.size && sample.length < 64; id += step) {
      const t = vocab.types?.[id];
      if (t === undefined || t === TokenType.normal) sample.push(id);
    }
    for (const id of sample.slice(0, 16)) {
      const got = await this.detokenize([id, id]).catch((err: Error) => refuse(`cannot detokenize id ${id} (${err.message})`));
      const want = renderTokens(vocab, [id, id]);
      if (got.trim() !== want.trim()) refuse(`detokenizes id ${id} as ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
    // Probe 2: the ids the server gives a text spell that text in the expected vocabulary.
    const text = renderTokens(vocab, sample).trim();
    const ids = await this.tokenizeRaw(text).catch((err: Error) => refuse(`cannot tokenize a probe text (${err.message})`));
    if (renderTokens(vocab, ids).trim() !== text) refuse(`tokenizes a probe text into ids that spell ${JSON.stringify(renderTokens(vocab, ids).slice(0, 60))} in the expected vocabulary`);
  }

  private async serverVocabulary(): Promise<Vocabulary | undefined> {
    const v = await this.request<{ tokens?: string[]; bos?: number | null; eos?: number | null; model?: string | null; types?: number[] | null }>('GET', '/v2l/vocabulary');
    if (!v.tokens) return undefined;
    return makeVocabulary(v.tokens, { bos: v.bos ?? undefined, eos: v.eos ?? undefined, model: v.model ?? undefined, types: v.types ?? undefined });
  }

  /** One HTTP request with timeout, retries (backoff + jitter) and a bounded number in flight. */
  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = this.root + path;
    const retries = this.opts.retries ?? 3;
    const timeout = this.opts.timeoutMs ?? 60_000;
    let last = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep((this.opts.backoffMs ?? 250) * 2 ** (attempt - 1) * (0.5 + Math.random()));
      let res: Response;
      try {
        res = await this.sem.run(() =>
          fetch(url, {
            method,
            headers: { 'content-type': 'application/json', ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(timeout),
          }),
        );
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        if (e.name === 'TimeoutError' || e.name === 'AbortError') last = `no answer within ${timeout} ms`;
        else last = `cannot reach the server (${e.cause?.code ?? e.cause?.message ?? e.message})`;
        continue;
      }
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        last = `the response broke off (${(err as Error).message})`;
        continue;
      }
      if (res.ok) {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new Error(`LLM server ${url}: the answer is not JSON: ${text.slice(0, 200)}`);
        }
      }
      let message = text.slice(0, 300);
      try {
        const j = JSON.parse(text) as { error?: { message?: string } | string };
        message = typeof j.error === 'string' ? j.error : (j.error?.message ?? message);
      } catch {
        /* keep the raw text */
      }
      last = `HTTP ${res.status}: ${message}`;
      if (res.status === 429 || res.status >= 500) {
        // Honour Retry-After (seconds) up to 30 s; the backoff above still applies.
        const after = Number(res.headers.get('retry-after'));
        if (attempt < retries && Number.isFinite(after) && after > 0) await sleep(Math.min(after, 30) * 1000);
        continue;
      }
      throw new Error(`LLM server ${url}: ${last}`);
    }
    throw new Error(`LLM server ${url}: ${last} (after ${retries + 1} attempts)`);
  }

  private async complete(body: Record<string, unknown>): Promise<CompletionResponse> {
    const res = await this.request<CompletionResponse>('POST', '/v1/completions', { model: this.model, ...body });
    if (!res.choices?.length) throw new Error(`LLM server ${this.root}/v1/completions: no choices in the answer`);
    const prompt = res.usage?.prompt_tokens ?? 0;
    const cached = res.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    // As the local backend counts: the last generated token is sampled, never fed back.
    this.evaluated += prompt - cached + Math.max(0, (res.usage?.completion_tokens ?? 0) - 1);
    this.reused += cached;
    return res;
  }

  vocabulary(): Promise<Vocabulary> {
    this.vocab ??= (async () => {
      if (this.opts.expectVocabulary && typeof this.opts.expectVocabulary !== 'string') return this.opts.expectVocabulary;
      const v = await this.serverVocabulary().catch(() => undefined);
      if (!v) throw new Error(`LLM server ${this.root} does not publish its vocabulary; pass expectVocabulary (e.g. readVocabulary(<the model's GGUF>))`);
      return v;
    })();
    return this.vocab;
  }

  private tokenizeRaw(text: string, addBos = false): Promise<number[]> {
    const key = `${addBos ? 1 : 0}${text}`;
    let p = this.tokCache.get(key);
    if (!p) {
      p = this.request<{ tokens: (number | { id: number })[] }>('POST', '/tokenize', { model: this.model, content: text, prompt: text, add_special: addBos, add_special_tokens: addBos })
        .then((r) => r.tokens.map((t) => (typeof t === 'number' ? t : t.id)));
      p.catch(() => this.tokCache.delete(key));
      this.tokCache.set(key, p);
    }
    return p;
  }

  tokenize(text: string, opts: { addBos?: boolean } = {}): Promise<number[]> {
    return this.tokenizeRaw(text, opts.addBos ?? false);
  }

  async detokenize(ids: readonly number[]): Promise<string> {
    const r = await this.request<{ content?: string; prompt?: string }>('POST', '/detokenize', { model: this.model, tokens: ids });
    return r.content ?? r.prompt ?? '';
  }

  private async tok() {
    if (this.bos === undefined) {
      const withBos = await this.tokenizeRaw('a', true);
      const without = await this.tokenizeRaw('a', false);
      this.bos = withBos.length > without.length ? withBos[0]! : -1;
    }
    return { tokenize: (t: string) => this.tokenizeRaw(t), bos: this.bos >= 0 ? this.bos : undefined };
  }

  /** The id behind a top_logprobs key: "token_id:<id>", else a token text that must be unambiguous. */
  private async idOf(key: string): Promise<number> {
    const m = /^token_id:(\d+)$/.exec(key);
    if (m) return Number(m[1]);
    this.byText ??= this.vocabulary().then((vocab) => {
      const map = new Map<string, number[]>();
      for (let id = 0; id < vocab.size; id++) {
        const text = renderTokens(vocab, [id]);
        const list = map.get(text);
        if (list) list.push(id);
        else map.set(text, [id]);
      }
      return map;
    });
    let ids = (await this.byText).get(key) ?? [];
    if (ids.length > 1) {
      // A byte token ("<0x2C>") renders as the same text as the ordinary token (","); a text-keyed
      // server cannot tell them apart, so the ordinary token is taken.
      const types = (await this.vocabulary()).types;
      const ordinary = ids.filter((id) => types?.[id] !== TokenType.byte);
      if (ordinary.length === 1) ids = ordinary;
    }
    if (ids.length !== 1) {
      throw new Error(`LLM server ${this.root} keys logprobs by token text and ${JSON.stringify(key)} matches ${ids.length} tokens; the server must support return_tokens_as_token_ids (vLLM) or report ids (llama.cpp)`);
    }
    return ids[0]!;
  }

  private async topFrom(choice: CompletionChoice, k: number, pos: number): Promise<TopKEntry[]> {
    const vocab = await this.vocabulary();
    const pairs: [number, number][] = [];
    const lp = choice.logprobs;
    const content = lp?.content?.[pos];
    if (content?.top_logprobs?.every((e) => e.id !== undefined)) {
      for (const e of content.top_logprobs) pairs.push([e.id!, e.logprob]);
    } else {
      const top = lp?.top_logprobs?.[pos];
      if (!top) throw new Error(`LLM server ${this.root} returned no top_logprobs (does it support logprobs?)`);
      for (const [key, v] of Object.entries(top)) pairs.push([await this.idOf(key), v]);
    }
    return pairs
      .map(([id, l]) => ({ id, token: vocab.tokens[id] ?? '', prob: Math.exp(l) }))
      .sort((a, b) => b.prob - a.prob || a.id - b.id)
      .slice(0, k);
  }

  async topK(prompts: readonly Prompt[], k: number, opts: QueryOptions = {}): Promise<TopKEntry[][]> {
    if (!Number.isInteger(k) || k < 1) throw new Error(`topK: k must be a positive integer, got ${k}`);
    const max = this.opts.maxLogprobs ?? 20;
    if (k > max) throw new Error(`topK: k = ${k} exceeds the ${max} alternatives the LLM server ${this.root} returns (maxLogprobs)`);
    const tok = await this.tok();
    const inputs = await Promise.all(prompts.map(async (p) => (await queryIds(p, tok, opts)).ids));
    if (inputs.some((ids) => ids.length === 0)) throw new Error('empty prompt: the model needs at least one token (a BOS or text)');
    const choices = await this.completeMany(inputs, { max_tokens: 1, temperature: 0, logprobs: k, return_tokens_as_token_ids: true });
    return Promise.all(choices.map((c) => this.topFrom(c, k, 0)));
  }

  /**
   * Many prompts (id arrays), `batchSize` per request (the protocol takes a list of prompts; choices come
   * back with their `index`), requests in flight up to `maxConcurrency`. Choices in prompt order.
   */
  private async completeMany(prompts: readonly number[][], body: Record<string, unknown>): Promise<CompletionChoice[]> {
    const size = Math.max(1, this.opts.batchSize ?? 16);
    const out: CompletionChoice[] = new Array(prompts.length);
    const chunks: number[] = [];
    for (let i = 0; i < prompts.length; i += size) chunks.push(i);
    await Promise.all(chunks.map(async (lo) => {
      const part = prompts.slice(lo, lo + size);
      const res = await this.complete({ ...body, prompt: part.length === 1 ? part[0] : part });
      if (res.choices.length !== part.length) throw new Error(`LLM server ${this.root}/v1/completions: ${res.choices.length} choices for ${part.length} prompts`);
      res.choices.forEach((c, j) => {
        out[lo + (typeof c.index === 'number' ? c.index : j)] = c;
      });
    }));
    return out;
  }

  async generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult> {
    const tok = await this.tok();
    const { ids } = await queryIds(prompt, tok, opts);
    const want = opts.topLogprobs ?? 0;
    const res = await this.complete({
      prompt: ids,
      max_tokens: opts.maxTokens,
      temperature: opts.temperature ?? 0,
      ...(opts.topP !== undefined ? { top_p: opts.topP } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.stop?.length ? { stop: opts.stop } : {}),
      logprobs: Math.max(1, want),
      return_tokens_as_token_ids: true,
      include_stop_str_in_output: true,
    });
    const c = res.choices[0]!;
    const keys = c.logprobs?.content?.map((e) => (e.id !== undefined ? `token_id:${e.id}` : (e.token ?? ''))) ?? c.logprobs?.tokens ?? [];
    const outIds = await Promise.all(keys.map((key) => this.idOf(key)));
    let text = c.text;
    let stopReason: GenerateResult['stopReason'];
    if (c.finish_reason === 'length') stopReason = 'maxTokens';
    else {
      const hit = (opts.stop ?? []).find((s) => s !== '' && (text.endsWith(s) || c.stop_reason === s));
      if (hit !== undefined && !text.endsWith(hit)) text += hit;
      stopReason = hit !== undefined ? 'stop' : 'eos';
    }
    const result: GenerateResult = { text, ids: outIds, stopReason };
    if (want > 0) {
      const lps = c.logprobs?.content?.map((e) => e.logprob) ?? c.logprobs?.token_logprobs ?? [];
      result.steps = await Promise.all(outIds.map(async (id, j) => ({ id, logprob: lps[j] ?? NaN, top: await this.topFrom(c, want, j) })));
    }
    return result;
  }

  async score(prompt: Prompt, continuations: readonly Prompt[], opts: QueryOptions = {}): Promise<number[][]> {
    const tok = await this.tok();
    const { ids: p } = await queryIds(prompt, tok, opts);
    const conts = await Promise.all(continuations.map((c) => flattenPrompt(c, tok, { continuation: true })));
    const todo = conts.map((c, i) => i).filter((i) => conts[i]!.length > 0);
    const choices = await this.completeMany(todo.map((i) => [...p, ...conts[i]!]), { max_tokens: 0, echo: true, logprobs: 0, temperature: 0 });
    const out: number[][] = conts.map(() => []);
    todo.forEach((i, j) => {
      const c = conts[i]!;
      const lps = choices[j]!.logprobs?.token_logprobs;
      if (!lps || lps.length < p.length + c.length) throw new Error(`LLM server ${this.root} does not return prompt logprobs (echo); it cannot score continuations`);
      out[i] = lps.slice(p.length, p.length + c.length).map((x) => x ?? NaN);
    });
    return out;
  }

  /**
   * Scores every candidate (the server caches the shared prompt), then runs the same trie rules. A server
   * that refuses `echo` (llama.cpp's) gets the greedy walk step by step instead, from the top
   * `maxLogprobs` alternatives at each node: exact while at least one allowed token is among them (an
   * absent one is less probable than every present one; the stop rule then counts present ones only).
   */
  async choose(prompt: Prompt, candidates: readonly string[], opts: ChoiceOptions = {}): Promise<ChoiceResult> {
    if (candidates.length === 0) throw new Error('choose: no candidates');
    const tok = await this.tok();
    const cands = await Promise.all(candidates.map((c) => flattenPrompt(c, tok, { continuation: true })));
    cands.forEach((c, i) => {
      if (c.length === 0) throw new Error(`choose: candidate ${i} (${JSON.stringify(candidates[i])}) is empty`);
    });
    let lps: number[][] | undefined;
    if (this.echo !== false) {
      try {
        lps = await this.score(prompt, candidates, opts);
        this.echo = true;
      } catch (err) {
        if (this.echo === true || opts.mode === 'score' || !/HTTP 4\d\d|echo/.test((err as Error).message)) throw err;
        this.echo = false;
      }
    }
    if (lps) {
      const best = opts.mode === 'score' ? bestByScore(cands, lps) : await greedyFromScores(cands, lps);
      return { index: best.index, text: candidates[best.index]!, logprob: best.logprob };
    }
    if (opts.mode === 'score') throw new Error(`LLM server ${this.root} does not return prompt logprobs (echo); choose(mode: 'score') needs them`);
    const { ids: p } = await queryIds(prompt, tok, opts);
    const k = this.opts.maxLogprobs ?? 20;
    const best = await greedyTrieChoice(buildTrie(cands), async (path, children) => {
      const res = await this.complete({ prompt: [...p, ...path], max_tokens: 1, temperature: 0, logprobs: k, return_tokens_as_token_ids: true });
      const top = new Map((await this.topFrom(res.choices[0]!, k, 0)).map((e) => [e.id, e.prob]));
      const probs = children.map((id) => top.get(id) ?? 0);
      if (probs.every((x) => x === 0)) {
        throw new Error(`choose: LLM server ${this.root} does not return prompt logprobs (echo), and no allowed token is among its top ${k} alternatives after ${JSON.stringify(renderTokens(await this.vocabulary(), path))}; use a server with echo (vLLM) or the local backend`);
      }
      return probs;
    });
    return { index: best.index, text: candidates[best.index]!, logprob: best.logprob };
  }

  stats(): LLMStats {
    return { evaluatedTokens: this.evaluated, reusedTokens: this.reused };
  }

  async dispose(): Promise<void> {}
}
