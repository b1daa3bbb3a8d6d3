// `v2l eval semantic` (the paper's Table 2): how well the global tokens describe their image, as CLIP
// score and relative CLIP score (CLIP-R), with 5 and 21 tokens.
//
// The paper gives no definition (it follows SPAE; tasks-spec.md §5). Ours is an INFERENCE from the
// numbers, flagged as such in every report:
//   CLIP score = cosine(CLIP image embedding, CLIP text embedding of the image's k global-token texts
//                joined by a space, nearest first);
//   CLIP-R     = CLIP score / cosine(image, text of its ground-truth class), per image, then averaged.
// With ViT-L/14 the paper's 0.2576 / 0.9165 imply a class-text score of about 0.281, typical of CLIP
// image-text cosines, which is what makes this reading plausible. The class text is
// "a photo of a {name}." by default (`classTemplate`), and the joining can be `none` (the reference's
// LLM prompts concatenate the strings with no separator). Node edge.
import { basename, dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';
import type { Codebook } from '../codebook/package.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import type { ClipModel } from '../models/clip/types.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { listEvalImages, selectionKey } from './images.js';
import { sha256, sha256File } from '../util/hash.js';
import { addSum, mean, newState, resumeOrStart, withOutputFolder, saveState, isDone, type EvalState, type EvalRunOptions, type Failure, type Shard } from './run-state.js';
import { TABLE2 } from './paper.js';
import { markdownTable, writeBarChart } from './chart.js';

export const SEMANTIC_DEFINITION = 'INFERRED definition (the paper gives none): CLIP score = cosine(CLIP image embedding, CLIP text embedding of the k global-token texts joined); ' +
  'CLIP-R = that / cosine(image, ground-truth class text), per image, averaged.';

export interface SemanticOptions extends EvalRunOptions {
  checkpoint: string;
  codebook?: string | Codebook;
  /** CLIP folder with both towers. */
  clip: string;
  images: string;
  out: string;
  /** wnid -> class name file ("wnid name" / "wnid<TAB>name, synonym" lines, e.g. Tiny-ImageNet's words.txt); default: names from `<wnid>_<name>.jpg` file names. */
  classNames?: string;
  classTemplate?: string;
  /** How token texts are joined: 'space' (default) or 'none'. */
  join?: 'space' | 'none';
  /** Token counts to score (default [5, 21]). */
  tokens?: number[];
  limit?: number;
}

export interface SemanticRow {
  tokens: number;
  clip: number;
  clipR: number;
  /** Ratio of the means (CLIP score mean / class-text score mean), for comparison. */
  clipRatioOfMeans: number;
}

export interface SemanticResult {
  table: 'Table 2: semantic quality of the global tokens';
  definition: string;
  images: { selected: number; evaluated: number; failed: number };
  failures: Failure[];
  classTextScore: number;
  rows: SemanticRow[];
  join: 'space' | 'none';
  classTemplate: string;
  standIns: string[];
  meaningless: boolean;
  shard?: Shard;
  merged?: number[];
  settings: Record<string, unknown>;
}

const WNID = /n\d{8}/;

/** The class of an image: its wnid (file name, else parent folder) and a name. */
export function classOf(path: string, names: Map<string, string> | null): { wnid: string; name: string } | null {
  const file = basename(path).replace(/\.[^.]+$/, '');
  const wnid = WNID.exec(file)?.[0] ?? WNID.exec(basename(dirname(path)))?.[0];
  if (!wnid) return null;
  const named = names?.get(wnid);
  if (named) return { wnid, name: named };
  // `<wnid>_<class_name>` (../shared/data/imagenet-val-sample): underscores are spaces.
  const m = new RegExp(`${wnid}_(.+)$`).exec(file);
  return m ? { wnid, name: m[1].replace(/_/g, ' ') } : null;
}

/** Reads "wnid name" / "wnid<TAB>name, synonym, ..." lines: the first synonym is the class name. */
export function readClassNames(path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(n\d{8})[\s,:]+(.+?)\s*$/.exec(line);
    if (m) out.set(m[1], m[2].split(',')[0].trim());
  }
  if (!out.size) throw new Error(`${path}: no "wnid name" lines`);
  return out;
}

/** One run at a time per output folder, nothing left by a refused run (./run-state.ts `withOutputFolder`), then the evaluation. */
export async function evaluateSemantic(o: SemanticOptions): Promise<SemanticResult> {
  return withOutputFolder(resolve(o.out), () => evaluateSemanticLocked(o));
}

async function evaluateSemanticLocked(o: SemanticOptions): Promise<SemanticResult> {
  const log = o.log ?? ((): void => {});
  const out = resolve(o.out);
  const all = listEvalImages(o.images);
  const selected = o.limit ? all.slice(0, o.limit) : all;
  const names = o.classNames ? readClassNames(o.classNames) : null;
  // Every image needs its class before any work: a missing class is a setup error, not a failure to count.
  const unnamed = selected.filter((p) => !classOf(p, names));
  if (unnamed.length) {
    throw new Error(`no class name for ${unnamed.length} image(s), e.g. ${unnamed.slice(0, 3).join(', ')}: name files <wnid>_<name>.jpg, put them in <wnid>/ folders with --class-names, or give --class-names <file>`);
  }
  const ks = [...new Set(o.tokens ?? [5, 21])].sort((a, b) => a - b);
  const kMax = ks[ks.length - 1];
  const batchSize = o.batchSize ?? 16;
  const template = o.classTemplate ?? 'a photo of a {}.';
  if (!template.includes('{}')) throw new Error(`class template "${template}" has no {} for the class name`);
  const join_ = o.join ?? 'space';
  const clip: ClipModel = await loadClip(o.clip);
  let tok: V2LTokenizer | null = null;
  try {
    tok = await V2LTokenizer.load({ checkpoint: o.checkpoint, codebook: o.codebook, clip, globalTokens: kMax, batchSize });
    if (!tok.codebook) throw new Error('eval semantic needs the global tokens\' texts: pass the codebook package (--codebook <dir>)');
    const standIns = clip.isStandIn ? ['CLIP'] : [];
    if (standIns.length) log('STAND-IN CLIP: the figures of this run are meaningless (they only exercise the computation)');
    const settings = {
      images: selectionKey(o.images, selected),
      // Contents, not paths: shards run on other machines (other mount points) must still merge.
      checkpoint: sha256File(o.checkpoint), codebook: sha256(JSON.stringify(tok.codebook.manifest.files ?? tok.codebook.globalEntries.map((e) => e.text))),
      clip: clip.fingerprint, tokens: ks, join: join_, classTemplate: template,
      classNames: o.classNames ? sha256File(o.classNames) : null, batchSize, standIns,
    };
    const fresh = newState('semantic', settings, selected.length, batchSize, o.shard ?? { index: 0, count: 1 });
    const { state, resumed } = resumeOrStart(out, fresh, { restart: o.fresh });
    if (resumed) log(`resuming ${out}: ${state.next - state.start} of ${state.end - state.start} batches done`);
    const total = Math.min(state.end * batchSize, selected.length) - state.start * batchSize;
    let lastSave = Date.now();
    while (!isDone(state)) {
      const b = state.next;
      await semanticBatch(selected.slice(b * batchSize, (b + 1) * batchSize), { tok, clip, names, ks, template, join: join_, state });
      state.next = b + 1;
      if (isDone(state) || Date.now() - lastSave >= (o.saveEvery ?? 30) * 1000) {
        saveState(out, state);
        lastSave = Date.now();
      }
      const done = Math.min(state.next * batchSize, selected.length) - state.start * batchSize;
      o.onProgress?.({ stage: 'semantic', done, total, info: { [`clip@${ks[0]}`]: mean(state.sums, `clip${ks[0]}`), failed: state.failures.length } });
    }
    const result = summarizeSemantic(state);
    await writeSemanticOutputs(out, result);
    return result;
  } finally {
    await tok?.dispose(); // disposes the CLIP it was given
    if (!tok) await clip.dispose();
  }
}

interface SemanticContext {
  tok: V2LTokenizer;
  clip: ClipModel;
  names: Map<string, string> | null;
  ks: number[];
  template: string;
  join: 'space' | 'none';
  state: EvalState;
}

async function semanticBatch(paths: readonly string[], c: SemanticContext): Promise<void> {
  const dim = c.clip.dim;
  // One CLIP pass for the batch; if it fails, one image at a time so that the bad one is named.
  let rows: (Float32Array | string)[];
  try {
    const emb = await c.clip.embedImages(paths);
    rows = paths.map((_, i) => emb.subarray(i * dim, (i + 1) * dim));
  } catch {
    rows = [];
    for (const p of paths) {
      try {
        rows.push(await c.clip.embedImages([p]));
      } catch (e) {
        rows.push((e as Error).message);
      }
    }
  }
  const good: { path: string; emb: Float32Array }[] = [];
  rows.forEach((r, i) => {
    if (typeof r === 'string') c.state.failures.push({ source: paths[i], error: r });
    else good.push({ path: paths[i], emb: r });
  });
  if (!good.length) return;
  const kMax = c.ks[c.ks.length - 1];
  const flat = new Float32Array(good.length * dim);
  good.forEach((g, i) => flat.set(g.emb, i * dim));
  // The global quantizer on the engine (encode()'s own search: the same ids as v2l tokenize).
  const gi = await c.tok.engine.globalTokens(flat, good.length, kMax);
  const ids = Array.from({ length: good.length }, (_, i) => Array.from(gi.subarray(i * kMax, (i + 1) * kMax)));
  const sep = c.join === 'space' ? ' ' : '';
  const texts: string[] = [];
  for (const [i, g] of good.entries()) {
    // Nearest first, so the k-token text is a prefix of the kMax one.
    const words = ids[i].map((id) => c.tok.codebook!.globalEntries[id]?.text ?? '');
    for (const k of c.ks) texts.push(words.slice(0, k).join(sep));
    texts.push(c.template.replace('{}', classOf(g.path, c.names)!.name));
  }
  const temb = await c.clip.embedTexts(texts);
  const per = c.ks.length + 1;
  const dot = (a: Float32Array, row: number): number => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += a[j] * temb[row * dim + j];
    return s;
  };
  good.forEach((g, i) => {
    const gt = dot(g.emb, i * per + c.ks.length);
    addSum(c.state.sums, 'classText', gt);
    c.ks.forEach((k, j) => {
      const s = dot(g.emb, i * per + j);
      addSum(c.state.sums, `clip${k}`, s);
      addSum(c.state.sums, `clipR${k}`, s / gt);
    });
  });
}

export function summarizeSemantic(state: EvalState): SemanticResult {
  const s = state.settings as { tokens: number[]; join: 'space' | 'none'; classTemplate: string; standIns: string[] };
  const evaluated = state.sums.classText?.count ?? 0;
  const partial = state.shard.count > 1 && !state.merged;
  const gt = mean(state.sums, 'classText');
  return {
    table: 'Table 2: semantic quality of the global tokens',
    definition: SEMANTIC_DEFINITION,
    images: { selected: partial ? Math.min(state.end * state.batchSize, state.images) - state.start * state.batchSize : state.images, evaluated, failed: state.failures.length },
    failures: state.failures,
    classTextScore: gt,
    rows: s.tokens.map((k) => ({ tokens: k, clip: mean(state.sums, `clip${k}`), clipR: mean(state.sums, `clipR${k}`), clipRatioOfMeans: mean(state.sums, `clip${k}`) / gt })),
    join: s.join,
    classTemplate: s.classTemplate,
    standIns: s.standIns,
    meaningless: s.standIns.length > 0,
    ...(partial ? { shard: state.shard } : {}),
    ...(state.merged ? { merged: state.merged } : {}),
    settings: state.settings,
  };
}

export function semanticMarkdown(r: SemanticResult): string {
  const warn = r.meaningless ? `\n> **STAND-IN ${r.standIns.join(', ')}: our figures below are meaningless** (random weights).\n` : '';
  const partial = r.shard ? `\n> Shard ${r.shard.index}/${r.shard.count} only; merge the shards (\`v2l eval merge\`).\n` : '';
  const rows: (string | number)[][] = TABLE2.map((p) => [`${p.method} (paper)`, p.tokens, p.clip, p.clipR]);
  for (const row of r.rows) rows.push([`**ours**${r.meaningless ? ' (stand-in: meaningless)' : ''}`, row.tokens, row.clip, row.clipR]);
  const fails = r.failures.length ? `\n**${r.failures.length} unreadable image(s), not scored:**\n${r.failures.slice(0, 50).map((f) => `- ${f.source}: ${f.error}`).join('\n')}\n` : '';
  return `# Table 2: semantic quality of the global tokens
${warn}${partial}
${markdownTable(['method', 'tokens', 'CLIP', 'CLIP-R'], rows)}

Ours: ${r.images.evaluated} of ${r.images.selected} images; token texts joined by ${r.join === 'space' ? 'a space' : 'nothing'}; class text "${r.classTemplate}" (mean class-text score ${r.classTextScore.toFixed(4)}).
${SEMANTIC_DEFINITION} The paper evaluates ImageNet-1K val with CLIP ViT-L/14.
${fails}`;
}

export async function writeSemanticOutputs(out: string, r: SemanticResult): Promise<void> {
  writeJsonAtomic(join(out, 'semantic.json'), r);
  writeFileAtomic(join(out, 'table2.md'), semanticMarkdown(r));
  const bars = (key: 'clip' | 'clipR') => [
    ...TABLE2.map((p) => ({ label: `${p.method} ${p.tokens}`, value: p[key] })),
    ...r.rows.map((row) => ({ label: `ours ${row.tokens}`, value: row[key], ours: true })),
  ];
  await writeBarChart(join(out, 'table2.png'), 'Table 2: semantic quality, ours (red) vs the paper (blue)', [
    { metric: 'CLIP score', note: 'higher is better', bars: bars('clip') },
    { metric: 'CLIP-R', note: 'higher is better', bars: bars('clipR') },
  ], r.meaningless ? `STAND-IN ${r.standIns.join(', ')}: our bars are meaningless` : r.shard ? 'one shard only: merge for the real figures' : undefined);
}
