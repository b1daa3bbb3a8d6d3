// `v2l llm vocab|topk|generate|choose|serve`: the frozen LLM from the command line. A model is a GGUF path
// (local, through node-llama-cpp) or an http(s) URL of an OpenAI-compatible completions server.
import type { Command } from 'commander';
import { loadLLM, isRemoteSpec } from '../../models/llm/load.js';
import { readVocabulary } from '../../models/llm/gguf-vocabulary.js';
import { vocabularySample } from '../../models/llm/vocabulary.js';
import { LlamaCppLLM, type LlamaCppOptions } from '../../models/llm/llama-cpp.js';
import { startCompletionsServer } from '../../models/llm/server.js';
import type { LLM, Prompt, Vocabulary } from '../../models/llm/types.js';
import { collect, int, num } from '../options.js';

/** "--ids 1,2,3" pieces between text: the prompt is the text, then the ids, when both are given. */
function promptOf(text: string | undefined, ids: string | undefined): Prompt {
  const pieces: (string | { ids: number[] })[] = [];
  if (text !== undefined) pieces.push(text);
  if (ids !== undefined) {
    const list = ids.split(',').filter((s) => s.trim() !== '').map(Number);
    if (list.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--ids must be comma-separated token ids (got "${ids}")`);
    pieces.push({ ids: list });
  }
  if (!pieces.length) throw new Error('give --prompt <text> and/or --ids <id,id,...>');
  return pieces;
}

export interface ModelFlags {
  model: string;
  threads?: number;
  gpu?: boolean;
  cpu?: boolean;
  contextSize?: number;
  vocab?: string;
  timeout?: number;
  retries?: number;
  concurrency?: number;
  apiKey?: string;
  serverModel?: string;
}

function withModelOptions(cmd: Command): Command {
  return withBackendOptions(cmd.requiredOption('--model <gguf|url>', 'a GGUF file (local) or an http(s) URL of an OpenAI-compatible completions server'));
}

/** The local and remote backends' options (everything but the model itself). */
export function withBackendOptions(cmd: Command): Command {
  return cmd
    .option('--threads <n>', 'local: CPU threads (default 1 for models under 100 MB, else all cores)', int('threads', 1))
    .option('--gpu', 'local: use a GPU (CUDA/Vulkan/Metal) where one works (default: only where one is visible: NVIDIA device, Apple silicon)')
    .option('--cpu', 'local: CPU only')
    .option('--context-size <n>', 'local: context window in tokens (default: the model\'s, at most 4096)', int('context-size', 1))
    .option('--vocab <gguf>', 'remote: the vocabulary (a GGUF file) the ids refer to; the server is refused if its vocabulary differs')
    .option('--timeout <ms>', 'remote: per-request timeout', int('timeout', 1), 60000)
    .option('--retries <n>', 'remote: retries after network errors, timeouts, 429 and 5xx', int('retries', 0), 3)
    .option('--concurrency <n>', 'remote: requests in flight', int('concurrency', 1), 4)
    .option('--api-key <key>', 'remote: bearer token (default: env OPENAI_API_KEY)')
    .option('--server-model <name>', 'remote: model name to request (default: the first the server lists)');
}

function gpuOf(f: { gpu?: boolean; cpu?: boolean }): LlamaCppOptions['gpu'] {
  if (f.gpu && f.cpu) throw new Error('give --gpu or --cpu, not both');
  return f.gpu ? 'auto' : f.cpu ? false : undefined;
}

export async function openModel(f: ModelFlags): Promise<LLM> {
  const local: LlamaCppOptions = { threads: f.threads, gpu: gpuOf(f), contextSize: f.contextSize };
  const expectVocabulary = f.vocab && isRemoteSpec(f.model) ? await readVocabulary(f.vocab) : undefined;
  return loadLLM(f.model, {
    local,
    remote: { expectVocabulary, model: f.serverModel, apiKey: f.apiKey ?? process.env.OPENAI_API_KEY, timeoutMs: f.timeout, retries: f.retries, maxConcurrency: f.concurrency },
  });
}

async function using<T>(f: ModelFlags, fn: (llm: LLM) => Promise<T>): Promise<T> {
  const llm = await openModel(f);
  try {
    return await fn(llm);
  } finally {
    await llm.dispose();
  }
}

const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

export function register(program: Command): void {
  const llm = program.command('llm').description('the frozen LLM: vocabulary, next-token top-k, generation, constrained choice, a completions server');

  withModelOptions(llm.command('vocab'))
    .description('print the vocabulary size, hash, special tokens and a sample of raw token texts (JSON)')
    .option('--sample <n>', 'tokens to show, spread over the ids', int('sample', 0), 12)
    .option('--all', 'print every token')
    .action(async (f: ModelFlags & { sample: number; all?: boolean }) => {
      let vocab: Vocabulary;
      if (isRemoteSpec(f.model)) vocab = await using(f, (m) => m.vocabulary());
      else vocab = await readVocabulary(f.model); // the GGUF header: no weights loaded
      print({
        model: f.model,
        size: vocab.size,
        hash: vocab.hash,
        tokenizer: vocab.model ?? null,
        bos: vocab.bos ?? null,
        eos: vocab.eos ?? null,
        sample: f.all ? vocab.tokens.map((token, id) => ({ id, token })) : vocabularySample(vocab, f.sample),
      });
    });

  withModelOptions(llm.command('tokenize'))
    .description('token ids and raw texts of a text (JSON)')
    .requiredOption('--text <text>', 'the text')
    .option('--bos', 'put BOS first')
    .action(async (f: ModelFlags & { text: string; bos?: boolean }) => {
      await using(f, async (m) => {
        const ids = await m.tokenize(f.text, { addBos: f.bos });
        const v = await m.vocabulary();
        print(ids.map((id) => ({ id, token: v.tokens[id] })));
      });
    });

  withModelOptions(llm.command('topk'))
    .description('the k most probable next tokens after a prompt, with probabilities (JSON)')
    .option('--prompt <text>', 'prompt text')
    .option('--ids <list>', 'raw token ids after the text, comma-separated')
    .option('--prefix <text>', 'a shared prefix before the prompt (its KV cache is reused)')
    .option('--k <n>', 'tokens to show', int('k', 1), 5)
    .option('--no-bos', 'no BOS token at the start')
    .action(async (f: ModelFlags & { prompt?: string; ids?: string; prefix?: string; k: number; bos: boolean }) => {
      await using(f, async (m) => {
        const t0 = performance.now();
        const [top] = await m.topK([promptOf(f.prompt, f.ids)], f.k, { prefix: f.prefix, addBos: f.bos });
        const top1 = top!;
        print({
          model: m.id,
          top: top1,
          probabilitySum: top1.reduce((s, e) => s + e.prob, 0),
          stats: { ...m.stats(), ms: +(performance.now() - t0).toFixed(1) },
        });
      });
    });

  withModelOptions(llm.command('generate'))
    .description('generate text after a prompt, greedy by default (JSON)')
    .option('--prompt <text>', 'prompt text')
    .option('--ids <list>', 'raw token ids after the text, comma-separated')
    .option('--prefix <text>', 'a shared prefix before the prompt')
    .option('--max-tokens <n>', 'token limit', int('max-tokens', 1), 64)
    .option('--temperature <t>', '0 = greedy', num('temperature'), 0)
    .option('--top-p <p>', 'nucleus sampling', num('top-p'))
    .option('--seed <n>', 'sampling seed', int('seed', 0))
    .option('--stop <text>', 'stop string (repeatable)', collect)
    .option('--no-bos', 'no BOS token at the start')
    .action(async (f: ModelFlags & { prompt?: string; ids?: string; prefix?: string; maxTokens: number; temperature: number; topP?: number; seed?: number; stop?: string[]; bos: boolean }) => {
      await using(f, async (m) => {
        const t0 = performance.now();
        const r = await m.generate(promptOf(f.prompt, f.ids), {
          maxTokens: f.maxTokens, temperature: f.temperature, topP: f.topP, seed: f.seed, stop: f.stop, prefix: f.prefix, addBos: f.bos,
        });
        const s = (performance.now() - t0) / 1000;
        print({ model: m.id, ...r, stats: { ...m.stats(), seconds: +s.toFixed(3), tokensPerSecond: +(r.ids.length / s).toFixed(1) } });
      });
    });

  withModelOptions(llm.command('choose'))
    .description('constrained decoding: which of the candidates the model continues the prompt with (JSON)')
    .requiredOption('--prompt <text>', 'prompt text')
    .requiredOption('--candidate <text>', 'a candidate continuation (repeatable; include a leading space where one belongs)', collect)
    .option('--mode <m>', 'greedy (trie walk, as the reference) | score (highest total log-probability)', 'greedy')
    .action(async (f: ModelFlags & { prompt: string; candidate: string[]; mode: string }) => {
      if (f.mode !== 'greedy' && f.mode !== 'score') throw new Error(`--mode must be greedy or score (got "${f.mode}")`);
      await using(f, async (m) => print(await m.choose(f.prompt, f.candidate, { mode: f.mode as 'greedy' | 'score' })));
    });

  llm.command('serve')
    .description('serve a GGUF model over the OpenAI completions protocol (/v1/completions, /v1/models, /tokenize, /detokenize)')
    .requiredOption('--model <gguf>', 'the GGUF file')
    .option('--port <n>', 'port', int('port', 0), 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--name <name>', 'model name in the protocol (default: the file path)')
    .option('--threads <n>', 'CPU threads', int('threads', 1))
    .option('--gpu', 'use a GPU where one works (default: only where one is visible)')
    .option('--cpu', 'CPU only')
    .option('--context-size <n>', 'context window in tokens', int('context-size', 1))
    .option('--sequences <n>', 'parallel sequences (batched decoding of many prompts)', int('sequences', 1), 1)
    .action(async (f: { model: string; port: number; host: string; name?: string; threads?: number; gpu?: boolean; cpu?: boolean; contextSize?: number; sequences: number }) => {
      const m = await LlamaCppLLM.load(f.model, { threads: f.threads, gpu: gpuOf(f), contextSize: f.contextSize, sequences: f.sequences });
      const srv = await startCompletionsServer(m, { port: f.port, host: f.host, modelName: f.name });
      console.error(`serving ${f.model} at ${srv.url}/v1 (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          void srv.close().then(() => m.dispose()).then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
