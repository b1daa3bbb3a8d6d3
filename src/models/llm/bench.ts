// `npm run bench -- llm [--model <gguf>] [--queries 256] [--throughput [--threads 1,2] [--runs 3]]`: for
// each model (default: llama3-vocab-random-tiny, LLaMA-3's 128,256-token vocabulary, and stories260K's 512),
// queries/s of top-k and score beside llama.cpp's own greedy evaluation of the same tokens, ending with
// `ratio topk/llama.cpp` and `ratio score/llama.cpp`. With --throughput, also tokens/s of prompt
// evaluation and generation per thread count, and the effect of prefix (KV cache) reuse.
import { fileURLToPath } from 'node:url';
import { LlamaCppLLM } from './llama-cpp.js';
import type { Prompt } from './types.js';
import { argString as arg } from '../../util/bench-args.js';
import { measureQueryRates, formatQueryRates } from './query-rates.js';
import { isSpecialToken } from '../../codebook/render.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const shared = (p: string) => fileURLToPath(new URL(`../../../../shared/models/${p}`, import.meta.url));

export async function benchLlm(args: string[]): Promise<void> {
  const given = arg(args, 'model', '');
  const models = given ? [given] : [shared('llama3-vocab-random-tiny/llama3-vocab-random-tiny.gguf'), shared('stories260K/stories260K.gguf')];
  const queries = Number(arg(args, 'queries', '256'));
  const lines: string[] = [];
  for (const model of models) {
    const llm = await LlamaCppLLM.load(model, { threads: given ? undefined : 1 });
    const vocab = await llm.vocabulary();
    const usable = vocab.tokens.flatMap((t, i) => (isSpecialToken(t, vocab.types?.[i]) ? [] : [i]));
    console.log(`model ${model}: ${vocab.size} tokens, ${llm.threads} thread(s), distribution through ${llm.distribution}`);
    const out = formatQueryRates(await measureQueryRates(llm, usable, queries), llm.distribution);
    for (const l of out) console.log(`  ${l}`);
    lines.push(...out.slice(-2).map((l) => `${l} (${model.split('/').pop()})`));
    await llm.dispose();
  }
  if (args.includes('--throughput')) await benchThroughput(models[0]!, args);
  for (const l of lines) console.log(l);
}

async function benchThroughput(model: string, args: string[]): Promise<void> {
  const threads = arg(args, 'threads', '1,2').split(',').map(Number);
  const runs = Number(arg(args, 'runs', '3'));
  const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. One day, she saw a big red ball';
  console.log(`model ${model}`);
  for (const t of threads) {
    const full = await LlamaCppLLM.load(model, { threads: t, kvReuse: false });
    const ctx = full.contextSize;
    const prompts: Prompt[] = Array.from({ length: 16 }, (_, i) => `${['Tom', 'Lily', 'Sue', 'Ben'][i % 4]} ${story} number ${i}`);
    await full.topK(prompts.slice(0, 2), 5); // warm-up
    const evalRates: number[] = [];
    const genRates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const s0 = full.stats().evaluatedTokens;
      const t0 = performance.now();
      await full.topK(prompts, 5);
      evalRates.push((full.stats().evaluatedTokens - s0) / ((performance.now() - t0) / 1000));
      const t1 = performance.now();
      const g = await full.generate('Once upon a time', { maxTokens: ctx - 8 });
      genRates.push(g.ids.length / ((performance.now() - t1) / 1000));
    }
    console.log(`threads ${t}: prompt evaluation ${median(evalRates).toFixed(0)} tok/s, generation ${median(genRates).toFixed(0)} tok/s (median of ${runs})`);

    // Prefix reuse: 32 short prompts after one shared prefix, versus each evaluated in full.
    const suffixes = Array.from({ length: 32 }, (_, i) => ` ${['She', 'He', 'They', 'The dog'][i % 4]} number ${i}`);
    const reuse = await LlamaCppLLM.load(model, { threads: t });
    await reuse.topK(prompts.slice(0, 1), 5);
    const a0 = performance.now();
    const sa = full.stats().evaluatedTokens;
    await full.topK(suffixes.map((s) => [story, s]), 5);
    const fullMs = performance.now() - a0;
    const fullTok = full.stats().evaluatedTokens - sa;
    const b0 = performance.now();
    const sb = reuse.stats().evaluatedTokens;
    await reuse.topK(suffixes, 5, { prefix: story });
    const reuseMs = performance.now() - b0;
    const reuseTok = reuse.stats().evaluatedTokens - sb;
    console.log(`threads ${t}: 32 prompts after a shared prefix: full ${fullTok} tokens ${fullMs.toFixed(0)} ms, prefix reuse ${reuseTok} tokens ${reuseMs.toFixed(0)} ms (${(fullMs / reuseMs).toFixed(1)}x)`);
    // Parallel sequences: 64 prompts after the prefix, decoded 4 at a time in one batch.
    const many = Array.from({ length: 64 }, (_, i) => ` ${['She', 'He', 'They', 'The dog'][i % 4]} saw ${i}`);
    for (const sequences of [1, 4]) {
      const par = await LlamaCppLLM.load(model, { threads: t, sequences });
      await par.topK(prompts.slice(0, 1), 5);
      const c0 = performance.now();
      const sc = par.stats().evaluatedTokens;
      await par.topK(many, 5, { prefix: story });
      const ms = performance.now() - c0;
      console.log(`threads ${t}: 64 prompts after a shared prefix, ${sequences} sequence(s): ${par.stats().evaluatedTokens - sc} tokens ${ms.toFixed(0)} ms (${(64 / (ms / 1000)).toFixed(0)} prompts/s)`);
      await par.dispose();
    }
    await reuse.dispose();
    await full.dispose();
  }
}
