// An OpenAI-compatible completions server over any LLM (Node edge: node:http). `v2l llm serve` runs it;
// the remote backend's tests run against it, serving a real model through the local backend.
//
// Endpoints (the subset of the vLLM / llama.cpp server protocol that ./remote.ts relies on):
// - GET  /v1/models        {data: [{id, object: 'model', meta: {n_vocab, vocab_hash}}]} (meta as llama.cpp)
// - POST /v1/completions   prompt: string | number[] | (string | number[])[]; max_tokens (default 16),
//   temperature, top_p, seed, stop, logprobs (top-k per generated token), echo (prompt logprobs),
//   return_tokens_as_token_ids (vLLM: keys "token_id:<id>" instead of token text, so that tokens with equal
//   text never collide), include_stop_str_in_output (vLLM; default false as OpenAI). Choices carry
//   finish_reason 'stop' | 'length' and stop_reason (vLLM: the matched stop string, null otherwise);
//   usage carries prompt_tokens_details.cached_tokens (tokens served from the KV cache).
// - POST /tokenize         {content | prompt, add_special | add_special_tokens} -> {tokens, count}
// - POST /detokenize       {tokens} -> {content, prompt}
// - GET  /v2l/vocabulary   (v2l extension) {size, hash, bos, eos, model, tokens, types}
// A string prompt gets BOS as llama.cpp does; an array of ids is used exactly as given.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderTokens } from './vocabulary.js';
import type { LLM, Prompt, Vocabulary } from './types.js';

export interface CompletionsServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new HttpError(400, 'request body must be a JSON object');
}

function isIds(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && (x as number) >= 0);
}

/** One request's prompts: a string, an id array, or a list of either. */
function parsePrompts(v: unknown): { prompt: Prompt; addBos: boolean }[] {
  if (typeof v === 'string') return [{ prompt: v, addBos: true }];
  if (isIds(v) && v.length > 0) return [{ prompt: [{ ids: v }], addBos: false }];
  if (Array.isArray(v) && v.length > 0) {
    return v.map((p, i) => {
      if (typeof p === 'string') return { prompt: p, addBos: true };
      if (isIds(p) && p.length > 0) return { prompt: [{ ids: p }], addBos: false };
      throw new HttpError(400, `prompt[${i}] must be a string or a non-empty array of token ids`);
    });
  }
  throw new HttpError(400, 'prompt must be a string, a non-empty array of token ids, or a list of those');
}

function num(body: Record<string, unknown>, key: string, dflt?: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, `${key} must be a number`);
  return v;
}

/** A completions request, checked (every protocol field this server honours; see the file's comment). */
interface CompletionRequest {
  prompts: { prompt: Prompt; addBos: boolean }[];
  maxTokens: number;
  /** Top log-probabilities per generated token (absent: none returned). */
  k?: number;
  echo: boolean;
  asIds: boolean;
  includeStop: boolean;
  stop: string[];
  temperature?: number;
  topP?: number;
  seed?: number;
}

function parseCompletionRequest(body: Record<string, unknown>, vocabSize: number, modelName: string): CompletionRequest {
  if (body.model !== undefined && body.model !== modelName) throw new HttpError(404, `model ${String(body.model)} is not served here (serving ${modelName})`);
  const prompts = parsePrompts(body.prompt);
  const maxTokens = num(body, 'max_tokens', 16)!;
  const k = num(body, 'logprobs');
  const stopRaw = body.stop;
  const stop = typeof stopRaw === 'string' ? [stopRaw] : Array.isArray(stopRaw) ? stopRaw.filter((s): s is string => typeof s === 'string') : [];
  if ((num(body, 'n', 1) ?? 1) !== 1) throw new HttpError(400, 'only n = 1 is supported');
  if (body.stream === true) throw new HttpError(400, 'stream is not supported by this server');
  if (k !== undefined && (!Number.isInteger(k) || k < 0 || k > vocabSize)) throw new HttpError(400, `logprobs must be an integer in [0, ${vocabSize}]`);
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new HttpError(400, 'max_tokens must be a non-negative integer');
  return {
    prompts, maxTokens, k, stop,
    echo: body.echo === true,
    asIds: body.return_tokens_as_token_ids === true,
    includeStop: body.include_stop_str_in_output === true,
    temperature: num(body, 'temperature', 1),
    topP: num(body, 'top_p'),
    seed: num(body, 'seed'),
  };
}

/** One choice: the echoed prompt's log-probabilities (echo), then the generation with its top-k. */
async function completeOne(llm: LLM, vocab: Vocabulary, ids: number[], r: CompletionRequest) {
  const key = (id: number) => (r.asIds ? `token_id:${id}` : renderTokens(vocab, [id]));
  const lp = { tokens: [] as string[], token_logprobs: [] as (number | null)[], top_logprobs: [] as (Record<string, number> | null)[], text_offset: [] as number[] };
  let text = '';
  if (r.echo) {
    const [scores] = await llm.score([{ ids: ids.slice(0, 1) }], [[{ ids: ids.slice(1) }]], { addBos: false });
    ids.forEach((id, j) => {
      lp.tokens.push(key(id));
      lp.token_logprobs.push(j === 0 ? null : scores![j - 1]!);
      lp.top_logprobs.push(null);
      lp.text_offset.push(0);
    });
    text = renderTokens(vocab, ids);
  }
  let finish: 'stop' | 'length' = 'length';
  let stopReason: string | null = null;
  let completionTokens = 0;
  if (r.maxTokens > 0) {
    const g = await llm.generate([{ ids }], {
      maxTokens: r.maxTokens, temperature: r.temperature, topP: r.topP, seed: r.seed, stop: r.stop, topLogprobs: r.k ?? 0, addBos: false,
    });
    completionTokens = g.ids.length;
    let gtext = g.text;
    if (g.stopReason === 'stop') {
      stopReason = r.stop.find((s) => gtext.endsWith(s)) ?? null;
      if (!r.includeStop && stopReason) gtext = gtext.slice(0, gtext.length - stopReason.length);
    }
    finish = g.stopReason === 'maxTokens' ? 'length' : 'stop';
    if (r.k !== undefined) {
      for (const st of g.steps ?? []) {
        lp.tokens.push(key(st.id));
        lp.token_logprobs.push(st.logprob);
        lp.top_logprobs.push(Object.fromEntries(st.top.map((e) => [key(e.id), Math.log(e.prob)])));
        lp.text_offset.push(text.length);
      }
    }
    text += gtext;
  }
  return { completionTokens, choice: { text, finish_reason: finish, stop_reason: stopReason, logprobs: r.k !== undefined || r.echo ? lp : null } };
}

export async function startCompletionsServer(
  llm: LLM,
  opts: { port?: number; host?: string; modelName?: string } = {},
): Promise<CompletionsServer> {
  const vocab: Vocabulary = await llm.vocabulary();
  const modelName = opts.modelName ?? llm.id;
  // Requests are served one at a time: the model holds one KV cache, and usage must be per request.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  async function completions(body: Record<string, unknown>) {
    const r = parseCompletionRequest(body, vocab.size, modelName);
    const choices = [];
    let promptTokens = 0;
    let completionTokens = 0;
    const s0 = llm.stats();
    for (const [index, { prompt, addBos }] of r.prompts.entries()) {
      const ids = typeof prompt === 'string' ? await llm.tokenize(prompt, { addBos }) : (prompt[0] as { ids: number[] }).ids;
      promptTokens += ids.length;
      const one = await completeOne(llm, vocab, ids, r);
      completionTokens += one.completionTokens;
      choices.push({ index, ...one.choice });
    }
    const s1 = llm.stats();
    const cached = s1.reusedTokens - s0.reusedTokens;
    return {
      id: `cmpl-${Date.now().toString(36)}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: modelName,
      choices,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: cached } },
    };
  }

  async function route(req: IncomingMessage): Promise<unknown> {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
      return { object: 'list', data: [{ id: modelName, object: 'model', created: 0, owned_by: 'v2l', meta: { n_vocab: vocab.size, vocab_hash: vocab.hash } }] };
    }
    if (req.method === 'GET' && path === '/v2l/vocabulary') {
      return { size: vocab.size, hash: vocab.hash, bos: vocab.bos ?? null, eos: vocab.eos ?? null, model: vocab.model ?? null, tokens: vocab.tokens, types: vocab.types ?? null };
    }
    if (req.method === 'GET' && (path === '/health' || path === '')) return { status: 'ok' };
    if (req.method !== 'POST') throw new HttpError(404, `no route ${req.method} ${path}`);
    const body = await readJson(req);
    if (path === '/v1/completions' || path === '/completions') return serial(() => completions(body));
    if (path === '/tokenize') {
      const text = body.content ?? body.prompt;
      if (typeof text !== 'string') throw new HttpError(400, 'tokenize: content (or prompt) must be a string');
      const addBos = (body.add_special ?? body.add_special_tokens ?? false) === true;
      const tokens = await serial(() => llm.tokenize(text, { addBos }));
      return { tokens, count: tokens.length };
    }
    if (path === '/detokenize') {
      if (!isIds(body.tokens)) throw new HttpError(400, 'detokenize: tokens must be an array of token ids');
      const ids = body.tokens;
      const bad = ids.find((id) => id >= vocab.size);
      if (bad !== undefined) throw new HttpError(400, `detokenize: token id ${bad} is outside the vocabulary (size ${vocab.size})`);
      const content = await serial(() => llm.detokenize(ids));
      return { content, prompt: content };
    }
    throw new HttpError(404, `no route POST ${path}`);
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    route(req).then(
      (value) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      },
      (err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof Error ? err.message : String(err);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', code: status } }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
