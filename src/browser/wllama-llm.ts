// The frozen LLM in a browser: a GGUF file the user chose, run by llama.cpp compiled to wasm through
// @wllama/wllama (2.x: its token-level API: tokenize, decode, full next-token probabilities, KV cache
// removal; 3.x keeps only OpenAI-style text completions). The same rules as the Node backend
// (../models/llm/llama-cpp.ts): prompts through ../models/llm/prompt.ts, the trie decoder, one sequence
// whose KV cache keeps the tokens a query shares with the previous one, evaluated/reused counts.
// The package names no entry point (its main, index.js, is not shipped) and its index.d.ts re-exports
// without file extensions (unresolved under NodeNext): the ES module build by path, the class type from
// its own declaration file.
import * as wllamaModule from '@wllama/wllama/esm/index.js';
import type { Wllama as WllamaClass } from '@wllama/wllama/esm/wllama.js';

const { Wllama } = wllamaModule as unknown as { Wllama: typeof WllamaClass };
type Wllama = WllamaClass;
import { makeVocabulary } from '../models/llm/vocabulary.js';
import { queryIds, flattenPrompt, commonPrefixLength, lexicographicOrder } from '../models/llm/prompt.js';
import { candidateIds, chooseAmong } from '../models/llm/trie.js';
import type {
  LLM, Vocabulary, Prompt, TopKEntry, GenerateOptions, GenerateResult, GenerateStep, ChoiceResult, ChoiceOptions, LLMStats, QueryOptions,
} from '../models/llm/types.js';
import { seededUniform } from '../tasks/shots.js';
import { readGgufMetadata } from './gguf-metadata.js';
import { InputError } from './image.js';

/** The wasm files of wllama, served beside the page (copied by scripts/build-web.mjs). */
export const WLLAMA_ASSETS = { single: 'wllama/single-thread/wllama.wasm', multi: 'wllama/multi-thread/wllama.wasm' } as const;

export interface WllamaOptions {
  /** Base URL of the page's files (WLLAMA_ASSETS under it). */
  assetsUrl: string;
  /** Context window (default: the model's training context, at most 4096). */
  contextSize?: number;
  /** Threads (default as the Node backend: 1 for models under 100 MB, else the cores when cross-origin isolated). */
  threads?: number;
}

/** A model's vocabulary from its GGUF metadata (the raw texts the codebook's manifest hashes). */
export async function ggufVocabulary(file: Blob, name: string): Promise<Vocabulary> {
  return vocabularyOf(await readGgufMetadata(file, name), name);
}

function vocabularyOf(meta: ReadonlyMap<string, unknown>, name: string): Promise<Vocabulary> {
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || !tokens.length) throw new InputError(`${name}: no tokenizer.ggml.tokens in the GGUF metadata`);
  const types = meta.get('tokenizer.ggml.token_type');
  return makeVocabulary(tokens as string[], {
    bos: meta.get('tokenizer.ggml.bos_token_id') as number | undefined,
    eos: meta.get('tokenizer.ggml.eos_token_id') as number | undefined,
    model: meta.get('tokenizer.ggml.model') as string | undefined,
    types: Array.isArray(types) && types.length === tokens.length ? types as number[] : undefined,
  });
}

/** Serialises calls: the one sequence's KV cache is shared state. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Next-token probabilities by token id. */
type Dist = Float32Array;

export class WllamaLLM implements LLM {
  private evaluated = 0;
  private reused = 0;
  /** The tokens whose KV the sequence holds. */
  private cached: number[] = [];
  private readonly lock = new Mutex();

  private constructor(
    readonly id: string,
    private readonly w: Wllama,
    private readonly vocab: Vocabulary,
    readonly contextSize: number,
    readonly threads: number,
    private readonly addBos: boolean,
  ) {}

  static async load(file: Blob, name: string, opts: WllamaOptions): Promise<WllamaLLM> {
    const meta = await readGgufMetadata(file, name);
    const vocab = await vocabularyOf(meta, name);
    const w = new Wllama({
      'single-thread/wllama.wasm': new URL(WLLAMA_ASSETS.single, opts.assetsUrl).href,
      'multi-thread/wllama.wasm': new URL(WLLAMA_ASSETS.multi, opts.assetsUrl).href,
    }, { suppressNativeLog: true, logger: { debug: () => undefined, log: () => undefined, warn: () => undefined, error: console.error } });
    const cores = globalThis.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
    const threads = opts.threads ?? (file.size < 100e6 ? 1 : cores);
    const ctxTrain = Number(meta.get(`${String(meta.get('general.architecture'))}.context_length`)) || 4096;
    const contextSize = opts.contextSize ?? Math.min(ctxTrain, 4096);
    try {
      await w.loadModel([file], { n_ctx: contextSize, n_batch: Math.min(contextSize, 512), n_threads: threads, seed: 0 });
    } catch (e) {
      throw new InputError(`cannot load the GGUF model ${name}: ${(e as Error).message}; is the file complete (${file.size.toLocaleString()} bytes)?`);
    }
    const info = w.getLoadedContextInfo();
    return new WllamaLLM(name, w, vocab, info.n_ctx, threads, w.mustAddBosToken());
  }

  async vocabulary(): Promise<Vocabulary> {
    return this.vocab;
  }

  async tokenize(text: string, opts: { addBos?: boolean } = {}): Promise<number[]> {
    const ids = await this.w.tokenize(text, false);
    const bos = this.vocab.bos;
    return opts.addBos && bos != null ? [bos, ...ids] : ids;
  }

  async detokenize(ids: readonly number[]): Promise<string> {
    return this.w.detokenize([...ids], true);
  }

  /** The plain tokenizer the prompt rules build on; BOS only for models that want one (as llama.cpp decides). */
  private tok() {
    const bos = this.addBos ? this.vocab.bos : undefined;
    return { tokenize: (text: string) => this.w.tokenize(text, false), bos };
  }

  private checkFits(n: number): void {
    if (n === 0) throw new Error('empty prompt: the model needs at least one token (a BOS or text)');
    if (n > this.contextSize) throw new Error(`input of ${n} tokens does not fit the context window of ${this.contextSize} tokens (${this.id})`);
  }

  private async dist(): Promise<Dist> {
    const all = await this.w.getLogits(-1);
    const d = new Float32Array(this.vocab.size);
    for (const { token, p } of all) d[token] = p;
    return d;
  }

  /**
   * Make the sequence hold `tokens` and return the next-token distribution after each position from `from`
   * on. Leading tokens already in the KV cache are reused (never the positions whose output is needed);
   * tokens up to `from` are evaluated in one batch, as the Node backend does.
   */
  private async evaluate(tokens: readonly number[], from: number): Promise<Dist[]> {
    this.checkFits(tokens.length);
    const keep = Math.min(commonPrefixLength(this.cached, tokens), from);
    if (keep === 0) await this.w.kvClear();
    else if (keep < this.cached.length) await this.w.kvRemove(keep, -1);
    this.cached = tokens.slice(0, keep);
    const out: Dist[] = [];
    await this.w.decode(tokens.slice(keep, from + 1), {});
    this.cached.push(...tokens.slice(keep, from + 1));
    out.push(await this.dist());
    for (let i = from + 1; i < tokens.length; i++) {
      await this.w.decode([tokens[i]], {});
      this.cached.push(tokens[i]);
      out.push(await this.dist());
    }
    this.evaluated += tokens.length - keep;
    this.reused += keep;
    return out;
  }

  private topOf(dist: Dist, k: number): TopKEntry[] {
    const ids = Array.from({ length: dist.length }, (_, i) => i).sort((a, b) => dist[b] - dist[a] || a - b).slice(0, k);
    return ids.map((id) => ({ id, token: this.vocab.tokens[id] ?? '', prob: dist[id] }));
  }

  topK(prompts: readonly Prompt[], k: number, opts: QueryOptions = {}): Promise<TopKEntry[][]> {
    if (!Number.isInteger(k) || k < 1) throw new Error(`topK: k must be a positive integer, got ${k}`);
    return this.lock.run(async () => {
      const inputs = await Promise.all(prompts.map(async (p) => (await queryIds(p, this.tok(), opts)).ids));
      inputs.forEach((ids) => this.checkFits(ids.length));
      const out: TopKEntry[][] = new Array(prompts.length);
      for (const i of lexicographicOrder(inputs)) {
        const ids = inputs[i];
        const [d] = await this.evaluate(ids, ids.length - 1);
        out[i] = this.topOf(d, k);
      }
      return out;
    });
  }

  generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult> {
    return this.lock.run(async () => {
      const { ids } = await queryIds(prompt, this.tok(), opts);
      this.checkFits(ids.length);
      const want = opts.topLogprobs ?? 0;
      const limit = Math.min(opts.maxTokens, this.contextSize - ids.length);
      const stops = (opts.stop ?? []).filter((s) => s !== '');
      const rand = seededUniform(opts.seed ?? 0);
      const out: number[] = [];
      const steps: GenerateStep[] = [];
      let text = '';
      let stopReason: GenerateResult['stopReason'] = 'maxTokens';
      if (limit > 0) {
        let [d] = await this.evaluate(ids, ids.length - 1);
        for (;;) {
          const token = this.pick(d, opts.temperature ?? 0, opts.topP ?? 1, rand);
          if (want > 0) steps.push({ id: token, logprob: Math.log(d[token]), top: this.topOf(d, want) });
          if (this.w.isTokenEOG(token)) {
            stopReason = 'eos';
            break;
          }
          out.push(token);
          text = await this.w.detokenize(out, true);
          const hit = Math.min(...stops.map((s) => { const i = text.indexOf(s); return i < 0 ? Infinity : i + s.length; }));
          if (hit < Infinity) {
            text = text.slice(0, hit);
            stopReason = 'stop';
            break;
          }
          if (out.length >= limit) break;
          await this.w.decode([token], {});
          this.cached.push(token);
          this.evaluated++;
          d = await this.dist();
        }
      }
      return { text, ids: out, stopReason, ...(want > 0 ? { steps } : {}) };
    });
  }

  /** Greedy (ties to the lower id) at temperature 0; else a seeded draw from the tempered, top-p cut distribution. */
  private pick(d: Dist, temperature: number, topP: number, rand: () => number): number {
    if (temperature <= 0) {
      let best = 0;
      for (let i = 1; i < d.length; i++) if (d[i] > d[best]) best = i;
      return best;
    }
    const w = Array.from(d, (p) => Math.pow(p, 1 / temperature));
    const order = w.map((_, i) => i).sort((a, b) => w[b] - w[a] || a - b);
    const total = w.reduce((s, x) => s + x, 0);
    const kept: number[] = [];
    let mass = 0;
    for (const i of order) {
      kept.push(i);
      mass += w[i] / total;
      if (mass >= topP) break;
    }
    let r = rand() * kept.reduce((s, i) => s + w[i], 0);
    for (const i of kept) if ((r -= w[i]) <= 0) return i;
    return kept[kept.length - 1];
  }

  score(prompt: Prompt, continuations: readonly Prompt[], opts: QueryOptions = {}): Promise<number[][]> {
    return this.lock.run(() => this.scoreUnlocked(prompt, continuations, opts));
  }

  private async scoreUnlocked(prompt: Prompt, continuations: readonly Prompt[], opts: QueryOptions): Promise<number[][]> {
    const { ids: p } = await queryIds(prompt, this.tok(), opts);
    const conts = await Promise.all(continuations.map((c) => flattenPrompt(c, this.tok(), { continuation: true })));
    conts.forEach((c) => this.checkFits(p.length + c.length));
    const out: number[][] = new Array(conts.length);
    for (const i of lexicographicOrder(conts)) {
      const c = conts[i];
      if (c.length === 0) {
        out[i] = [];
        continue;
      }
      const dists = await this.evaluate([...p, ...c], p.length - 1);
      out[i] = c.map((id, j) => Math.log(dists[j][id] ?? 0));
    }
    return out;
  }

  choose(prompt: Prompt, candidates: readonly string[], opts: ChoiceOptions = {}): Promise<ChoiceResult> {
    return this.lock.run(async () => {
      const cands = await candidateIds(candidates, this.tok());
      const { ids: p } = await queryIds(prompt, this.tok(), opts);
      return chooseAmong(candidates, cands, opts.mode, () => this.scoreUnlocked(prompt, candidates, opts), async (path, children) => {
        const all = [...p, ...path];
        const [d] = await this.evaluate(all, all.length - 1);
        return children.map((id) => d[id] ?? 0);
      });
    });
  }

  stats(): LLMStats {
    return { evaluatedTokens: this.evaluated, reusedTokens: this.reused };
  }

  async dispose(): Promise<void> {
    await this.w.exit();
  }
}
