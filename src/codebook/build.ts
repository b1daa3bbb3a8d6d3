// `v2l codebook build`: the whole pipeline of paper §3.2 as resumable stages, writing a codebook package
// (./package.ts) and a report. Node edge (files, image folders).
//
//   1 local       render the vocabulary, embed every entry (text cache)
//   2 expand      bigrams then trigrams through the LLM (journal: <out>/work/expand.jsonl)
//   3 candidates  subwords + bigrams + trigrams, deduplicated by text (<out>/work/candidates.json)
//   4 embed       CLIP text embedding of every candidate (text cache, shared with stage 1)
//   5 filter      CLIP image embedding of every image (image cache), top-k hits, threshold or top-N
//   6 package     manifest, safetensors, texts; report.json and report.md
//
// Killing the process at any point loses at most the batch in flight: stages 1, 4 and 5 resume from
// the embedding caches (<out>/cache unless `cacheDir`), stage 2 from its journal.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { LLM } from '../models/llm/types.js';
import type { ClipModel } from '../models/clip/types.js';
import { IMAGENET_TEMPLATES } from '../models/clip/templates.js';
import type { OnProgress } from '../util/progress.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { candidateText, isSpecialToken, referenceTokenText, tokenStyleOf, type CandidateStyle } from './render.js';
import { expandVocabulary, expansionCandidates } from './expand.js';
import { FileExpansionJournal } from './journal.js';
import { EmbeddingCache, embedTextsCached, imageCacheNamespace, streamImageEmbeddings, textCacheNamespace } from '../models/clip/embedding-cache.js';
import { sha256 } from '../util/hash.js';
import { buildLocalCodebook } from './local.js';
import { HitCounter, scorerTable, selectByCount, type KeepRule, type Similarity } from './filter.js';
import { onnxTopKScorer } from './score-onnx.js';
import { writeCodebook, type CodebookManifest, type GlobalEntry } from './package.js';
import { RunLock } from '../util/run-lock.js';

export interface TemplateSet {
  /** 'imagenet80', 'single', or the file they came from. */
  name: string;
  templates: readonly string[];
}

export interface BuildOptions {
  out: string;
  llm: LLM;
  clip: ClipModel;
  /** Image files for filtering (see listImages). */
  images: readonly string[];
  /** Default "a photo of". */
  prefix?: string;
  /** Default 1. */
  m?: number;
  templates: TemplateSet;
  /** Default { threshold: 100 } (the reference). */
  keep?: KeepRule;
  /** Hits per image (default 5). */
  k?: number;
  /** Default 'cosine'. */
  similarity?: Similarity;
  /** Default 'detokenized'. */
  candidateStyle?: CandidateStyle;
  /** Default 'ids' (see ExpansionConfig.promptStyle; 'text' is the reference's). */
  promptStyle?: 'ids' | 'text';
  /** LLM prompts per call (default 64). */
  batchSize?: number;
  /** Expand only the first n subwords that carry text (quick builds and tests; the manifest records it). */
  maxSubwords?: number;
  /** Texts per embedding batch (default 256). */
  textBatchSize?: number;
  /** Images per embedding batch (default 32). */
  imageBatchSize?: number;
  /** How image/candidate scores are computed: 'onnx' (onnxruntime's MatMul + TopK, the default) or 'js' (plain loops). */
  scoring?: 'onnx' | 'js';
  /** Where embedding caches live (default <out>/cache); safe to share between builds. */
  cacheDir?: string;
  onProgress?: OnProgress;
  log?: (line: string) => void;
}

export interface StageReport {
  seconds: number;
  /** Items done in this run and items found done (journal or cache). */
  computed: number;
  resumed: number;
  /** Items per second of the work done in this run (0 when nothing was computed). */
  rate: number;
}

export interface BuildReport {
  out: string;
  manifest: CodebookManifest;
  stages: Record<'local' | 'expand' | 'embed' | 'filter', StageReport>;
  /** The most hit entries: text, ids, hits. */
  top: { text: string; ids: number[]; count: number; kept: boolean }[];
}

/** The reference's single prompt, for fast builds ('single'). */
export const SINGLE_TEMPLATE = 'a photo of a {}.';

/**
 * A template set by name: 'imagenet80' (default, the reference's 80-template ensemble), 'single'
 * ("a photo of a {}."), 'bare' (the text alone), or a file with one template per line, each with "{}".
 */
export function resolveTemplates(spec = 'imagenet80'): TemplateSet {
  if (spec === 'imagenet80') return { name: spec, templates: IMAGENET_TEMPLATES };
  if (spec === 'single') return { name: spec, templates: [SINGLE_TEMPLATE] };
  if (spec === 'bare') return { name: spec, templates: ['{}'] };
  if (!existsSync(spec)) throw new Error(`templates: "${spec}" is neither imagenet80, single, bare nor an existing file`);
  const templates = readFileSync(spec, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const bad = templates.find((t) => !t.includes('{}'));
  if (bad !== undefined) throw new Error(`templates: ${spec}: the line "${bad}" has no "{}" placeholder`);
  if (!templates.length) throw new Error(`templates: ${spec} has no templates`);
  return { name: resolve(spec), templates };
}

/** Global tokens a tokenizer takes per image by default (the paper's 5): fewer rows than this cannot serve it. */
const MIN_GLOBAL_ROWS = 5;

/**
 * Refuses a global codebook with no rows (training and tokenizing would fail later with less helpful
 * errors), and warns about one with fewer rows than the default number of global tokens, giving the
 * numbers (hits per entry vs the threshold) and what to change.
 */
export function checkKept(kept: number, hits: Uint32Array, keep: KeepRule, k: number, images: number, candidates: number, log: (l: string) => void): void {
  if (kept >= MIN_GLOBAL_ROWS) return;
  let max = 0;
  for (const h of hits) max = Math.max(max, h);
  const mean = candidates ? (images * k) / candidates : 0;
  const rule = 'threshold' in keep ? `more than ${keep.threshold} hits` : `the ${keep.topN} most hit`;
  const facts = `${images} images x top-${k} = ${images * k} hits over ${candidates} candidates (mean ${mean.toFixed(2)}, most hit entry ${max}); keep rule: ${rule}`;
  const fix = 'threshold' in keep
    ? `lower --threshold (below ${max}), keep a fixed number with --top-n <n>, or filter with more images (the reference used 1.28M images with threshold 100)`
    : 'give more candidates or images';
  if (kept === 0) throw new Error(`codebook build: the global codebook would have 0 rows (${facts}). ${fix}.`);
  log(`warning: the global codebook has only ${kept} rows, fewer than the ${MIN_GLOBAL_ROWS} global tokens a tokenizer takes by default (${facts}). ${fix}.`);
}


/**
 * One build per output folder at a time: a lock file holding the owner's pid. A lock left by a killed
 * build (its pid no longer running) is taken over.
 */
/** One build per output folder (util/run-lock: a live holder refused naming its pid, a killed one's lock taken over). */
function acquireLock(out: string): () => void {
  const path = join(out, 'work', 'build.lock');
  mkdirSync(dirname(path), { recursive: true });
  const lock = RunLock.acquire(path, `${out} (a codebook build)`);
  return () => lock.release();
}

function rate(n: number, s: number): number {
  return n > 0 && s > 0 ? n / s : 0;
}

/** Runs (or resumes) every stage and writes the package, report.json and report.md into `o.out`. */
export async function buildCodebook(o: BuildOptions): Promise<BuildReport> {
  const release = acquireLock(resolve(o.out));
  try {
    return await build(o);
  } finally {
    release();
  }
}

async function build(o: BuildOptions): Promise<BuildReport> {
  const out = resolve(o.out);
  const prefix = o.prefix ?? 'a photo of';
  const m = o.m ?? 1;
  const keep = o.keep ?? { threshold: 100 };
  const k = o.k ?? 5;
  const similarity = o.similarity ?? 'cosine';
  const candidateStyle = o.candidateStyle ?? 'detokenized';
  const log = o.log ?? (() => {});
  const templates = o.templates.templates;
  if (!templates.length) throw new Error(`templates "${o.templates.name}" is empty`);
  if (!o.images.length) throw new Error('codebook build: no images to filter with');
  const { llm, clip } = o;
  const vocab = await llm.vocabulary();
  const style = tokenStyleOf(vocab);
  const cacheRoot = o.cacheDir ? resolve(o.cacheDir) : join(out, 'cache');
  const work = join(out, 'work');
  if (clip.isStandIn) log(`CLIP "${clip.id}" is a STAND-IN with random weights: the codebook will carry no real semantics.`);

  // 1. Local codebook.
  const textCache = new EmbeddingCache(cacheRoot, textCacheNamespace(clip, templates), clip.dim);
  const local = await buildLocalCodebook(clip, vocab, templates, textCache, { batchSize: o.textBatchSize, onProgress: o.onProgress, tokenStyle: style });
  log(`local codebook: ${vocab.size} rows (${local.computed} distinct texts embedded now, the rest cached or repeated)`);

  // 2. Expansion. Special tokens (BOS/EOS/UNK/control) are never continuations: a bigram ending in EOS
  // is the subword again.
  const exclude = new Set<number>();
  vocab.tokens.forEach((t, i) => {
    if (isSpecialToken(t, vocab.types?.[i])) exclude.add(i);
  });
  if (vocab.bos !== undefined) exclude.add(vocab.bos);
  if (vocab.eos !== undefined) exclude.add(vocab.eos);
  // Tokens that carry no text (special, reserved, unused) are not expanded either: their prompts would
  // ask the LLM about a control marker (LLaMA-3 has 256 of them) and their texts are names we made up.
  const skip = new Set<number>();
  vocab.tokens.forEach((t, i) => {
    if (isSpecialToken(t, vocab.types?.[i])) skip.add(i);
  });
  const promptStyle = o.promptStyle ?? 'ids';
  const journal = new FileExpansionJournal(join(work, 'expand.jsonl'), { llm: llm.id, vocabHash: vocab.hash, prefix, m, promptStyle, exclude: [...exclude].join(','), skip: [...skip].join(','), ...(o.maxSubwords !== undefined ? { maxSubwords: o.maxSubwords } : {}) });
  let expansionResult;
  try {
    expansionResult = await expandVocabulary(llm, vocab.size, {
      prefix, m, promptStyle, tokenText: (id) => referenceTokenText(id, vocab, style),
      batchSize: o.batchSize, exclude, skip, limit: o.maxSubwords, journal, onProgress: o.onProgress,
    });
  } finally {
    journal.close();
  }
  const { expansion, stats: ex } = expansionResult;
  log(`expansion: ${ex.computedPrompts} prompts now, ${ex.resumedPrompts} from the journal, ${rate(ex.computedPrompts, ex.seconds).toFixed(1)} candidates/s`);

  // 3. Candidates.
  const { candidates, counts } = expansionCandidates(expansion, (ids) => candidateText(ids, vocab, style, candidateStyle), skip);
  writeJsonAtomic(join(work, 'candidates.json'), { counts, candidates });
  log(`candidates: ${counts.beforeDedupe} -> ${counts.afterDedupe} after removing duplicates`);

  // 4. Candidate embeddings.
  const embedded = await embedTextsCached(clip, candidates.map((c) => c.text), templates, textCache, {
    batchSize: o.textBatchSize, onProgress: o.onProgress, stage: 'embed candidates',
  });
  log(`candidate embeddings: ${embedded.computed} embedded now, ${embedded.cached} cached (subwords share the local codebook's)`);

  // 5. Filter.
  const imageCache = new EmbeddingCache(cacheRoot, imageCacheNamespace(clip), clip.dim);
  const table = embedded.embeddings;
  const scorer = (o.scoring ?? 'onnx') === 'onnx' && table.length ? await onnxTopKScorer(scorerTable(table, clip.dim, similarity), clip.dim) : null;
  const counter = new HitCounter(table, clip.dim, k, similarity, scorer ?? 'js');
  let scoreSeconds = 0;
  let images;
  try {
    images = await streamImageEmbeddings(clip, o.images, imageCache, (emb) => {
      const t0 = performance.now();
      counter.add(emb);
      scoreSeconds += (performance.now() - t0) / 1000;
    }, { batchSize: o.imageBatchSize, onProgress: o.onProgress, stage: 'filter images' });
    const t0 = performance.now();
    await counter.done(); // batches still being scored (onnxruntime's run overlaps the next CLIP batch)
    scoreSeconds += (performance.now() - t0) / 1000;
  } finally {
    await scorer?.close();
  }
  const hits = counter.counts;
  const kept = selectByCount(hits, keep);
  log(`filter: ${o.images.length} images (${images.computed} embedded now, ${images.cached} from cache), scoring ${scoreSeconds.toFixed(1)}s; kept ${kept.length} of ${candidates.length}`);
  checkKept(kept.length, hits, keep, k, o.images.length, candidates.length, log);

  // 6. Package and report.
  const dim = clip.dim;
  const global = new Float32Array(kept.length * dim);
  const globalEntries: GlobalEntry[] = kept.map((c, r) => {
    global.set(table.subarray(c * dim, (c + 1) * dim), r * dim);
    return { text: candidates[c].text, ids: candidates[c].ids, count: hits[c] };
  });
  const manifest = writeCodebook(out, {
    manifest: {
      source: 'built',
      llm: { id: llm.id, vocabHash: vocab.hash, vocabSize: vocab.size },
      clip: { id: clip.id, fingerprint: clip.fingerprint, dim, isStandIn: clip.isStandIn },
      rendering: { tokenStyle: style, candidateStyle },
      expansion: { prefix, m, promptStyle, excludedContinuations: [...exclude].sort((a, b) => a - b), skippedSubwords: [...skip].sort((a, b) => a - b), ...(o.maxSubwords !== undefined ? { maxSubwords: o.maxSubwords } : {}) },
      // Rows that carry no text are not image words either: the tokenizer's search skips them.
      localSearch: { excludedRows: [...skip].sort((a, b) => a - b) },
      templates: { name: o.templates.name, count: templates.length, hash: sha256(templates.join('\n')) },
      filter: { similarity, k, threshold: 'threshold' in keep ? keep.threshold : null, topN: 'topN' in keep ? keep.topN : null, imageCount: o.images.length },
      counts: {
        vocabulary: vocab.size, bigrams: counts.bigrams, trigrams: counts.trigrams,
        candidatesBeforeDedupe: counts.beforeDedupe, candidates: counts.afterDedupe, global: kept.length,
      },
    },
    local: local.embeddings, localTexts: local.texts, global, globalEntries,
  });
  const keptSet = new Set(kept);
  const top = Array.from(hits.keys()).sort((a, b) => hits[b] - hits[a] || a - b).slice(0, 50)
    .map((c) => ({ text: candidates[c].text, ids: candidates[c].ids, count: hits[c], kept: keptSet.has(c) }));
  const report: BuildReport = {
    out, manifest, top,
    stages: {
      local: { seconds: local.seconds, computed: local.computed, resumed: vocab.size - local.computed, rate: rate(local.computed, local.seconds) },
      expand: { seconds: ex.seconds, computed: ex.computedPrompts, resumed: ex.resumedPrompts, rate: rate(ex.computedPrompts, ex.seconds) },
      embed: { seconds: embedded.seconds, computed: embedded.computed, resumed: embedded.cached, rate: rate(embedded.computed, embedded.seconds) },
      filter: { seconds: images.seconds + scoreSeconds, computed: images.computed, resumed: images.cached, rate: rate(images.computed, images.seconds) },
    },
  };
  writeJsonAtomic(join(out, 'report.json'), report);
  writeFileAtomic(join(out, 'report.md'), reportMarkdown(report));
  return report;
}

export function reportMarkdown(r: BuildReport): string {
  const m = r.manifest;
  const c = m.counts;
  const f = m.filter!;
  const lines = [
    `# Codebook build report`,
    '',
    `- LLM: ${m.llm.id} (vocabulary ${m.llm.vocabSize} tokens, hash ${m.llm.vocabHash?.slice(0, 12)})`,
    `- CLIP: ${m.clip.id} (${m.clip.dim}-d, fingerprint ${m.clip.fingerprint?.slice(0, 12)})${m.clip.isStandIn ? ' — STAND-IN with random weights, no real semantics' : ''}`,
    `- prefix "${m.expansion!.prefix}" (subwords as ${m.expansion!.promptStyle === 'text' ? 'text, as the reference' : 'token ids'}), M = ${m.expansion!.m}, templates ${m.templates!.name} (${m.templates!.count}), candidates ${m.rendering!.candidateStyle}`,
    `- filter: top-${f.k} by ${f.similarity} over ${f.imageCount} images, keep ${f.threshold !== null ? `count > ${f.threshold}` : `top ${f.topN}`}`,
    '',
    '## Size at each stage',
    '',
    '| stage | entries |',
    '|---|---|',
    `| vocabulary (local codebook) | ${c.vocabulary} |`,
    `| bigrams | ${c.bigrams} |`,
    `| trigrams | ${c.trigrams} |`,
    `| candidates before dedupe | ${c.candidatesBeforeDedupe} |`,
    `| candidates after dedupe | ${c.candidates} |`,
    `| global codebook (filtered) | ${c.global} |`,
    '',
    '## Work in this run',
    '',
    '| stage | done now | resumed | seconds | rate (/s) |',
    '|---|---|---|---|---|',
    ...Object.entries(r.stages).map(([k, s]) => `| ${k} | ${s.computed} | ${s.resumed} | ${s.seconds.toFixed(1)} | ${s.rate.toFixed(1)} |`),
    '',
    '## Most frequent entries',
    '',
    '| # | entry | hits | kept |',
    '|---|---|---|---|',
    ...r.top.map((t, i) => `| ${i + 1} | ${JSON.stringify(t.text)} | ${t.count} | ${t.kept ? 'yes' : 'no'} |`),
    '',
  ];
  return lines.join('\n');
}

