// `v2l export-reference`: a v2l checkpoint and its codebook package in the PyTorch reference's own layout
// (checkpoints/v2l-decode.pth, codebooks/*.pth + global_vocabulary.npy, vqgan_configs/v2l.yaml), so that
// training can go on with the reference's code under torchrun / DDP; `v2l import-official --from <dir>`
// brings the result back (src/tokenizer/export-reference.ts).
import type { Command } from 'commander';
import { exportReference } from '../../tokenizer/export-reference.js';
import { int } from '../options.js';

export function register(program: Command): void {
  program.command('export-reference')
    .description('write a checkpoint and its codebooks in the PyTorch reference\'s layout (.pth state dict + codebook .pth/.npy + vqgan yaml) for its torchrun/DDP training; `v2l import-official --from <dir>` reads it back')
    .requiredOption('--checkpoint <file>', 'weights: a v2l safetensors file (v2l train / import-official) or a reference .pth')
    .requiredOption('--codebook <dir>', 'the codebook package the network was trained with (its global texts become global_vocabulary.npy)')
    .requiredOption('--out <dir>', 'output folder (the reference\'s checkpoints/, codebooks/, vqgan_configs/ and v2l-export.json)')
    .option('--image-size <px>', 'image side (default: the checkpoint\'s, else 128)', int('image-size', 1))
    .option('--global-tokens <n>', 'global tokens per image (default: the checkpoint\'s, else 5)', int('global-tokens', 1))
    .option('--allow-mismatch', 'write even where the reference\'s hard-coded modules cannot hold this network (768-d codebooks, 8-head cross-attention, 2-layer discriminator, raw codes); the differences are recorded')
    .action((f: { checkpoint: string; codebook: string; out: string; imageSize?: number; globalTokens?: number; allowMismatch?: boolean }) => {
      const report = exportReference({ ...f, log: (l) => console.error(l) });
      for (const m of report.mismatches) console.error(`v2l: warning: the reference's modules cannot hold this: ${m}`);
      console.log(JSON.stringify(report, null, 2));
    });
}
