// `v2l clip embed --model <dir> <image|text>…`: CLIP embeddings from the command line. An argument is an
// image when it is an existing file with an image extension, otherwise text.
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { loadClip } from '../../models/clip/transformers-clip.js';
import { isImagePath } from '../../image/types.js';
import { embedWithTemplates, IMAGENET_TEMPLATES } from '../../models/clip/templates.js';
import { resolveModelPath } from '../../models/hub.js';
import { loadImages } from '../../image/load.js';
import type { RawImage } from '../../image/types.js';

function int(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got "${v}")`);
    return n;
  };
}

interface EmbedFlags {
  model: string;
  batchSize: number;
  threads?: number;
  values: number;
  full?: boolean;
  templates?: boolean;
}

function isImageArg(a: string): boolean {
  return isImagePath(a) && existsSync(a) && statSync(a).isFile();
}

export function register(program: Command): void {
  const clip = program.command('clip').description('the frozen CLIP (ONNX, through @huggingface/transformers)');
  clip
    .command('embed <inputs...>')
    .description('embed images (existing image files) and texts (anything else); prints JSON, one entry per input')
    .requiredOption('--model <dir>', 'CLIP folder in the Hugging Face ONNX layout, or a cached preset name (v2l models list)')
    .option('--batch-size <n>', 'inputs per model call', int('batch-size', 1), 32)
    .option('--threads <n>', 'onnxruntime threads', int('threads', 1))
    .option('--values <n>', 'leading values to print per embedding', int('values', 0), 8)
    .option('--full', 'print whole embeddings')
    .option('--templates', 'texts: the 80-template ImageNet ensemble (mean of normalised template embeddings) instead of the bare text')
    .action(async (inputs: string[], f: EmbedFlags) => {
      const kinds = inputs.map((a) => (isImageArg(a) ? 'image' : 'text'));
      for (const a of inputs) {
        if (isImagePath(a) && !isImageArg(a)) console.error(`note: "${a}" is not an existing file: embedded as text`);
      }
      const images = inputs.filter((_, i) => kinds[i] === 'image');
      const texts = inputs.filter((_, i) => kinds[i] === 'text');
      // Only the towers that are needed (a ViT-L/14 vision tower alone is over 1 GB).
      const model = await loadClip(resolveModelPath(f.model), {
        batchSize: f.batchSize, threads: f.threads, towers: { vision: images.length > 0, text: texts.length > 0 },
      });
      try {
        if (model.isStandIn) console.error(`warning: ${model.id} is a STAND-IN CLIP (random weights): these embeddings carry no meaning`);
        const t0 = performance.now();
        // Each image is decoded on its own: an unreadable one gives an error entry, the rest are embedded.
        const loaded = await loadImages(images);
        const good = loaded.filter((r) => r.ok).map((r) => (r as { value: RawImage }).value);
        const imageRow = new Map<number, number>();
        const imageError = new Map<number, string>();
        loaded.forEach((r, j) => (r.ok ? imageRow.set(j, imageRow.size) : imageError.set(j, r.error.message)));
        const ie = good.length ? await model.embedImages(good) : new Float32Array();
        const t1 = performance.now();
        const te = texts.length ? (f.templates ? await embedWithTemplates(model, texts, IMAGENET_TEMPLATES) : await model.embedTexts(texts)) : new Float32Array();
        const t2 = performance.now();
        const D = model.dim;
        let ii = 0;
        let ti = 0;
        const embeddings = inputs.map((input, i) => {
          const src = kinds[i] === 'image' ? ie : te;
          const j = kinds[i] === 'image' ? ii++ : -1;
          if (j >= 0 && imageError.has(j)) return { input, kind: kinds[i], error: imageError.get(j) as string };
          const row = j >= 0 ? (imageRow.get(j) as number) : ti++;
          const v = src.subarray(row * D, (row + 1) * D);
          let ss = 0;
          for (const x of v) ss += x * x;
          const round = (x: number) => Number(x.toFixed(6));
          return {
            input, kind: kinds[i] === 'text' && f.templates ? 'text (80-template ensemble)' : kinds[i], dims: D, norm: round(Math.sqrt(ss)),
            values: Array.from(f.full ? v : v.subarray(0, f.values), round),
          };
        });
        const out = {
          model: model.id,
          standIn: model.isStandIn,
          ...(model.isStandIn ? { warning: 'stand-in CLIP: random weights, no semantics' } : {}),
          fingerprint: model.fingerprint,
          timing: {
            ...(good.length ? { imagesPerSecond: Number((good.length / ((t1 - t0) / 1000)).toFixed(2)) } : {}),
            ...(texts.length ? { textsPerSecond: Number((texts.length / ((t2 - t1) / 1000)).toFixed(2)) } : {}),
          },
          embeddings,
        };
        console.log(JSON.stringify(out, null, 2));
        if (imageError.size) {
          console.error(`v2l: ${imageError.size} of ${images.length} images could not be read (see their "error" entries)`);
          process.exitCode = 1;
        }
      } finally {
        await model.dispose();
      }
    });
}
