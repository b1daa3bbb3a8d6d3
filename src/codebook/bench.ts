// `npm run bench -- codebook [--clip <dir>] [--llm <gguf>] [--images <dir>] [--n 256] [--subwords 1024]`:
// the rates of the codebook build's stages. For each LLM (default: llama3-vocab-random-tiny, LLaMA-3's
// 128,256 tokens, and stories260K's 512): expansion candidates/s over the first --subwords subwords at
// several batch sizes (prefix reused), then top-k and score queries/s beside llama.cpp's own greedy
// evaluation of the same tokens; then text embeddings/s with one template and with the 80-template
// ensemble, image embeddings/s, and the filter's scoring rate (images/s against a LLaMA-2-sized 96,000 x
// 768 candidate table). Ends with `ratio topk/llama.cpp` and `ratio score/llama.cpp` per LLM.
// Without --clip, a stand-in CLIP (random weights) is generated in a temporary folder.
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaCppLLM } from '../models/llm/llama-cpp.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { embedWithTemplates, IMAGENET_TEMPLATES } from '../models/clip/templates.js';
import { expandVocabulary } from './expand.js';
import { HitCounter, scorerTable } from './filter.js';
import { onnxTopKScorer } from './score-onnx.js';
import { isSpecialToken } from './render.js';
import { argString as arg } from '../util/bench-args.js';
import { measureQueryRates, formatQueryRates } from '../models/llm/query-rates.js';

const shared = (p: string) => fileURLToPath(new URL(`../../../shared/${p}`, import.meta.url));

export async function benchCodebook(args: string[]): Promise<void> {
  const given = arg(args, 'llm', '');
  const llmPaths = given ? [given] : [shared('models/llama3-vocab-random-tiny/llama3-vocab-random-tiny.gguf'), shared('models/stories260K/stories260K.gguf')];
  const subwords = Number(arg(args, 'subwords', '1024'));
  const imagesDir = arg(args, 'images', shared('data/tiny-imagenet-val/images'));
  const n = Number(arg(args, 'n', '256'));
  let tmp: string | null = null;
  let clipDir = arg(args, 'clip', '');
  if (!clipDir) {
    tmp = mkdtempSync(join(tmpdir(), 'v2l-bench-clip-'));
    clipDir = join(tmp, 'clip');
    writeStandInClip(clipDir);
  }
  const ratios: string[] = [];
  let vocab!: Awaited<ReturnType<LlamaCppLLM['vocabulary']>>;
  try {
    for (const llmPath of llmPaths) {
      const llm = await LlamaCppLLM.load(llmPath, { threads: 1 });
      vocab = await llm.vocabulary();
      const exclude = new Set(vocab.tokens.flatMap((t, i) => (isSpecialToken(t, vocab.types?.[i]) ? [i] : [])));
      console.log(`LLM ${llmPath} (${vocab.size} tokens, ${llm.threads} thread, distribution through ${llm.distribution})`);
      for (const batchSize of [16, 64, 256]) {
        const s0 = llm.stats();
        const t0 = performance.now();
        const r = await expandVocabulary(llm, vocab.size, { prefix: 'a photo of', m: 1, batchSize, exclude, skip: exclude, limit: subwords });
        const s = (performance.now() - t0) / 1000;
        const s1 = llm.stats();
        console.log(`  expansion, batch ${batchSize}: ${(r.stats.computedPrompts / s).toFixed(0)} candidates/s (${r.stats.computedPrompts} prompts in ${s.toFixed(2)} s; ` +
          `${s1.evaluatedTokens - s0.evaluatedTokens} tokens evaluated, ${s1.reusedTokens - s0.reusedTokens} reused)`);
      }
      const usable = vocab.tokens.flatMap((_, i) => (exclude.has(i) ? [] : [i]));
      const lines = formatQueryRates(await measureQueryRates(llm, usable, 256), llm.distribution);
      for (const l of lines) console.log(`  ${l}`);
      ratios.push(...lines.slice(-2).map((l) => `${l} (${llmPath.split('/').pop()})`));
      await llm.dispose();
    }

    const clip = await loadClip(clipDir);
    console.log(`CLIP ${clip.id}${clip.isStandIn ? ' [stand-in]' : ''}, ${clip.dim}-d`);
    const texts = vocab.tokens.slice(0, n).map((t, i) => `${t.replace(/▁/g, ' ').trim()} ${i}`);
    let t0 = performance.now();
    await embedWithTemplates(clip, texts, ['a photo of a {}.']);
    let s = (performance.now() - t0) / 1000;
    console.log(`text embeddings, 1 template: ${(n / s).toFixed(0)} texts/s`);
    const m = Math.max(4, Math.floor(n / 16));
    t0 = performance.now();
    await embedWithTemplates(clip, texts.slice(0, m), IMAGENET_TEMPLATES);
    s = (performance.now() - t0) / 1000;
    console.log(`text embeddings, 80 templates: ${(m / s).toFixed(1)} texts/s (${((m * 80) / s).toFixed(0)} prompts/s)`);
    const images = readdirSync(imagesDir).sort().slice(0, Math.min(n, 256)).map((f) => join(imagesDir, f));
    t0 = performance.now();
    const emb = await clip.embedImages(images);
    s = (performance.now() - t0) / 1000;
    console.log(`image embeddings: ${(images.length / s).toFixed(1)} images/s (${images.length} images)`);
    await clip.dispose();

    const rows = 96_000;
    const table = new Float32Array(rows * clip.dim);
    for (let i = 0; i < table.length; i++) table[i] = Math.sin(i * 12.9898) * 0.05;
    const q = emb.subarray(0, Math.min(32, images.length) * clip.dim);
    const nq = q.length / clip.dim;
    const scorer = await onnxTopKScorer(scorerTable(table, clip.dim, 'cosine'), clip.dim);
    for (const engine of ['js', 'onnx'] as const) {
      const counter = new HitCounter(table, clip.dim, 5, 'cosine', engine === 'onnx' ? scorer : 'js');
      counter.add(q.subarray(0, 4 * clip.dim)); // warm-up
      await counter.done();
      t0 = performance.now();
      counter.add(q);
      await counter.done();
      s = (performance.now() - t0) / 1000;
      console.log(`filter scoring (${engine === 'onnx' ? 'onnxruntime' : 'plain JS'}) vs ${rows} x ${clip.dim}: ${(nq / s).toFixed(1)} images/s (${((2 * nq * rows * clip.dim) / s / 1e9).toFixed(2)} GFLOP/s)`);
    }
    await scorer.close();
    for (const l of ratios) console.log(l);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
