// The local LLM backend: any GGUF file through node-llama-cpp (Node edge). One context sequence holds the
// KV cache of the last evaluated input; the next query reuses its common leading tokens (the shared
// prefix: in-context examples, "a photo of", ...) and evaluates only the rest. Numerics: a KV cache built
// token by token (during generation) and one built in a batch differ slightly, because llama.cpp uses
// other kernels for one token than for many (measured up to 2e-4 in probability on stories260K); KV
// built the same way reproduces full evaluation within 2e-7.
import { availableParallelism } from 'node:os';
import { statSync, existsSync } from 'node:fs';
// node-llama-cpp (hundreds of modules and the native binding) is loaded on the first model load, not at import.
import type { Llama, LlamaModel, LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import { readVocabulary } from './gguf-vocabulary.js';
import { queryIds, flattenPrompt, commonPrefixLength, lexicographicOrder } from './prompt.js';
import { candidateIds, chooseAmong } from './trie.js';
import { loadLogitsCapture, captureUnavailableReason, type LogitsCapture } from './logits-capture.js';
import { type NextDist, MapDist, CapturedDist } from './next-dist.js';
import type {
  LLM, Vocabulary, Prompt, TopKEntry, GenerateOptions, GenerateResult, GenerateStep, ChoiceResult, ChoiceOptions,
  LLMStats, QueryOptions,
} from './types.js';

export interface LlamaCppOptions {
  /**
   * CPU threads. Default: 1 for small models (< 100 MB, where synchronisation costs more than the
   * arithmetic: stories260K ran ~25x faster on 1 thread than on 2), else every available core.
   */
  threads?: number;
  /**
   * 'auto': use CUDA/Vulkan/Metal where one works. false: CPU only, nothing probed. Default: 'auto' only
   * where a GPU is visible at no cost (an NVIDIA device node, or Apple silicon), else false, so that
   * CPU-only machines skip node-llama-cpp's GPU probing (up to a minute). Env V2L_LLM_GPU=0|1 overrides.
   */
  gpu?: 'auto' | false;
  /** Load only the vocabulary (tokenize/detokenize/vocabulary work; no evaluation). */
  vocabOnly?: boolean;
  /** Context window in tokens (default: the model's training context, at most 4096). */
  contextSize?: number;
  /** Tokens per decode batch (default: the context size, at most 512). */
  batchSize?: number;
  /** Reuse the KV cache of leading tokens shared with the previous query (default true). */
  kvReuse?: boolean;
  /**
   * Parallel sequences (default 1). With more, batched calls (topK, score) split their queries into
   * that many runs that are decoded together in one batch, each run keeping its own KV cache (so a
   * shared prefix is evaluated once per sequence). Pays off where one decode is memory-bound (large
   * models); the context holds `contextSize` tokens per sequence.
   */
  sequences?: number;
  /**
   * LoRA adapters (llama.cpp's GGUF adapter format: `general.type = adapter`, `adapter.type = lora`) applied
   * to the context, each with its scale (default 1; llama.cpp multiplies it by alpha / rank).
   */
  lora?: readonly { path: string; scale?: number }[];
  /**
   * How each next-token distribution reaches JS. 'capture' (default where available, one sequence):
   * the logits-capture module's typed arrays, O(V) with no per-entry allocation (./logits-capture.ts);
   * 'map': node-llama-cpp's `probabilities` Map (~60 ms per position on a 128k vocabulary). Both give
   * the same probabilities bit for bit.
   */
  distribution?: 'capture' | 'map';
}

const llamas = new Map<string, Promise<Llama>>();
let vocabOnlyLoads = 0;
/** The default for `gpu`: see LlamaCppOptions.gpu. */
export function defaultGpu(): 'auto' | false {
  const env = process.env.V2L_LLM_GPU;
  if (env === '0' || env === 'false') return false;
  if (env === '1' || env === 'true' || env === 'auto') return 'auto';
  if (process.platform === 'darwin' && process.arch === 'arm64') return 'auto';
  return existsSync('/dev/nvidiactl') ? 'auto' : false;
}

function llamaFor(gpu: 'auto' | false): Promise<Llama> {
  const key = String(gpu);
  let p = llamas.get(key);
  if (!p) {
    // Before node-llama-cpp loads its addon, so that the addon binds to the capture's symbol.
    loadLogitsCapture();
    p = import('node-llama-cpp').then(({ getLlama, LlamaLogLevel }) => (gpu === false
      ? getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
      : getLlama({ gpu: 'auto', build: 'never', logLevel: LlamaLogLevel.error })
    )).then((llama) => {
      // llama.cpp logs a tensor-loading "error" while it loads a vocab-only file that has no tensors,
      // then succeeds; that line is dropped while a vocab-only load runs. Everything else passes.
      const log = llama.logger;
      llama.logger = (level, message) => {
        if (vocabOnlyLoads > 0 && /missing tensor|failed to load model/.test(message)) return;
        log(level, message);
      };
      return llama;
    });
    llamas.set(key, p);
  }
  return p;
}

/** Serialises calls: the single sequence's KV cache is one shared state. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

type Dist = Map<number, number>;

/**
 * One lock for every model in the process: an armed logits capture takes the next logits read by any
 * context, so evaluations of different models must not interleave (they share the CPU anyway).
 */
const evaluationLock = new Mutex();

/** The capture's buffers for one model (its vocabulary size). */
interface Capture {
  fn: LogitsCapture;
  e: Float32Array;
  stats: Float64Array;
  /** The top-k's candidate ids (see LogitsCapture.arm). */
  candidates: Int32Array;
}

export class LlamaCppLLM implements LLM {
  private evaluated = 0;
  private reused = 0;
  private readonly lock = evaluationLock;
  private vocab?: Promise<Vocabulary>;

  private constructor(
    readonly id: string,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext | undefined,
    private readonly sequences: readonly LlamaContextSequence[],
    private readonly kvReuse: boolean,
    /** The CPU threads evaluation uses (0 for vocab-only). */
    readonly threads: number,
    private readonly capture?: Capture,
  ) {}

  /** How next-token distributions reach JS (see LlamaCppOptions.distribution). */
  get distribution(): 'capture' | 'map' {
    return this.capture ? 'capture' : 'map';
  }

  static async load(path: string, opts: LlamaCppOptions = {}): Promise<LlamaCppLLM> {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new Error(`LLM model file not found: ${path}`);
    }
    const gpu = opts.gpu ?? defaultGpu();
    const llama = await llamaFor(gpu);
    let model: LlamaModel;
    if (opts.vocabOnly) vocabOnlyLoads++;
    try {
      model = await llama.loadModel({ modelPath: path, vocabOnly: opts.vocabOnly ?? false, gpuLayers: gpu && llama.gpu !== false ? 'auto' : 0 });
    } catch (err) {
      throw new Error(`cannot load GGUF model ${path}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      if (opts.vocabOnly) setTimeout(() => vocabOnlyLoads--, 100).unref();
    }
    if (opts.vocabOnly) return new LlamaCppLLM(path, model, undefined, [], false, 0);
    const threads = opts.threads ?? (size < 100e6 ? 1 : availableParallelism());
    const contextSize = opts.contextSize ?? Math.min(model.trainContextSize || 4096, 4096);
    for (const a of opts.lora ?? []) {
      if (!existsSync(a.path)) {
        await model.dispose();
        throw new Error(`LoRA adapter not found: ${a.path}`);
      }
    }
    const lora = opts.lora?.length ? { lora: { adapters: opts.lora.map((a) => ({ filePath: a.path, scale: a.scale ?? 1 })) } } : {};
    let context: LlamaContext;
    try {
      context = await model.createContext({
        ...lora,
        contextSize,
        batchSize: opts.batchSize ?? Math.min(contextSize, 512),
        // A fixed count: node-llama-cpp would otherwise lower it while other contexts of the process
        // evaluate, and the scores must not depend on what runs beside them.
        threads: { ideal: threads, min: threads },
        sequences: Math.max(1, opts.sequences ?? 1),
      });
    } catch (err) {
      await model.dispose();
      throw new Error(`cannot create a ${contextSize}-token context for ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const sequences = Array.from({ length: context.totalSequences }, () => context.getSequence({
      contextShift: {
        strategy: () => {
          throw new Error(`the input does not fit the context window of ${contextSize} tokens (${path})`);
        },
      },
    }));
    const capture = opts.distribution !== 'map' && sequences.length === 1 ? await probeCapture(sequences[0]!) : undefined;
    if (opts.distribution === 'capture' && !capture) {
      await context.dispose();
      await model.dispose();
      throw new Error(`distribution 'capture' is unavailable: ${captureUnavailableReason() || (sequences.length > 1 ? 'it needs one sequence' : 'node-llama-cpp did not bind to it')}`);
    }
    return new LlamaCppLLM(path, model, context, sequences, opts.kvReuse ?? true, threads, capture);
  }

  /** Context window in tokens (0 when vocab-only). */
  get contextSize(): number {
    return this.context?.contextSize ?? 0;
  }

  vocabulary(): Promise<Vocabulary> {
    this.vocab ??= readVocabulary(this.id);
    return this.vocab;
  }

  async tokenize(text: string, opts: { addBos?: boolean } = {}): Promise<number[]> {
    const ids = this.model.tokenize(text, false);
    const bos = this.model.tokens.bos;
    return opts.addBos && bos != null ? [bos, ...ids] : ids;
  }

  async detokenize(ids: readonly number[]): Promise<string> {
    return this.model.detokenize([...ids] as Token[], false);
  }

  /**
   * The plain tokenizer the prompt rules build on (./prompt.ts). BOS only for models that want one
   * (GGUF `tokenizer.ggml.add_bos_token`, as llama.cpp decides).
   */
  private tok() {
    const bos = this.model.tokens.shouldPrependBosToken ? (this.model.tokens.bos ?? undefined) : undefined;
    return { tokenize: (text: string) => this.model.tokenize(text, false), bos };
  }

  private seq(i = 0): LlamaContextSequence {
    const s = this.sequences[i];
    if (!s) throw new Error(`${this.id} was loaded vocab-only: it cannot evaluate tokens`);
    return s;
  }

  /**
   * Run `work` over items in the given order, split into one contiguous run per sequence (neighbours
   * in the order share prefixes); the runs go concurrently and node-llama-cpp batches their decodes.
   */
  private async parallel(order: readonly number[], work: (item: number, seq: LlamaContextSequence) => Promise<void>): Promise<void> {
    const n = Math.min(this.sequences.length, order.length);
    if (n <= 1) {
      for (const i of order) await work(i, this.seq());
      return;
    }
    await Promise.all(Array.from({ length: n }, async (_, s) => {
      const lo = Math.floor((s * order.length) / n);
      const hi = Math.floor(((s + 1) * order.length) / n);
      for (let j = lo; j < hi; j++) await work(order[j]!, this.sequences[s]!);
    }));
  }

  private checkFits(n: number): void {
    this.seq();
    if (n === 0) throw new Error('empty prompt: the model needs at least one token (a BOS or text)');
    if (n > this.contextSize) throw new Error(`input of ${n} tokens does not fit the context window of ${this.contextSize} tokens (${this.id})`);
  }

  /**
   * Make the sequence hold `tokens` and pass the next-token distribution after each position j from
   * `from` on to `each(j - from, dist)` (the dist is valid only during that call; `topK`: the k it will be
   * asked for, at most, for a cheap top-k). Leading tokens already
   * in the KV cache are reused (never the positions whose output is needed); the rest are evaluated and
   * counted.
   */
  private async evaluate(tokens: readonly number[], from: number, seq: LlamaContextSequence, each: ((j: number, dist: NextDist) => void) | 'greedy', topK = 1): Promise<void> {
    this.checkFits(tokens.length);
    const current: readonly number[] = seq.contextTokens;
    let keep = this.kvReuse ? Math.min(commonPrefixLength(current, tokens), from) : 0;
    if (keep === 0) await seq.clearHistory();
    else if (keep < current.length) await seq.eraseContextTokenRanges([{ start: keep, end: current.length }]);
    keep = seq.contextTokens.length;
    const cap = each === 'greedy' ? undefined : this.capture;
    const next = cap || each === 'greedy' ? { token: true } : { probabilities: true };
    const input = tokens.slice(keep).map((t, i) => (keep + i >= from ? ([t, { generateNext: next }] as const) : t));
    type Input = Parameters<LlamaContextSequence['controlledEvaluate']>[0];
    this.evaluated += tokens.length - keep;
    this.reused += keep;
    if (each === 'greedy') {
      await seq.controlledEvaluate(input as Input);
      return;
    }
    if (!cap) {
      const res = await seq.controlledEvaluate(input as Input);
      for (let i = from - keep; i < res.length; i++) {
        const p = res[i]?.next.probabilities;
        if (!p) throw new Error(`internal: no probabilities at position ${i + keep}`);
        each(i + keep - from, new MapDist(p));
      }
      return;
    }
    // node-llama-cpp samples each position under its sampler lock and reports it (onTokenResult) before
    // the next position samples: read the capture there, then arm it for the next.
    let failure: unknown;
    let seen = 0;
    const dist = new CapturedDist(cap.e, cap.candidates);
    const onTokenResult = (tokenIndex: number): void => {
      try {
        if (cap.stats[0] !== 1) {
          throw new Error(`internal: no logits captured at position ${tokenIndex + keep}${cap.stats[0] === -1 ? ` (vocabulary of ${cap.stats[1]} > ${cap.e.length})` : ''}`);
        }
        dist.set(cap.stats[1]!, cap.stats[3]!, topK, cap.stats[4]!, cap.stats[5]!);
        seen++;
        each(tokenIndex + keep - from, dist);
      } catch (err) {
        failure ??= err;
      }
      cap.fn.arm(cap.e, cap.stats, topK, cap.candidates);
    };
    cap.fn.arm(cap.e, cap.stats, topK, cap.candidates);
    try {
      await seq.controlledEvaluate(input as Input, { onTokenResult });
    } finally {
      cap.fn.disarm();
    }
    if (failure) throw failure;
    if (seen !== tokens.length - from) throw new Error(`internal: ${seen} of ${tokens.length - from} distributions captured`);
  }

  topK(prompts: readonly Prompt[], k: number, opts: QueryOptions = {}): Promise<TopKEntry[][]> {
    if (!Number.isInteger(k) || k < 1) throw new Error(`topK: k must be a positive integer, got ${k}`);
    return this.lock.run(async () => {
      const vocab = await this.vocabulary();
      const inputs = await Promise.all(prompts.map(async (p) => (await queryIds(p, this.tok(), opts)).ids));
      inputs.forEach((ids) => this.checkFits(ids.length));
      const out: TopKEntry[][] = new Array(prompts.length);
      await this.parallel(lexicographicOrder(inputs), async (i, seq) => {
        const ids = inputs[i]!;
        await this.evaluate(ids, ids.length - 1, seq, (_, dist) => {
          out[i] = dist.top(k, vocab.tokens);
        }, k);
      });
      return out;
    });
  }

  /**
   * llama.cpp's own evaluation of each prompt with its greedy next token at the last `outputs` positions
   * (default 1) and no distribution: the baseline the benchmarks compare top-k and score against.
   */
  greedyNext(prompts: readonly Prompt[], opts: QueryOptions & { outputs?: number } = {}): Promise<void> {
    return this.lock.run(async () => {
      const inputs = await Promise.all(prompts.map(async (p) => (await queryIds(p, this.tok(), opts)).ids));
      for (const i of lexicographicOrder(inputs)) {
        const ids = inputs[i]!;
        await this.evaluate(ids, Math.max(0, ids.length - (opts.outputs ?? 1)), this.seq(), 'greedy');
      }
    });
  }

  generate(prompt: Prompt, opts: GenerateOptions & QueryOptions): Promise<GenerateResult> {
    return this.lock.run(async () => {
      const seq = this.seq();
      const { ids } = await queryIds(prompt, this.tok(), opts);
      this.checkFits(ids.length);
      const want = opts.topLogprobs ?? 0;
      const vocab = want > 0 ? await this.vocabulary() : undefined;
      const current = seq.contextTokens;
      const keep = this.kvReuse ? Math.min(commonPrefixLength(current, ids), ids.length - 1) : 0;
      if (keep === 0) await seq.clearHistory();
      else if (keep < current.length) await seq.eraseContextTokenRanges([{ start: keep, end: current.length }]);
      const start = seq.contextTokens.length;
      const limit = Math.min(opts.maxTokens, this.contextSize - ids.length);
      const stops = (opts.stop ?? []).filter((s) => s !== '');
      const maxStop = Math.max(0, ...stops.map((s) => s.length));
      const lastPrompt = ids.slice(-8);
      const out: number[] = [];
      const steps: GenerateStep[] = [];
      let text = '';
      let stopReason: GenerateResult['stopReason'] = 'maxTokens';
      if (limit > 0) {
        // Greedy steps' top-k through the capture (armed before each step samples, read after it); with
        // sampling, the Map of the distribution sampled from (after temperature and top-p).
        const cap = want > 0 && !(opts.temperature && opts.temperature > 0) ? this.capture : undefined;
        const dist = cap ? new CapturedDist(cap.e, cap.candidates) : undefined;
        const stepOf = (token: number, step: unknown): GenerateStep => {
          if (cap && dist) {
            if (cap.stats[0] !== 1) throw new Error(`internal: no logits captured at generated token ${out.length}`);
            dist.set(cap.stats[1]!, cap.stats[3]!, want, cap.stats[4]!, cap.stats[5]!);
            return { id: token, logprob: Math.log(dist.prob(token)), top: dist.top(want, vocab!.tokens) };
          }
          const probs = new MapDist((step as { probabilities?: Dist }).probabilities!);
          return { id: token, logprob: Math.log(probs.prob(token)), top: probs.top(want, vocab!.tokens) };
        };
        const gen = seq.evaluateWithMetadata(ids.slice(start) as Token[], { probabilities: want > 0 && !cap }, {
          temperature: opts.temperature ?? 0,
          topP: opts.topP,
          seed: opts.seed,
          yieldEogToken: true,
        });
        cap?.fn.arm(cap.e, cap.stats, want, cap.candidates);
        try {
          for await (const step of gen) {
            const token = step.token;
            if (this.model.isEogToken(token)) {
              // The end-of-generation position still has a distribution: report it (as vLLM does), so a
              // one-token top-k through the completions server works when EOS is the most likely token.
              if (want > 0) steps.push(stepOf(token, step));
              stopReason = 'eos';
              break;
            }
            out.push(token);
            if (want > 0) steps.push(stepOf(token, step));
            const before = text.length;
            text = this.model.detokenize(out as Token[], false, lastPrompt as Token[]);
            const hit = this.findStop(text, stops, Math.max(0, before - maxStop));
            if (hit >= 0) {
              text = text.slice(0, hit);
              stopReason = 'stop';
              break;
            }
            if (out.length >= limit) break;
            cap?.fn.arm(cap.e, cap.stats, want, cap.candidates);
          }
        } finally {
          cap?.fn.disarm();
        }
      }
      const now = seq.contextTokens.length;
      this.evaluated += now - start;
      this.reused += start;
      return { text, ids: out, stopReason, ...(want > 0 ? { steps } : {}) };
    });
  }

  /** End index (exclusive) of the earliest stop string in text, searching from `from`; -1 if none. */
  private findStop(text: string, stops: readonly string[], from: number): number {
    let best = -1;
    for (const s of stops) {
      const i = text.indexOf(s, from);
      if (i >= 0 && (best < 0 || i + s.length < best)) best = i + s.length;
    }
    return best;
  }

  score(prompt: Prompt, continuations: readonly Prompt[], opts: QueryOptions = {}): Promise<number[][]> {
    return this.lock.run(() => this.scoreUnlocked(prompt, continuations, opts));
  }

  private async scoreUnlocked(prompt: Prompt, continuations: readonly Prompt[], opts: QueryOptions): Promise<number[][]> {
    const { ids: p } = await queryIds(prompt, this.tok(), opts);
    const conts = await Promise.all(continuations.map((c) => flattenPrompt(c, this.tok(), { continuation: true })));
    const out: number[][] = new Array(conts.length);
    conts.forEach((c) => this.checkFits(p.length + c.length));
    await this.parallel(lexicographicOrder(conts), async (i, seq) => {
      const c = conts[i]!;
      if (c.length === 0) {
        out[i] = [];
        return;
      }
      // The last continuation token's own output is not needed: it is not evaluated.
      const lps = new Array<number>(c.length);
      await this.evaluate([...p, ...c.slice(0, -1)], p.length - 1, seq, (j, dist) => {
        lps[j] = Math.log(dist.prob(c[j]!));
      });
      out[i] = lps;
    });
    return out;
  }

  choose(prompt: Prompt, candidates: readonly string[], opts: ChoiceOptions = {}): Promise<ChoiceResult> {
    return this.lock.run(async () => {
      const cands = await candidateIds(candidates, this.tok());
      const { ids: p } = await queryIds(prompt, this.tok(), opts);
      return chooseAmong(candidates, cands, opts.mode, () => this.scoreUnlocked(prompt, candidates, opts), async (path, children) => {
        const all = [...p, ...path];
        let probs: number[] = [];
        await this.evaluate(all, all.length - 1, this.seq(), (_, dist) => {
          probs = children.map((id) => dist.prob(id));
        });
        return probs;
      });
    });
  }

  stats(): LLMStats {
    return { evaluatedTokens: this.evaluated, reusedTokens: this.reused };
  }

  async dispose(): Promise<void> {
    await this.context?.dispose();
    await this.model.dispose();
  }
}

/**
 * The capture's buffers for this model where the logits-capture module is loaded and node-llama-cpp's
 * addon is bound to it: checked by evaluating one token, which must be captured (then cleared).
 */
async function probeCapture(seq: LlamaContextSequence): Promise<Capture | undefined> {
  const fn = loadLogitsCapture();
  if (!fn) return undefined;
  // An empty buffer: the capture then reports the vocabulary size (stats [-1, n]) without writing.
  const stats = new Float64Array(16);
  fn.arm(new Float32Array(0), stats, 1);
  try {
    await seq.controlledEvaluate([[0 as Token, { generateNext: { token: true } }]]);
  } finally {
    fn.disarm();
    await seq.clearHistory();
  }
  return stats[0] === -1 && stats[1]! > 0 ? { fn, e: new Float32Array(stats[1]!), stats, candidates: new Int32Array(stats[1]!) } : undefined;
}
