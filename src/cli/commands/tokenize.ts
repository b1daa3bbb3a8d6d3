// `v2l tokenize`, `v2l reconstruct` and `v2l import-official`: the tokenizer itself from the command line.
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { V2LTokenizer, isFailure } from '../../tokenizer/tokenizer.js';
import { importOfficial, officialLayout, type OfficialFiles } from '../../tokenizer/official.js';
import { int } from '../options.js';
import { savePng, sideBySide } from '../../image/save.js';
import { createProgress } from '../progress.js';
import { configHint, tokenizerFlags, tokenizerOptions, withDemoDefault, type TokenizerFlags } from '../task-flags.js';

function standInWarning(tok: V2LTokenizer): void {
  if (tok.clip?.isStandIn) console.error(`v2l: note: ${tok.clip.id} is the random-weight STAND-IN CLIP: global tokens are not meaningful`);
}

export function register(program: Command): void {
  tokenizerFlags(
    program.command('tokenize')
      .description('encode images into global and local LLM tokens; prints JSON, one object per image: global.ids are ROWS OF THE GLOBAL CODEBOOK (texts in global.tokens, their LLM token ids in global.llmIds), local.ids are LLM VOCABULARY TOKEN IDS (h rows of w); an unreadable image gives {source, error} and exit code 1')
      .argument('<images...>', 'image files'),
    { required: false },
  ).action(async (images: string[], given: TokenizerFlags) => {
    const f = await withDemoDefault(given, 'v2l tokenize');
    if (!f.checkpoint) throw new Error('tokenize needs --checkpoint <file> (or no model flag at all, for the built-in demo tokenizer)');
    if (!f.clip) throw new Error('tokenize needs --clip <dir> (global tokens come from the CLIP image embedding)');
    const tok = await V2LTokenizer.load(tokenizerOptions(f));
    standInWarning(tok);
    if (!f.quiet) console.error('v2l: global.ids are rows of the global codebook (global.llmIds: their LLM token ids); local.ids are LLM vocabulary token ids');
    const progress = createProgress({ quiet: f.quiet || images.length < 2 });
    try {
      const results = await tok.encode(images, { onProgress: (e) => progress.update(e) });
      progress.stop();
      let failed = 0;
      for (const r of results) {
        if (isFailure(r)) failed++;
        // `demo: true` labels every record of the built-in demo tokenizer.
        process.stdout.write(JSON.stringify(f.demo ? { ...r, demo: true } : r) + '\n');
      }
      if (failed) {
        console.error(`v2l: ${failed} of ${images.length} images could not be read (see their "error" entries)`);
        process.exitCode = 1;
      }
    } finally {
      await tok.dispose();
    }
  });

  tokenizerFlags(
    program.command('reconstruct')
      .description('encode an image and decode its tokens; writes original | reconstruction side by side')
      .argument('<image>', 'image file')
      .requiredOption('-o, --out <png>', 'output PNG'),
    { required: false },
  ).action(async (image: string, given: TokenizerFlags & { out: string }) => {
    const f = await withDemoDefault(given, 'v2l reconstruct');
    if (!f.checkpoint) throw new Error('reconstruct needs --checkpoint <file> (or no model flag at all, for the built-in demo tokenizer)');
    if (!f.clip) throw new Error('reconstruct needs --clip <dir> (the decoder cross-attends to the global tokens)');
    const tok = await V2LTokenizer.load(tokenizerOptions(f));
    standInWarning(tok);
    try {
      const [r] = await tok.reconstruct([image]);
      if ('error' in r) throw new Error(r.error);
      await savePng(f.out, sideBySide([r.original, r.reconstruction]));
      const pairs = r.original.data.length;
      let se = 0;
      for (let i = 0; i < pairs; i++) se += ((r.original.data[i] - r.reconstruction.data[i]) / 255) ** 2;
      const psnr = 10 * Math.log10(1 / Math.max(se / pairs, 1e-12));
      console.log(JSON.stringify({ out: resolve(f.out), size: tok.imageSize, global: r.encoded.global, psnr: Number(psnr.toFixed(3)), ...(f.demo ? { demo: true } : {}) }));
    } finally {
      await tok.dispose();
    }
  });

  program.command('import-official')
    .description('convert the reference\'s official checkpoint and codebooks (.pth/.npy) into the project\'s layout, with a manifest')
    .option('--from <dir>', 'the official download folder (with codebooks/ and checkpoints/)')
    .option('--checkpoint <pth>', 'checkpoints/v2l-decode.pth (overrides --from)')
    .option('--local <pth>', 'codebooks/local_codebook_embedding.pth (overrides --from)')
    .option('--global <pth>', 'codebooks/global_codebook_embedding.pth (overrides --from)')
    .option('--vocabulary <npy>', 'codebooks/global_vocabulary.npy (overrides --from)')
    .requiredOption('--llm <gguf>', 'GGUF of the LLM the codebook embeds (LLaMA-2; a vocab-only file is enough)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--config <json>', 'configuration fields the checkpoint\'s shapes leave open, as JSON or a JSON file (e.g. {"crossAttnHeads": 8} or the reference\'s ddconfig); the rest is read from the state dict')
    .option('--image-size <px>', 'image side the checkpoint was trained at (default: v2l-export.json\'s in --from, else 128, the paper\'s)', int('image-size', 1))
    .option('--global-tokens <n>', 'global tokens per image the decoder was trained with (default: v2l-export.json\'s in --from, else 5)', int('global-tokens', 1))
    .action(async (f: { from?: string; checkpoint?: string; local?: string; global?: string; vocabulary?: string; llm: string; out: string; config?: string; imageSize?: number; globalTokens?: number }) => {
      const base: Partial<OfficialFiles> = f.from ? officialLayout(f.from) : {};
      const files: OfficialFiles = {
        ...(base.exportManifest ? { exportManifest: base.exportManifest } : {}),
        checkpoint: f.checkpoint ?? base.checkpoint,
        local: f.local ?? base.local ?? '',
        global: f.global ?? base.global ?? '',
        vocabulary: f.vocabulary ?? base.vocabulary ?? '',
      };
      const missing = (['local', 'global', 'vocabulary'] as const).filter((k) => !files[k]);
      if (missing.length) throw new Error(`import-official: give --from <dir> or ${missing.map((m) => `--${m}`).join(', ')}`);
      const config = f.config === undefined ? undefined : configHint(f.config);
      const report = await importOfficial({ files, llm: f.llm, out: f.out, config, imageSize: f.imageSize, globalTokens: f.globalTokens, log: (l) => console.error(l) });
      console.log(JSON.stringify({ ...report, manifest: join(report.out, 'manifest.json') }, null, 2));
    });
}
