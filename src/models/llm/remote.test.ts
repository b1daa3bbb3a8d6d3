// The remote backend against a real completions server started here: ./server.ts serving the real
// stories260K model through the local backend, on a random port. Faults (stalls, 503s, a server that
// hides its vocabulary) come from a small proxy in front of it that forwards everything else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { LlamaCppLLM } from './llama-cpp.js';
import { RemoteLLM } from './remote.js';
import { startCompletionsServer, type CompletionsServer } from './server.js';
import { readVocabulary } from './gguf-vocabulary.js';
import { makeVocabulary } from './vocabulary.js';
import type { Prompt } from './types.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const modelPath = fileURLToPath(new URL('../../../../shared/models/stories260K/stories260K.gguf', import.meta.url));
const llama2Path = fileURLToPath(new URL('../../../../shared/models/llama2-tokenizer/ggml-vocab-llama-spm.gguf', import.meta.url));
const skip = skipUnless(modelPath, 'the stories260K model');

let local: LlamaCppLLM; // reference, its own KV cache
let served: LlamaCppLLM; // behind the server
let srv: CompletionsServer;
before(async () => {
  if (skip) return;
  local = await LlamaCppLLM.load(modelPath);
  served = await LlamaCppLLM.load(modelPath);
  srv = await startCompletionsServer(served, { modelName: 'stories260K' });
});
after(async () => {
  await srv?.close();
  await local?.dispose();
  await served?.dispose();
});

type Fault = (n: number, path: string) => 'forward' | 'stall' | 'hide' | 'textKeys' | 'noEcho' | number;
/** A proxy in front of the real server; `fault` decides per request (n counts from 0). */
async function proxy(target: string, fault: Fault): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? '/';
    const what = fault(n++, path);
    if (what === 'stall') return; // never answers
    if (typeof what === 'number') {
      res.writeHead(what, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'temporarily overloaded' } }));
      return;
    }
    if (what === 'hide' && path.startsWith('/v2l/')) {
      res.writeHead(404).end('{"error":"not found"}');
      return;
    }
    let reqBody = Buffer.concat(chunks).toString('utf8');
    if (what === 'noEcho' && req.method === 'POST' && (JSON.parse(reqBody) as { echo?: boolean }).echo) {
      // As llama.cpp's server: echo is refused.
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 400, message: 'Only no echo is supported', type: 'invalid_request_error' } }));
      return;
    }
    if (what === 'textKeys' && req.method === 'POST') {
      // As a server without return_tokens_as_token_ids: logprobs keyed by token text.
      const j = JSON.parse(reqBody) as Record<string, unknown>;
      delete j.return_tokens_as_token_ids;
      reqBody = JSON.stringify(j);
    }
    const r = await fetch(target + path, { method: req.method, headers: { 'content-type': 'application/json' }, body: req.method === 'POST' ? reqBody : undefined });
    let body = await r.text();
    if (what === 'hide' && path.startsWith('/v1/models')) {
      const j = JSON.parse(body) as { data: { meta?: unknown }[] };
      for (const m of j.data) delete m.meta;
      body = JSON.stringify(j);
    }
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => n,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const prompts: Prompt[] = ['Once upon a time', 'Lily and Tom went to the', [{ ids: [1, 403] }, ' little dog']];

test('remote top-k equals the local backend (within 1e-3); generation and choice agree', { skip }, async () => {
  const remote = await RemoteLLM.connect({ baseUrl: srv.url, expectVocabulary: await local.vocabulary() });
  const want = await local.topK(prompts, 5);
  const got = await remote.topK(prompts, 5);
  for (let i = 0; i < prompts.length; i++) {
    assert.deepEqual(got[i]!.map((e) => e.id), want[i]!.map((e) => e.id));
    assert.deepEqual(got[i]!.map((e) => e.token), want[i]!.map((e) => e.token));
    got[i]!.forEach((e, j) => assert.ok(Math.abs(e.prob - want[i]![j]!.prob) < 1e-3));
  }
  // With a prefix: the server's KV cache serves the shared part (usage.cached_tokens).
  const prefix = 'Once upon a time, there was a little girl named Lily.';
  const wantP = await local.topK([' She', ' One day'], 3, { prefix });
  const gotP = await remote.topK([' She', ' One day'], 3, { prefix });
  assert.deepEqual(gotP.map((r) => r.map((e) => e.id)), wantP.map((r) => r.map((e) => e.id)));
  assert.ok(remote.stats().reusedTokens > 0);
  assert.ok(remote.stats().evaluatedTokens > 0);

  const g = await remote.generate('Once upon a time', { maxTokens: 40, stop: ['.'] });
  const gl = await local.generate('Once upon a time', { maxTokens: 40, stop: ['.'] });
  assert.deepEqual(g, gl);
  assert.equal(g.stopReason, 'stop');
  const m = await remote.generate('Once upon a time', { maxTokens: 5, topLogprobs: 2 });
  assert.equal(m.stopReason, 'maxTokens');
  assert.equal(m.ids.length, 5);
  assert.deepEqual(m.steps!.map((s) => s.id), m.steps!.map((s) => s.top[0]!.id));

  const cands = [' girl', ' boy', ' girl named Lily', ' dog'];
  for (const mode of ['greedy', 'score'] as const) {
    const a = await remote.choose('Once upon a time, there was a little', cands, { mode });
    const b = await local.choose('Once upon a time, there was a little', cands, { mode });
    assert.equal(a.index, b.index);
    assert.ok(Math.abs(a.logprob - b.logprob) < 1e-3);
  }
  assert.deepEqual(await remote.tokenize('Hello there'), await local.tokenize('Hello there'));
  assert.equal(await remote.detokenize([403, 410]), await local.detokenize([403, 410]));
  await assert.rejects(remote.topK(['x'], 50), /exceeds the 20 alternatives/);
});

test('many prompts go batchSize to a request, answers in prompt order', { skip }, async () => {
  let requests = 0;
  const counting = await proxy(srv.url, (_n, path) => {
    if (path.startsWith('/v1/completions')) requests++;
    return 'forward';
  });
  try {
    const remote = await RemoteLLM.connect({ baseUrl: counting.url, batchSize: 2, maxConcurrency: 2 });
    const five: Prompt[] = ['Once upon a time', 'Lily and Tom', 'The dog', 'She was happy', 'One day'];
    const got = await remote.topK(five, 3);
    assert.equal(requests, 3);
    const want = await local.topK(five, 3);
    assert.deepEqual(got.map((r) => r.map((e) => e.id)), want.map((r) => r.map((e) => e.id)));
  } finally {
    await counting.close();
  }
});

test('a server that keys logprobs by token text: ids recovered through the vocabulary', { skip }, async () => {
  const plain = await proxy(srv.url, () => 'textKeys');
  try {
    const remote = await RemoteLLM.connect({ baseUrl: plain.url, expectVocabulary: await local.vocabulary() });
    const got = await remote.topK(prompts.slice(0, 2), 3);
    const want = await local.topK(prompts.slice(0, 2), 3);
    assert.deepEqual(got.map((r) => r.map((e) => e.id)), want.map((r) => r.map((e) => e.id)));
    const g = await remote.generate('Once upon a time', { maxTokens: 8 });
    assert.deepEqual(g.ids, (await local.generate('Once upon a time', { maxTokens: 8 })).ids);
  } finally {
    await plain.close();
  }
});

test('a server that refuses echo: choose() walks the trie step by step, same answer', { skip }, async () => {
  const noEcho = await proxy(srv.url, () => 'noEcho');
  try {
    const remote = await RemoteLLM.connect({ baseUrl: noEcho.url });
    const prompt = 'Once upon a time, there was a little';
    for (const cands of [[' girl', ' boy', ' girl named Lily', ' dog'], [' cat', ' bird', ' boy named Tom']]) {
      const a = await remote.choose(prompt, cands);
      const b = await local.choose(prompt, cands);
      assert.equal(a.index, b.index);
      assert.ok(Math.abs(a.logprob - b.logprob) < 1e-3);
    }
    await assert.rejects(remote.choose(prompt, [' a', ' b'], { mode: 'score' }), /does not return prompt logprobs/);
  } finally {
    await noEcho.close();
  }
});

test('retries with backoff after 503s and stalls, then succeeds', { skip }, async () => {
  // Completion requests: 503, stall, 503, stall, then forwarded.
  let completions = 0;
  const flaky = await proxy(srv.url, (_n, path) => {
    if (!path.startsWith('/v1/completions')) return 'forward';
    const i = completions++;
    return i < 4 ? (i % 2 ? 'stall' : 503) : 'forward';
  });
  try {
    const remote = await RemoteLLM.connect({ baseUrl: flaky.url, timeoutMs: 400, retries: 8, backoffMs: 20 });
    const t0 = performance.now();
    const [got] = await remote.topK([[{ ids: [1, 403] }]], 3);
    assert.ok(completions >= 5, `${completions} attempts`); // 5, or more if a loaded machine times out a forwarded one
    assert.ok(performance.now() - t0 >= 2 * 400, 'two stalls each waited for the timeout');
    const [want] = await local.topK([[{ ids: [1, 403] }]], 3);
    assert.deepEqual(got!.map((e) => e.id), want!.map((e) => e.id));
    // With too few retries the last failure is reported.
    completions = 0;
    const impatient = await RemoteLLM.connect({ baseUrl: flaky.url, timeoutMs: 300, retries: 1, backoffMs: 5 });
    await assert.rejects(impatient.topK(['x'], 1), /\/v1\/completions: no answer within 300 ms \(after 2 attempts\)/);
  } finally {
    await flaky.close();
  }
  const dead = await proxy(srv.url, () => 503);
  try {
    await assert.rejects(RemoteLLM.connect({ baseUrl: dead.url, retries: 2, backoffMs: 10 }), (err: Error) => {
      assert.match(err.message, new RegExp(`${dead.url}/v1/models: HTTP 503: temporarily overloaded \\(after 3 attempts\\)`));
      return true;
    });
    assert.equal(dead.count(), 3);
  } finally {
    await dead.close();
  }
});

test('an unreachable server gives an error naming its URL', { skip }, async () => {
  const gone = await proxy(srv.url, () => 'forward');
  const url = gone.url;
  await gone.close();
  await assert.rejects(RemoteLLM.connect({ baseUrl: url, retries: 1, backoffMs: 5 }), new RegExp(`${url}/v1/models: cannot reach the server \\(ECONNREFUSED\\)`));
});

test('a server with another vocabulary is refused', { skip }, async () => {
  const stories = await local.vocabulary();
  // The server reports its size and hash: refused at once.
  if (existsSync(llama2Path)) {
    const llama2 = await readVocabulary(llama2Path);
    await assert.rejects(RemoteLLM.connect({ baseUrl: srv.url, expectVocabulary: llama2 }), /vocabulary mismatch: .* has 512 tokens, expected 32000/);
    await assert.rejects(RemoteLLM.connect({ baseUrl: srv.url, expectVocabulary: llama2.hash }), /vocabulary mismatch/);
  }
  const shifted = await makeVocabulary([...stories.tokens.slice(1), stories.tokens[0]!], { model: 'llama' });
  await assert.rejects(RemoteLLM.connect({ baseUrl: srv.url, expectVocabulary: shifted }), /vocabulary mismatch/);
  // A server that reports neither (as vLLM): the probe detokenizes and tokenizes through the server.
  const hiding = await proxy(srv.url, () => 'hide');
  try {
    const ok = await RemoteLLM.connect({ baseUrl: hiding.url, expectVocabulary: stories });
    assert.equal((await ok.topK(['Once upon a time'], 1))[0]![0]!.token, ',');
    await assert.rejects(RemoteLLM.connect({ baseUrl: hiding.url, expectVocabulary: shifted }), /vocabulary mismatch: .* detokenizes id/);
    await assert.rejects(RemoteLLM.connect({ baseUrl: hiding.url, expectVocabulary: stories.hash }), /does not report its vocabulary hash/);
  } finally {
    await hiding.close();
  }
});

test('the server answers protocol errors with 4xx and a message', { skip }, async () => {
  const post = (path: string, body: unknown) => fetch(srv.url + path, { method: 'POST', body: JSON.stringify(body) });
  let r = await post('/v1/completions', { prompt: [], max_tokens: 1 });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: { message: string } }).error.message, /prompt must be/);
  r = await post('/v1/completions', { model: 'other', prompt: 'x' });
  assert.equal(r.status, 404);
  r = await post('/detokenize', { tokens: [99999] });
  assert.equal(r.status, 400);
  const models = (await (await fetch(srv.url + '/v1/models')).json()) as { data: { id: string; meta: { n_vocab: number } }[] };
  assert.equal(models.data[0]!.id, 'stories260K');
  assert.equal(models.data[0]!.meta.n_vocab, 512);
  // A plain-text prompt gets BOS, as llama.cpp's server does.
  const c = (await (await post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 1, temperature: 0, logprobs: 2 })).json()) as { choices: { text: string; logprobs: { top_logprobs: Record<string, number>[] } }[]; usage: { prompt_tokens: number } };
  assert.equal(c.choices[0]!.text, ',');
  assert.equal(c.usage.prompt_tokens, 5);
  assert.deepEqual(Object.keys(c.choices[0]!.logprobs.top_logprobs[0]!), [',', ' there']);
});
