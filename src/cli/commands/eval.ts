// `v2l eval ...`: the paper's evaluations, each printing its table beside the paper's numbers, and
// `v2l eval merge` for runs split with --shard. The work is in src/eval; this file parses flags.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createProgress } from '../progress.js';
import { parseShard } from '../../eval/run-state.js';
import { evaluateReconstruction, reconstructionMarkdown, trainedDifferences, type ReconstructionResult } from '../../eval/reconstruction.js';
import { mergeEvaluations } from '../../eval/merge.js';
import { evaluateSemantic, semanticMarkdown, type SemanticResult } from '../../eval/semantic.js';
import { int, intList, oneOf } from '../options.js';
import { sharedLpipsHeadsPath } from '../../train/lpips-files.js';
import { evaluateRestoration, restorationMarkdown, type RestorationResult } from '../../eval/restoration.js';
import { TABLE4_TASKS } from '../../eval/paper.js';
import { listEvalImages } from '../../eval/images.js';
import { sha256, sha256File } from '../../util/hash.js';
import { llmFlags, openLLM, openTokens, tokenizerFlags, type LLMFlags, type TokenizerFlags } from '../task-flags.js';
import { writeFewshotOutputs } from '../../eval/fewshot-table.js';
import { fewshotOptions, runFewshotCommand, type FewshotFlags } from './fewshot.js';
import { reproducePlan, shellLine, PAPER_TABLES, type PaperTable } from '../../eval/reproduce.js';

const log = (line: string): void => {
  console.error(`v2l: ${line}`);
};

function defaultLpipsHeads(): string | undefined {
  const p = fileURLToPath(sharedLpipsHeadsPath('alex'));
  return existsSync(p) ? p : undefined;
}

interface CommonFlags {
  out: string;
  limit?: number;
  shard?: string;
  batchSize?: number;
  fresh?: boolean;
  quiet?: boolean;
}

/** Flags every evaluation command has: output folder, quick runs, shards, resume. */
function commonFlags(cmd: Command, batchDefault: number): Command {
  return cmd
    .requiredOption('--out <dir>', 'output folder: state (resumable), JSON, markdown table, PNG chart')
    .option('--limit <n>', 'only the first n images (a quick run)', int('limit', 1))
    .option('--shard <i/n>', 'run only shard i of n (contiguous whole batches); combine the shards with `v2l eval merge`')
    .option('--batch-size <n>', `images per batch (default ${batchDefault}); shards and resumes must use the same`, int('batch-size', 1))
    .option('--fresh', 'ignore a saved state in --out and start over')
    .option('-q, --quiet', 'no progress bar');
}

export function register(program: Command): void {
  const evalCmd = program.command('eval').description('the paper\'s evaluations (Tables 1-4), each printing its table beside the paper\'s numbers');

  commonFlags(
    evalCmd.command('reconstruction')
      .description('Table 3: FID, LPIPS, PSNR, SSIM and tokens per image of images -> tokens -> images (reference protocol: 256 px, 21 global tokens)')
      .requiredOption('--checkpoint <file>', 'tokenizer weights (safetensors from `v2l train`/`import-official`, or the official .pth)')
      .option('--codebook <dir>', 'codebook package (needed when the checkpoint holds none)')
      .requiredOption('--clip <dir>', 'CLIP ViT-L/14 ONNX folder (for the global tokens)')
      .requiredOption('--images <dir|list>', 'a folder of images or a list file (one path a line, relative to the list)')
      .option('--inception <onnx>', 'Inception-v3 pool3 ONNX exported from pytorch-fid (see docs/evaluation.md), or "stand-in"', 'stand-in')
      .option('--lpips-backbone <file>', 'torchvision AlexNet weights (alexnet-owt-7be5be79.pth), an ONNX export of it, or "stand-in"', 'stand-in')
      .option('--lpips-heads <file>', 'LPIPS v0.1 alex linear heads (.pth or .json)', defaultLpipsHeads())
      .option('--lpips-protocol <p>', 'correct (inputs in [-1,1]) | reference (the reference\'s double mapping to [-3,1], to match the paper)', oneOf('lpips-protocol', ['correct', 'reference'] as const), 'correct')
      .option('--image-size <px>', 'square input side (default: the checkpoint\'s; the reference evaluates at 256, the paper trains at 128)', int('image-size', 1))
      .option('--global-tokens <k>', 'global tokens per image (default: the checkpoint\'s; the reference evaluates with 21)', int('global-tokens', 1)),
    8,
  ).action(async (f: CommonFlags & {
    checkpoint: string; codebook?: string; clip: string; images: string; inception: string; lpipsBackbone: string; lpipsHeads?: string;
    lpipsProtocol: 'correct' | 'reference'; imageSize?: number; globalTokens?: number;
  }) => {
    if (!f.lpipsHeads) throw new Error('--lpips-heads <file> is needed: the LPIPS v0.1 alex heads (weights/v0.1/alex.pth of github.com/richzhang/PerceptualSimilarity)');
    const progress = createProgress({ quiet: f.quiet });
    let r: ReconstructionResult;
    try {
      r = await evaluateReconstruction({
        checkpoint: f.checkpoint, codebook: f.codebook, clip: f.clip, images: f.images, out: f.out, inception: f.inception,
        lpipsBackbone: f.lpipsBackbone, lpipsHeads: f.lpipsHeads, lpipsProtocol: f.lpipsProtocol, imageSize: f.imageSize,
        globalTokens: f.globalTokens, batchSize: f.batchSize, limit: f.limit, shard: f.shard ? parseShard(f.shard) : undefined,
        fresh: f.fresh, onProgress: (e) => progress.update(e), log,
      });
    } finally {
      progress.stop();
    }
    process.stdout.write(reconstructionMarkdown(r) + '\n');
    log(`wrote ${f.out}/reconstruction.json, table3.md, table3.png`);
    if (r.failures.length) process.exitCode = 1;
  });

  commonFlags(
    evalCmd.command('semantic')
      .description('Table 2: CLIP score and CLIP-R of the global tokens (5 and 21); the definition is inferred from the paper\'s numbers (see docs/evaluation.md)')
      .requiredOption('--checkpoint <file>', 'tokenizer weights')
      .option('--codebook <dir>', 'codebook package (the global tokens\' texts)')
      .requiredOption('--clip <dir>', 'CLIP ViT-L/14 ONNX folder (both towers)')
      .requiredOption('--images <dir|list>', 'images named <wnid>_<name>.jpg, or in <wnid>/ folders with --class-names')
      .option('--class-names <file>', 'wnid -> class name lines ("n01443537 goldfish" or words.txt\'s "n01443537<TAB>goldfish, Carassius auratus")')
      .option('--class-template <text>', 'ground-truth class text, {} = the name', 'a photo of a {}.')
      .option('--join <how>', 'space | none: how the token texts are joined for CLIP', oneOf('join', ['space', 'none'] as const), 'space')
      .option('--tokens <list>', 'global token counts to score', intList('tokens'), [5, 21]),
    16,
  ).action(async (f: CommonFlags & { checkpoint: string; codebook?: string; clip: string; images: string; classNames?: string; classTemplate: string; join: 'space' | 'none'; tokens: number[] }) => {
    const progress = createProgress({ quiet: f.quiet });
    let r: SemanticResult;
    try {
      r = await evaluateSemantic({
        checkpoint: f.checkpoint, codebook: f.codebook, clip: f.clip, images: f.images, out: f.out, classNames: f.classNames,
        classTemplate: f.classTemplate, join: f.join, tokens: f.tokens, batchSize: f.batchSize, limit: f.limit,
        shard: f.shard ? parseShard(f.shard) : undefined, fresh: f.fresh, onProgress: (e) => progress.update(e), log,
      });
    } finally {
      progress.stop();
    }
    process.stdout.write(semanticMarkdown(r) + '\n');
    log(`wrote ${f.out}/semantic.json, table2.md, table2.png`);
    if (r.failures.length) process.exitCode = 1;
  });

  // Table 1 is `v2l fewshot --table`: the same flags and the same function, then the table files.
  fewshotOptions(
    evalCmd.command('fewshot')
      .description('Table 1: runs `v2l fewshot --table` (the same flags and implementation; --table is implied) and writes table1.json, table1.md and table1.png into --out'),
    'output folder: one JSON-lines file per setting (each resumable), and the table files',
  ).action(async (f: FewshotFlags) => {
    if (!f.out) throw new Error('eval fewshot needs --out <dir> (one JSON-lines file per setting, and the table files)');
    const table = await runFewshotCommand({ ...f, table: true });
    if (!table) throw new Error('eval fewshot: the few-shot run gave no table');
    await writeFewshotOutputs(f.out, table);
    log(`wrote ${f.out}/table1.json, table1.md, table1.png`);
  });

  const restoration = evalCmd.command('restoration')
    .description('Table 4: FID / LPIPS of in-context inpainting, outpainting, deblurring, rotation and shift (the `v2l restore` library per task, then scored)')
    .requiredOption('--images <dir|list>', 'images (the reference: the first 5,001 lines of imagenet_split/val/class_labels.txt)')
    .requiredOption('--out <dir>', 'output folder: one subfolder per task (restored images, resumable records), state, JSON, table4.md/png')
    .option('--tasks <list>', `Table 4 columns to run (default all: ${TABLE4_TASKS.join(',')})`)
    .option('--protocol <p>', 'reference (default: the paper\'s numbers; LEAKS the answer, see docs/tasks.md) | clean', oneOf('protocol', ['reference', 'clean'] as const), 'reference')
    .option('--context-images <dir|list>', 'clean protocol: other images for the in-context examples')
    .option('--m <n>', 'tokens predicted per step', int('m', 1), 2)
    .option('--n <n>', 'in/outpainting: tokens before the step shown as the input', int('n', 1), 16)
    .option('--copies <n>', 'in-context examples per step', int('copies', 1), 10)
    .option('--seed <n>', 'seeds the blur draw and the reference protocol\'s copies', int('seed', 0), 0)
    .option('--batch <n>', 'deblur/rotate/shift: steps per LLM call', int('batch', 1), 1)
    .option('--inception <onnx>', 'Inception-v3 pool3 ONNX (pytorch-fid), or "stand-in"', 'stand-in')
    .option('--lpips-backbone <file>', 'torchvision AlexNet weights (.pth, .safetensors or ONNX), or "stand-in"', 'stand-in')
    .option('--lpips-heads <file>', 'LPIPS v0.1 alex heads (.pth or .json)', defaultLpipsHeads())
    .option('--limit <n>', 'only the first n images', int('limit', 1))
    .option('--shard <i/n>', 'run only shard i of n (whole scoring batches); combine with `v2l eval merge`')
    .option('--score-batch <n>', 'images per scoring batch (default 8); shards must use the same', int('score-batch', 1))
    .option('--fresh', 'start over (restoration records and scores)')
    .option('--cache-dir <dir>', 'cache folder for the global tokens of the original files');
  tokenizerFlags(restoration, { globalTokensHelp: 'global tokens per image (default: the checkpoint\'s; the reference uses 21)' });
  llmFlags(restoration);
  restoration.action(async (f: TokenizerFlags & LLMFlags & {
    images: string; out: string; tasks?: string; protocol: 'reference' | 'clean'; contextImages?: string; m: number; n: number; copies: number;
    seed: number; batch: number; inception: string; lpipsBackbone: string; lpipsHeads?: string; limit?: number; shard?: string; scoreBatch?: number;
    fresh?: boolean; cacheDir?: string;
  }) => {
    if (!f.lpipsHeads) throw new Error('--lpips-heads <file> is needed: the LPIPS v0.1 alex heads');
    const tasks = (f.tasks ? f.tasks.split(',').map((t) => t.trim()) : [...TABLE4_TASKS]) as (typeof TABLE4_TASKS)[number][];
    const bad = tasks.filter((t) => !(TABLE4_TASKS as readonly string[]).includes(t));
    if (bad.length) throw new Error(`--tasks: unknown ${bad.join(', ')} (expected ${TABLE4_TASKS.join(', ')})`);
    let images = listEvalImages(f.images);
    if (f.limit) images = images.slice(0, f.limit);
    const context = f.contextImages ? listEvalImages(f.contextImages).filter((c) => !images.includes(c)) : [];
    const llm = await openLLM(f);
    try {
      const { tokens, tokenizer } = await openTokens({ ...f, cacheDir: f.cacheDir }, llm, { needTokenizer: true });
      const globalTokens = tokenizer!.globalTokens; // as told, else the checkpoint's
      for (const line of trainedDifferences(tokenizer!, { imageSize: f.imageSize === undefined ? undefined : Number(f.imageSize), globalTokens: f.globalTokens === undefined ? undefined : Number(f.globalTokens) })) log(line);
      const progress = createProgress({ quiet: f.quiet });
      let r: RestorationResult;
      try {
        r = await evaluateRestoration({
          tokenizer: tokenizer!, llm, globalTokensOf: tokens, images, imagesSource: f.images, contextImages: context, tasks, protocol: f.protocol,
          restore: { m: f.m, n: f.n, copies: f.copies, seed: f.seed, batch: f.batch, globalTokens }, out: f.out,
          inception: f.inception, lpipsBackbone: f.lpipsBackbone, lpipsHeads: f.lpipsHeads, batchSize: f.scoreBatch,
          shard: f.shard ? parseShard(f.shard) : undefined, fresh: f.fresh, onProgress: (e) => progress.update(e), log,
          settingsExtra: { tokenizer: sha256File(tokenizer!.weights.path), codebook: sha256(JSON.stringify(tokenizer!.codebook?.manifest.files ?? null)), clip: tokenizer!.clip?.fingerprint ?? null, imageSize: tokenizer!.imageSize },
        });
      } finally {
        progress.stop();
        await tokenizer?.dispose();
      }
      process.stdout.write(restorationMarkdown(r) + '\n');
      log(`wrote ${f.out}/restoration.json, table4.md, table4.png`);
      if (r.failures.length) process.exitCode = 1;
    } finally {
      await llm.dispose();
    }
  });

  evalCmd.command('merge')
    .description('merge the finished shards of one evaluation (folders of `--shard i/n` runs) into the figures of the whole run')
    .argument('<dirs...>', 'the shards\' output folders')
    .requiredOption('--out <dir>', 'output folder for the merged state and tables')
    .action(async (dirs: string[], f: { out: string }) => {
      const { kind, result, shards } = await mergeEvaluations(dirs, f.out);
      log(`merged ${shards} shards of a ${kind} evaluation into ${f.out}`);
      if (kind === 'reconstruction') process.stdout.write(reconstructionMarkdown(result as ReconstructionResult) + '\n');
      else if (kind === 'semantic') process.stdout.write(semanticMarkdown(result as SemanticResult) + '\n');
      else if (kind === 'restoration') process.stdout.write(restorationMarkdown(result as RestorationResult) + '\n');
      else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    });

  program.command('reproduce')
    .description('the exact commands for one of the paper\'s tables in the paper\'s setting (official weights, LLaMA-2, CLIP ViT-L/14): printed, run with --run')
    .argument('<table>', PAPER_TABLES.join(' | '))
    .requiredOption('--official <dir>', 'output folder of `v2l import-official` (tokenizer.safetensors + codebook/)')
    .requiredOption('--clip <dir>', 'CLIP ViT-L/14 ONNX folder (`v2l models pull clip-vit-large-patch14`)')
    .option('--llm <gguf|url>', 'LLaMA-2 GGUF, or an OpenAI-compatible server URL (vLLM for 13B/70B) (Tables 1, 4)')
    .option('--imagenet-val <dir|list>', 'ImageNet-1K val (Tables 2-4)')
    .option('--class-names <file>', 'LOC_synset_mapping.txt (Table 2)')
    .option('--splits <dir>', 'Mini-ImageNet split files {N}_way_{K}_shot.csv (Table 1)')
    .option('--mini-imagenet <dir>', 'Mini-ImageNet image root (Table 1)')
    .option('--inception <onnx>', 'pytorch-fid Inception ONNX (Tables 3, 4)')
    .option('--alexnet <pth>', 'torchvision AlexNet weights (Tables 3, 4)')
    .option('--lpips-heads <pth>', 'LPIPS v0.1 alex heads (Tables 3, 4)')
    .requiredOption('--out <dir>', 'where the tables go (one subfolder each)')
    .option('--run', 'run the commands (otherwise they are only printed)')
    .action(async (table: string, f: { official: string; clip: string; llm?: string; imagenetVal?: string; classNames?: string; splits?: string; miniImagenet?: string; inception?: string; alexnet?: string; lpipsHeads?: string; out: string; run?: boolean }) => {
      if (!(PAPER_TABLES as readonly string[]).includes(table)) throw new Error(`reproduce: <table> must be one of ${PAPER_TABLES.join(', ')} (got "${table}")`);
      const plan = reproducePlan(table as PaperTable, f);
      const lines = [`# ${plan.what}`, '# downloads:', ...plan.downloads.map((d) => `#   - ${d}`), `# expected time (rough estimate, not measured): ${plan.estimate}`];
      if (plan.missing.length) lines.push('# still needed (give these flags):', ...plan.missing.map((m) => `#   ${m}`));
      lines.push(...plan.commands.map(shellLine));
      process.stdout.write(lines.join('\n') + '\n');
      if (!f.run) return;
      if (plan.missing.length) throw new Error(`reproduce ${table}: cannot run, missing ${plan.missing.map((m) => m.split(':')[0]).join(', ')}`);
      // A fresh program per command: the same parser and defaults as typing the printed line.
      const { buildProgram } = await import('../main.js');
      for (const argv of plan.commands) {
        log(`running: ${shellLine(argv)}`);
        await (await buildProgram(['node', 'v2l', ...argv])).parseAsync(argv, { from: 'user' });
      }
    });
}
