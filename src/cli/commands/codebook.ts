// `v2l codebook build|inspect` and `v2l interpret`: building the local and global codebooks for any
// LLM (src/codebook/build.ts), looking inside a codebook package, and reading an image's global tokens.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { buildCodebook, resolveTemplates } from '../../codebook/build.js';
import { listImages } from '../../image/list.js';
import { loadCodebook, readManifest } from '../../codebook/package.js';
import { interpretEmbedding } from '../../codebook/interpret.js';
import { loadClip } from '../../models/clip/transformers-clip.js';
import { isRemoteSpec, loadLLM } from '../../models/llm/load.js';
import { readVocabulary } from '../../models/llm/gguf-vocabulary.js';
import { createProgress } from '../progress.js';
import type { KeepRule, Similarity } from '../../codebook/filter.js';
import type { CandidateStyle } from '../../codebook/render.js';
import { int, num, oneOf } from '../options.js';

interface BuildFlags {
  llm: string;
  clip: string;
  images: string;
  out: string;
  prefix: string;
  m: number;
  templates: string;
  threshold: number;
  topN?: number;
  k: number;
  similarity: Similarity;
  candidateStyle: CandidateStyle;
  promptStyle: 'ids' | 'text';
  batchSize: number;
  maxSubwords?: number;
  textBatchSize: number;
  imageBatchSize: number;
  maxImages?: number;
  cache?: string;
  threads?: number;
  quiet?: boolean;
}

export function register(program: Command): void {
  const cb = program.command('codebook').description('build and inspect the local and global codebooks (LLM vocabulary embedded by CLIP)');

  cb.command('build')
    .description('build a codebook package for an LLM: local codebook, vocabulary expansion, candidate embeddings, image filtering (resumable)')
    .requiredOption('--llm <gguf|url>', 'the LLM: a GGUF file, or the URL of an OpenAI-compatible completions server')
    .requiredOption('--clip <dir>', 'CLIP model folder (Hugging Face ONNX layout)')
    .requiredOption('--images <dir|list>', 'images for filtering: a folder (recursive) or a text file with one path per line')
    .requiredOption('--out <dir>', 'output folder (the package; rerun with the same folder to resume)')
    .option('--prefix <text>', 'text before every subword in the expansion prompts', 'a photo of')
    .option('--m <n>', 'next tokens kept per prompt (M)', int('m', 1), 1)
    .option('--templates <name|file>', 'CLIP prompt templates: imagenet80 | single | bare | a file with one "{}" template per line', 'imagenet80')
    .option('--threshold <n>', 'keep entries hit more than n times (the reference: 100)', num('threshold'), 100)
    .option('--top-n <n>', 'keep the n most hit entries instead of a threshold', int('top-n', 1))
    .option('--k <n>', 'hits per image (top-k candidates)', int('k', 1), 5)
    .option('--similarity <s>', 'cosine | dot (the reference\'s raw product)', oneOf('similarity', ['cosine', 'dot'] as const), 'cosine')
    .option('--candidate-style <s>', 'detokenized ("big dog") | reference (plain concatenation, as the reference: "bigdog")', oneOf('candidate-style', ['detokenized', 'reference'] as const), 'detokenized')
    .option('--prompt-style <s>', 'ids (each subword as its exact token id after the prefix) | text (as the reference: the decoded text, re-tokenized)', oneOf('prompt-style', ['ids', 'text'] as const), 'ids')
    .option('--batch-size <n>', 'LLM prompts per call', int('batch-size', 1), 64)
    .option('--max-subwords <n>', 'expand only the first n subwords that carry text (quick builds and tests)', int('max-subwords', 1))
    .option('--text-batch-size <n>', 'texts per embedding batch (one cache shard each)', int('text-batch-size', 1), 256)
    .option('--image-batch-size <n>', 'images per embedding batch (one cache shard each)', int('image-batch-size', 1), 32)
    .option('--max-images <n>', 'use only the first n images', int('max-images', 1))
    .option('--cache <dir>', 'embedding cache folder (default <out>/cache; safe to share between builds)')
    .option('--threads <n>', 'LLM CPU threads', int('threads', 1))
    .option('--quiet', 'no progress output')
    .action(async (f: BuildFlags) => {
      let images = listImages(f.images);
      if (f.maxImages) images = images.slice(0, f.maxImages);
      const templates = resolveTemplates(f.templates);
      const keep: KeepRule = f.topN ? { topN: f.topN } : { threshold: f.threshold };
      const clip = await loadClip(f.clip);
      const llm = await loadLLM(f.llm, { local: { threads: f.threads } });
      const progress = createProgress({ quiet: f.quiet });
      const log = (line: string): void => {
        progress.stop();
        if (!f.quiet) console.error(line);
      };
      try {
        const r = await buildCodebook({
          out: f.out, llm, clip, images, templates, keep, prefix: f.prefix, m: f.m, k: f.k, similarity: f.similarity,
          candidateStyle: f.candidateStyle, promptStyle: f.promptStyle, batchSize: f.batchSize, maxSubwords: f.maxSubwords, textBatchSize: f.textBatchSize, imageBatchSize: f.imageBatchSize,
          cacheDir: f.cache, onProgress: (e) => progress.update(e), log,
        });
        progress.stop();
        const c = r.manifest.counts;
        console.log(`codebook written to ${r.out}${clip.isStandIn ? ' (built with a STAND-IN CLIP: no real semantics)' : ''}`);
        console.log(`local ${c.vocabulary} rows; candidates ${c.candidatesBeforeDedupe} -> ${c.candidates} after dedupe; global ${c.global} rows`);
        console.log(`expansion ${r.stages.expand.rate.toFixed(1)} candidates/s (${r.stages.expand.computed} now, ${r.stages.expand.resumed} resumed); ` +
          `text embeddings ${r.stages.embed.rate.toFixed(1)}/s; image embeddings ${r.stages.filter.rate.toFixed(1)}/s`);
        console.log(`report: ${resolve(r.out, 'report.md')}`);
      } finally {
        progress.stop();
        await llm.dispose();
        await clip.dispose();
      }
    });

  cb.command('inspect <dir>')
    .description('print a codebook package\'s manifest, sizes and sample entries')
    .option('--samples <n>', 'entries to show from each codebook', int('samples', 0), 10)
    .option('--json', 'print the manifest as JSON')
    .action((dir: string, f: { samples: number; json?: boolean }) => {
      const cbk = loadCodebook(dir);
      const m = cbk.manifest;
      if (f.json) {
        console.log(JSON.stringify(m, null, 2));
        return;
      }
      console.log(`codebook ${resolve(dir)} (${m.format} v${m.version}, ${m.source}, ${m.created})`);
      console.log(`LLM   ${m.llm.id}: ${m.llm.vocabSize} tokens, vocabulary hash ${m.llm.vocabHash?.slice(0, 16) ?? 'unknown'}`);
      console.log(`CLIP  ${m.clip.id}: ${m.clip.dim}-d, fingerprint ${m.clip.fingerprint?.slice(0, 16) ?? 'unknown'}${m.clip.isStandIn ? '  [STAND-IN: random weights, no real semantics]' : ''}`);
      if (m.expansion) console.log(`expansion: prefix "${m.expansion.prefix}", M = ${m.expansion.m}, subwords as ${m.expansion.promptStyle === 'text' ? 'text (the reference)' : 'token ids'}`);
      if (m.templates) console.log(`templates: ${m.templates.name} (${m.templates.count})`);
      if (m.filter) console.log(`filter: top-${m.filter.k} by ${m.filter.similarity} over ${m.filter.imageCount} images, keep ${m.filter.threshold !== null ? `hits > ${m.filter.threshold}` : `top ${m.filter.topN}`}`);
      console.log('sizes: ' + Object.entries(m.counts).map(([k, v]) => `${k} ${v}`).join(', '));
      console.log(`local codebook: ${cbk.local.length / cbk.dim} x ${cbk.dim}`);
      const step = Math.max(1, Math.floor(cbk.localTexts.length / Math.max(1, f.samples)));
      for (let i = 0, s = 0; i < cbk.localTexts.length && s < f.samples; i += step, s++) console.log(`  ${String(i).padStart(6)}  ${JSON.stringify(cbk.localTexts[i])}`);
      const g = cbk.globalEntries;
      console.log(`global codebook: ${g.length} x ${cbk.dim}` + (g.length ? ` (subwords ${g.filter((e) => e.ids?.length === 1).length}, bigrams ${g.filter((e) => e.ids?.length === 2).length}, trigrams ${g.filter((e) => e.ids?.length === 3).length})` : ''));
      const byCount = g.map((e, i) => ({ e, i })).sort((a, b) => (b.e.count ?? 0) - (a.e.count ?? 0) || a.i - b.i).slice(0, f.samples);
      for (const { e, i } of byCount) console.log(`  ${String(i).padStart(6)}  ${JSON.stringify(e.text)}${e.ids ? `  ids [${e.ids.join(', ')}]` : ''}${e.count !== undefined ? `  hits ${e.count}` : ''}`);
    });

  program.command('interpret <image>')
    .description('print an image\'s nearest global tokens (the paper\'s semantic interpretation)')
    .requiredOption('--codebook <dir>', 'codebook package')
    .requiredOption('--clip <dir>', 'CLIP model folder')
    .option('--k <n>', 'tokens to show', int('k', 1), 5)
    .option('--llm <gguf|url>', 'check the codebook against this LLM\'s vocabulary')
    .action(async (image: string, f: { codebook: string; clip: string; k: number; llm?: string }) => {
      if (!existsSync(image)) throw new Error(`image ${image} does not exist`);
      const manifest = readManifest(f.codebook);
      const clip = await loadClip(f.clip);
      try {
        let vocabulary: { hash: string; size: number } | undefined;
        let llmId: string | undefined;
        if (f.llm) {
          if (isRemoteSpec(f.llm)) {
            const llm = await loadLLM(f.llm);
            vocabulary = await llm.vocabulary();
            await llm.dispose();
          } else {
            vocabulary = await readVocabulary(f.llm);
          }
          llmId = f.llm;
        }
        const cbk = loadCodebook(f.codebook, { vocabulary, llmId, clip: { id: clip.id, fingerprint: clip.fingerprint, dim: clip.dim } });
        const emb = await clip.embedImages([image]);
        if (clip.isStandIn || manifest.clip.isStandIn) console.log('note: a STAND-IN CLIP is involved (random weights): these words carry no real meaning');
        console.log(`${image}: top ${Math.min(f.k, cbk.globalEntries.length)} global tokens (nearest first)`);
        for (const t of interpretEmbedding(emb, cbk, f.k)) {
          console.log(`  ${JSON.stringify(t.entry.text).padEnd(28)} distance ${t.distance.toFixed(4)}  cosine ${t.cosine.toFixed(4)}  (row ${t.row})`);
        }
      } finally {
        await clip.dispose();
      }
    });
}
