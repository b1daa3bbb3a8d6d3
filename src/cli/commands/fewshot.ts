// `v2l fewshot`: N-way K-shot classification by in-context learning (paper §4.1, Table 1), and
// `v2l fewshot --table` for the whole table.
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { int, oneOf } from '../options.js';
import { llmFlags, openLLM, openTokens, printSummary, runFlags, tokenizerFlags, type LLMFlags, type RunFlags, type TokenizerFlags } from '../task-flags.js';
import { createProgress } from '../progress.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { formatSplit, parseSplit, sampleEpisodes, splitShape, type Episode } from '../../tasks/fewshot/episodes.js';
import { checkImages, classNameOf, imagesRoot, loadClassNames, openDataset } from '../../tasks/fewshot/dataset.js';
import { runFewshot, type FewshotDecoding } from '../../tasks/fewshot/run.js';
import { runFewshotTable, tableFailure, type FewshotTable } from '../../tasks/fewshot/table.js';
import { tokensFile, type ImageTokenProvider } from '../../tasks/image-tokens.js';
import { buildFewshotPrompt, renderPrompt, type FewshotProtocol } from '../../tasks/fewshot/prompt.js';

export interface FewshotFlags extends TokenizerFlags, LLMFlags, RunFlags {
  split?: string;
  images?: string;
  dataset?: string;
  ways?: number;
  shots?: number;
  episodes: number;
  seed: number;
  queriesPerEpisode: number;
  writeEpisodes?: string;
  names?: string;
  induction: 'on' | 'off';
  repeats: number;
  protocol: FewshotProtocol;
  decoding: FewshotDecoding;
  maxSeqLen?: number;
  table?: boolean;
  showPrompt?: boolean;
}

/** What `--table` prints and returns: the table without its markdown, the per-setting summaries as `runs`. */
export type FewshotTableOutput = Omit<FewshotTable, 'markdown' | 'summaries'> & { runs: FewshotTable['summaries'] };

/**
 * With --tokens the images are never read: a field is looked up in the tokens file as written
 * (`wnid/file`), else as the file it names under the images root; every one must be there before any work.
 */
function tokensResolve(tokens: ImageTokenProvider, resolve: (field: string) => string): (field: string) => string {
  return (field) => (tokens.knows!(field) ? field : resolve(field));
}

function checkTokens(episodes: readonly Episode[], tokens: ImageTokenProvider, resolve: (field: string) => string, file: string, source: string): void {
  const missing = new Set<string>();
  for (const e of episodes) for (const x of [...e.support, ...e.queries]) if (!tokens.knows!(resolve(x.field))) missing.add(x.field);
  if (missing.size) {
    const m = [...missing];
    throw new Error(`${m.length} image(s) of ${source} have no record in --tokens ${file} (looked up as written, e.g. ${m[0]}, and as the file under the images root, e.g. ${resolve(m[0]!)}): ${m.slice(0, 5).join(', ')}${m.length > 5 ? ', ...' : ''}; tokenize them, or give sources as the split writes them`);
  }
}

/**
 * Where the episodes come from: `episodesFor(ways, shots)` for a Table 1 setting (a split folder holds
 * `{N}_way_{K}_shot.csv`), `episodesFor()` for a single run. Files, images and shapes are checked here,
 * before any model is loaded (with --tokens: the tokens file's records instead of the images).
 */
function episodeSource(f: FewshotFlags): { episodesFor: (ways?: number, shots?: number) => Episode[]; resolve: (field: string) => string; root: string; describe: Record<string, unknown> } {
  if (f.split && f.dataset) throw new Error('give --split (the reference\'s episode files) or --dataset (sample episodes), not both');
  const tokens = f.tokens ? tokensFile(f.tokens) : null;
  if (f.split) {
    if (!f.images && !tokens) throw new Error('--split needs --images <root> (fields are wnid/filename under it), or --tokens with records for its fields');
    const root = f.images ? imagesRoot(f.images) : { resolve: (field: string) => field };
    const resolve = tokens ? tokensResolve(tokens, root.resolve) : root.resolve;
    const isDir = existsSync(f.split) && statSync(f.split).isDirectory();
    if (f.table && !isDir) throw new Error('--table reads one split file per setting: give --split <folder> holding {N}_way_{K}_shot.csv');
    return {
      root: f.images ?? '.', resolve,
      describe: { split: f.split },
      episodesFor(ways, shots) {
        const file = isDir ? join(f.split!, `${ways ?? f.ways}_way_${shots ?? f.shots}_shot.csv`) : f.split!;
        if (!existsSync(file)) throw new Error(`--split: ${file} does not exist`);
        const shape = splitShape(basename(file));
        const w = ways ?? f.ways ?? shape?.ways;
        const k = shots ?? f.shots ?? shape?.shots;
        if (w === undefined || k === undefined) throw new Error(`${file}: the name is not {N}_way_{K}_shot.csv; give --ways and --shots`);
        const eps = parseSplit(readFileSync(file, 'utf8'), file, { ways: w, shots: k });
        if (tokens) checkTokens(eps, tokens, resolve, f.tokens!, file);
        else checkImages(eps, root.resolve, file);
        return eps;
      },
    };
  }
  if (f.dataset) {
    const ds = openDataset(f.dataset);
    const resolve = tokens ? tokensResolve(tokens, ds.resolve) : ds.resolve;
    return {
      root: f.dataset, resolve,
      describe: { dataset: f.dataset, seed: f.seed, queries_per_episode: f.queriesPerEpisode },
      episodesFor(ways, shots) {
        const w = ways ?? f.ways;
        const k = shots ?? f.shots;
        if (w === undefined || k === undefined) throw new Error('--dataset needs --ways N and --shots K');
        const eps = sampleEpisodes(ds.classes, { ways: w, shots: k, episodes: f.episodes, seed: f.seed, queriesPerEpisode: f.queriesPerEpisode });
        if (tokens) checkTokens(eps, tokens, resolve, f.tokens!, f.dataset!);
        else checkImages(eps, ds.resolve, f.dataset!);
        return eps;
      },
    };
  }
  throw new Error('give the episodes: --split <N_way_K_shot.csv> --images <root>, or --dataset <dir> --ways N --shots K [--episodes E --seed S]');
}

export function register(program: Command): void {
  fewshotOptions(
    program.command('fewshot')
      .description('N-way K-shot image classification by in-context learning with a frozen LLM (paper Table 1); one JSON record per query in --out, a summary on stdout'),
    'JSON-lines output, one record per query, in order; an existing file is resumed (with --table: a folder, one file per setting)',
  ).action(async (f: FewshotFlags) => {
    await runFewshotCommand(f);
  });
}

/** The few-shot flags (shared with `v2l eval fewshot`, which runs the same table). */
export function fewshotOptions(cmd: Command, outHelp: string): Command {
  cmd
    .option('--split <csv|dir>', 'episodes from the reference\'s split file {N}_way_{K}_shot.csv (lines "wnid/file,...,query,"); with --table, the folder holding them')
    .option('--images <root>', 'images of --split: <root>/<wnid>/<file>, or Tiny-ImageNet\'s val folder (images/ + val_annotations.txt)')
    .option('--dataset <dir>', 'sample episodes (seeded) from a folder-per-class dataset or Tiny-ImageNet\'s val folder')
    .option('--ways <n>', 'N classes per episode (with --dataset; default from the split file name)', int('ways', 1))
    .option('--shots <k>', 'K support images per class', int('shots', 1))
    .option('--episodes <n>', 'episodes to sample (--dataset)', int('episodes', 1), 100)
    .option('--seed <s>', 'sampling seed (--dataset)', int('seed', 0), 0)
    .option('--queries-per-episode <q>', 'queries sharing one support block (its KV cache is reused)', int('queries-per-episode', 1), 1)
    .option('--write-episodes <csv>', 'also write the episodes in the reference\'s split format')
    .option('--names <file>', 'wnid -> class name: JSON ({"wnid": "name"} or Keras imagenet_class_index.json) or "wnid name" lines (default: <root>/words.txt, else folder names)')
    .option('--induction <on|off>', 'the instruction listing the class names; off = the reference\'s unconstrained decoding with --decoding reference', oneOf('induction', ['on', 'off'] as const), 'on')
    .option('--repeats <r>', 'extra copies of the whole support block (0..5)', int('repeats', 0), 0)
    .option('--protocol <p>', 'paper: the paper\'s prompt text (default); reference: the reference code\'s prompt id for id, bugs included (unbalanced "[" in the instruction, global-token strings glued with no separator, every piece tokenized on its own); see docs/tasks.md', oneOf('protocol', ['paper', 'reference'] as const), 'paper')
    .option('--decoding <d>', 'trie: constrained to the class names, always a class (default); reference: 16 greedy ids under the reference\'s per-position union mask (EOS does not stop; can emit a hybrid of two names), scored by prefix match', oneOf('decoding', ['trie', 'reference'] as const), 'trie')
    .option('--max-seq-len <n>', 'reference decoding: the reference\'s max_seq_len cap (1024 in its scripts; cuts answers near it)', int('max-seq-len', 1))
    .option('--table', 'run the seven settings of the paper\'s Table 1 for 2-way and 5-way; --out is then a folder; --global-tokens may list 5,21')
    .option('--show-prompt', 'print the first prompt to stderr with its image-token spans marked');
  tokenizerFlags(cmd, { required: false, globalTokensHelp: 'global tokens per image, 5 or 21 in the paper (default 5; with --table a list: 5,21)' });
  llmFlags(cmd);
  return runFlags(cmd, outHelp);
}

/**
 * `v2l fewshot`'s work for parsed flags: one run (summary on stdout), or with `table` the paper's Table 1
 * (its JSON on stdout, its markdown on stderr), which is returned for `v2l eval fewshot` to write.
 */
export async function runFewshotCommand(f: FewshotFlags): Promise<FewshotTableOutput | null> {
  if (f.repeats > 5) throw new Error(`--repeats must be 0..5 (got ${f.repeats})`);
  if (f.maxSeqLen !== undefined && f.decoding !== 'reference') throw new Error('--max-seq-len applies to --decoding reference only');
  const ks = (f.globalTokens ?? '5').split(',').map((s) => {
    const k = Number(s.trim());
    if (!Number.isInteger(k) || k < 1) throw new Error(`--global-tokens: "${s}" is not a positive integer`);
    return k;
  });
  if (ks.length > 1 && !f.table) throw new Error('--global-tokens takes one value without --table');
  const src = episodeSource(f);
  // Check every input before loading anything heavy: episodes, images, names.
  const all = new Map<string, Episode[]>();
  if (f.table) {
    for (const n of [2, 5]) {
      for (const k of [1, 3, 5]) {
        // The reference published few split files; a missing one leaves its columns n/a.
        const file = f.split ? join(f.split, `${n}_way_${k}_shot.csv`) : null;
        if (file && !existsSync(file)) {
          console.error(`v2l: note: ${file} does not exist: the ${n}-way ${k}-shot columns stay empty`);
          all.set(`${n}x${k}`, []);
        } else all.set(`${n}x${k}`, src.episodesFor(n, k));
      }
    }
  }
  else all.set('run', src.episodesFor());
  const { names, source: namesSource } = loadClassNames(f.names, src.root);
  const className = classNameOf(names, namesSource, [...all.values()].flat());
  if (f.writeEpisodes) {
    if (f.table) throw new Error('--write-episodes writes one setting; run without --table');
    writeFileAtomic(f.writeEpisodes, formatSplit([...all.values()][0]!));
    console.error(`v2l: episodes written to ${f.writeEpisodes}`);
  }

  const llm = await openLLM(f);
  try {
    const { tokens, tokenizer } = await openTokens({ ...f, globalTokens: String(Math.max(...ks)) }, llm);
    try {
      const progress = createProgress({ quiet: f.quiet });
      const onProgress = (e: Parameters<typeof progress.update>[0]) => progress.update(e);
      const common = {
        resolve: src.resolve, className, tokens, llm, protocol: f.protocol, decoding: f.decoding, maxSeqLen: f.maxSeqLen,
        fresh: f.fresh, config: { ...src.describe, names: namesSource }, onProgress,
      };
      if (f.showPrompt) await showFirstPrompt(f, [...all.values()][0]!, className, tokens, src.resolve, ks[0]!);
      if (f.table) {
        const table = await runFewshotTable({
          ...common, globalTokens: ks, outDir: f.out, method: `v2l (${basename(llm.id)})`,
          episodesFor: (n, k) => all.get(`${n}x${k}`)!,
          onSetting: (what) => console.error(`v2l: fewshot ${what}`),
        });
        progress.stop();
        const { markdown, summaries, ...json } = table;
        const output: FewshotTableOutput = { ...json, runs: summaries };
        process.stdout.write(JSON.stringify(output, null, 2) + '\n');
        console.error('\n' + markdown);
        const u = table.units;
        console.error(`units: ${u.done}/${u.total} done${u.failed ? `, ${u.failed} failed` : ''}${u.resumed ? `, ${u.resumed} from an earlier run` : ''}`);
        // A table with a setting that has no figures (every unit failed) is a failed run, whatever it wrote.
        const why = tableFailure(table);
        if (why) {
          console.error(`v2l: ${why}`);
          process.exitCode = 1;
        }
        return output;
      }
      const episodes = [...all.values()][0]!;
      const { summary } = await runFewshot({ ...common, episodes, globalTokens: ks[0]!, induction: f.induction === 'on', repeats: f.repeats, out: f.out });
      progress.stop();
      printSummary(summary);
      return null;
    } finally {
      await tokenizer?.dispose();
    }
  } finally {
    await llm.dispose();
  }
}

async function showFirstPrompt(f: FewshotFlags, episodes: Episode[], className: (w: string) => string, tokens: Awaited<ReturnType<typeof openTokens>>['tokens'], resolve: (field: string) => string, k: number): Promise<void> {
  const e = episodes[0]!;
  const got = await tokens.global([...e.support, e.queries[0]!].map((x) => resolve(x.field)), k);
  const texts = got.map((r) => ('error' in r ? [`<${r.error}>`] : r.global.texts));
  const seg = buildFewshotPrompt({
    protocol: f.protocol, induction: f.induction === 'on', repeats: f.repeats,
    support: e.support.map((s, i) => ({ globalTexts: texts[i]!, label: className(s.wnid) })),
    query: { globalTexts: texts[texts.length - 1]! },
  });
  console.error(`v2l: first prompt (${f.protocol} protocol):\n${renderPrompt(seg)}\n`);
}
