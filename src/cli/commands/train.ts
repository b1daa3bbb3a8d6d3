// `v2l train` (training the tokenizer network, src/train/) and `v2l plot <out>` (its loss curves).
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { train } from '../../train/loop.js';
import { readMetrics } from '../../train/metrics.js';
import { plotLossCurves } from '../../train/plot.js';
import { PRESETS, RECIPES } from '../../train/presets.js';
import { prepareTraining, type TrainSettings } from '../../train/setup.js';
import { createProgress } from '../progress.js';
import { collect, int, intList, num, oneOf } from '../options.js';

interface Flags {
  preset: string;
  recipe?: string;
  crossAttention?: boolean;
  cosineCodes?: boolean;
  aeWarmup?: number;
  vqStart?: number;
  reseedEvery?: number;
  reseedUntil?: number;
  reseedKmeans?: boolean;
  reseedMinUsage?: number;
  reseedTargets?: 'uniform' | 'far' | 'split';
  reseedImages?: number;
  warmupEpochs?: number;
  data: string[];
  valData?: string[];
  valFraction?: number;
  valImages?: number;
  out: string;
  steps?: number;
  scheduleSteps?: number;
  stopAfter?: number;
  batchSize?: number;
  microBatch?: number;
  checkpointActivations?: boolean;
  imageSize?: number;
  preprocess?: 'simple' | 'reference';
  seed?: number;
  ch?: number;
  chMult?: number[];
  numResBlocks?: number;
  zChannels?: number;
  attnResolutions?: number[];
  resolution?: number;
  crossAttnHeads?: number;
  crossAttnDimHead?: number;
  discLayers?: number;
  discNdf?: number;
  localRows?: number;
  globalRows?: number;
  globalTokens?: number;
  recLoss?: 'l1' | 'l2';
  codebookWeight?: number;
  usageWeight?: number;
  usageTemperature?: number;
  vqBeta?: number;
  perceptualWeight?: number;
  discWeight?: number;
  discStart?: number;
  discFactor?: number;
  lr?: number;
  discLr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  warmupSteps?: number;
  minLr?: number;
  clipGrad?: number;
  checkpointEvery?: number;
  keepLast?: number;
  valEvery?: number;
  workers?: number;
  engine?: 'tfjs' | 'onnx';
  device?: 'cpu' | 'cuda';
  engineThreads?: number;
  clip?: string;
  clipCache?: string;
  codebook?: string;
  lpips?: string;
  lpipsBackbone?: 'vgg' | 'alex';
  lpipsHeads?: string;
  resume?: string | true;
  prefetch?: number;
  quiet?: boolean;
  profileLoop?: boolean;
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train the V2L tokenizer network (encoder, projector, decoder; codebooks and CLIP frozen) on images')
    .option('--preset <name>', `starting settings: ${Object.entries(PRESETS).map(([k, p]) => `${k} (${p().description})`).join('; ')}`, 'small')
    .option('--recipe <name>', `collapse measures on top of the preset (default: the preset's): ${Object.entries(RECIPES).map(([k, r]) => `${k} (${r().description})`).join('; ')}`)
    .option('--cross-attention', 'decoder mid-block cross-attention to the global tokens (the reference)')
    .option('--no-cross-attention', 'decoder without cross-attention: what the reference\'s use_crossatt_dec=0 intends (robust recipe)')
    .option('--cosine-codes', 'L2-normalised projected codes: nearest by cosine (robust recipe)')
    .option('--no-cosine-codes', 'Euclidean codes as the reference')
    .option('--ae-warmup <steps>', 'steps decoding the unquantised z (plain-autoencoder warm-up) before quantisation', int('ae-warmup', 0))
    .option('--vq-start <step>', 'first step with the VQ loss (weight 0 before)', int('vq-start', 0))
    .option('--reseed-every <n>', 'every n steps, move codes unused since the last re-seed onto encoder outputs (0: off)', int('reseed-every', 0))
    .option('--reseed-until <step>', 'last step with re-seeding', int('reseed-until', 0))
    .option('--reseed-kmeans', 'at each re-seed also move every live code to the mean of the encoder outputs it was chosen for (one k-means step)')
    .option('--no-reseed-kmeans', 'move only the dead codes')
    .option('--reseed-min-usage <n>', 'a code chosen fewer than n times since the last re-seed counts as dead (default 1)', int('reseed-min-usage', 1))
    .option('--reseed-targets <kind>', 'where dead codes go: uniform (random encoder outputs) | far (k-means++: outputs far from every live code) | split (the mean of one half of a live code cluster, split along its principal direction)', oneOf('reseed-targets', ['uniform', 'far', 'split'] as const))
    .option('--reseed-images <n>', 'images whose encoder outputs re-seeding draws targets from: the batch and training images drawn by (seed, step) (default: the batch)', int('reseed-images', 1))
    .option('--data <path>', 'training images: a folder (recursive) or a list file of paths; repeatable', collect, [])
    .option('--val-data <path>', 'validation images (folder or list file; repeatable); default: a seeded split of --data', collect)
    .option('--val-fraction <f>', 'share of --data held out for validation when --val-data is absent (default 0.02)', num('val-fraction'))
    .option('--val-images <n>', 'validation images scored at each validation (default 64)', int('val-images', 1))
    .requiredOption('--out <dir>', 'run folder: checkpoints/, metrics.jsonl, loss-curves.png, samples/')
    .option('--steps <n>', 'train until this many steps are done', int('steps', 1))
    .option('--schedule-steps <n>', 'length of the warm-up + cosine schedule (default: the larger of --steps and the preset\'s steps)', int('schedule-steps', 1))
    .option('--stop-after <n>', 'stop with a checkpoint after n steps (continue later with --resume)', int('stop-after', 1))
    .option('--batch-size <n>', 'images per step', int('batch-size', 1))
    .option('--micro-batch <n>', 'images per graph (one forward/backward), gradients accumulated: bounds memory, each lane holds one graph at a time (default: the preset\'s; 0: the batch cut into one micro-batch per lane)', int('micro-batch', 0))
    .option('--checkpoint-activations', 'refused: it belonged to the tfjs trainer of earlier versions (bound memory with --micro-batch)')
    .option('--no-checkpoint-activations', 'accepted, no effect (onnxruntime keeps the intermediates its graph needs)')
    .option('--image-size <px>', 'training resolution', int('image-size', 8))
    .option('--preprocess <mode>', 'simple (short side, centre crop) | reference (CLIP 224 crop, then bilinear)', oneOf('preprocess', ['simple', 'reference'] as const))
    .option('--seed <n>', 'seed of initialisation, data order and validation split (default 0)', int('seed', 0))
    .option('--ch <n>', 'network base width', int('ch', 1))
    .option('--ch-mult <list>', 'width multipliers per level, e.g. 1,2,2,4', intList('ch-mult'))
    .option('--num-res-blocks <n>', 'ResnetBlocks per encoder level', int('num-res-blocks', 1))
    .option('--z-channels <n>', 'encoder output channels', int('z-channels', 1))
    .option('--attn-resolutions <list>', 'resolutions with self-attention blocks', intList('attn-resolutions'))
    .option('--resolution <px>', 'the reference\'s `resolution`: with --attn-resolutions, where self-attention blocks sit', int('resolution', 1))
    .option('--cross-attn-heads <n>', 'decoder cross-attention heads (reference 8)', int('cross-attn-heads', 1))
    .option('--cross-attn-dim-head <n>', 'decoder cross-attention width per head', int('cross-attn-dim-head', 1))
    .option('--disc-layers <n>', 'PatchGAN conv layers', int('disc-layers', 1))
    .option('--disc-ndf <n>', 'PatchGAN base filters', int('disc-ndf', 1))
    .option('--local-rows <n>', 'rows of the random stand-in local codebook (without --codebook)', int('local-rows', 1))
    .option('--global-rows <n>', 'rows of the random stand-in global codebook (without --codebook)', int('global-rows', 1))
    .option('--global-tokens <k>', 'global tokens per image fed to the decoder (the reference trains with 21)', int('global-tokens', 1))
    .option('--rec-loss <kind>', 'l1 (reference) | l2 (paper)', oneOf('rec-loss', ['l1', 'l2'] as const))
    .option('--codebook-weight <w>', 'weight of the VQ loss (reference 1.0)', num('codebook-weight'))
    .option('--usage-weight <w>', 'weight of the code-usage entropy term (each output near one code, the batch over all codes; 0: off)', num('usage-weight'))
    .option('--usage-temperature <t>', 'temperature of its soft assignment, in squared-distance units', num('usage-temperature'))
    .option('--vq-beta <w>', 'weight of the VQ loss\'s codebook (projector) term (reference 0.33)', num('vq-beta'))
    .option('--perceptual-weight <w>', 'weight of LPIPS (reference 0.1)', num('perceptual-weight'))
    .option('--disc-weight <w>', 'factor on the adaptive GAN weight (reference 0.75)', num('disc-weight'))
    .option('--disc-start <step>', 'first step with the GAN terms (reference 10000)', int('disc-start', 0))
    .option('--disc-factor <f>', 'GAN factor once started (reference 1.0)', num('disc-factor'))
    .option('--lr <lr>', 'peak learning rate (reference 4.5e-4)', num('lr'))
    .option('--disc-lr <lr>', 'discriminator peak learning rate', num('disc-lr'))
    .option('--beta1 <b>', 'Adam beta1 (reference 0.5)', num('beta1'))
    .option('--beta2 <b>', 'Adam beta2 (reference 0.9)', num('beta2'))
    .option('--eps <e>', 'Adam eps (reference 1e-7)', num('eps'))
    .option('--warmup-steps <n>', 'linear warm-up steps (default: the preset\'s: paper 5 epochs of the data as the reference, small 5% of the schedule)', int('warmup-steps', 0))
    .option('--warmup-epochs <n>', 'linear warm-up over n passes over the training data', num('warmup-epochs'))
    .option('--min-lr <lr>', 'floor of the cosine decay (default 0)', num('min-lr'))
    .option('--clip-grad <norm>', 'clip each optimiser\'s global gradient norm (0: off)', num('clip-grad'))
    .option('--checkpoint-every <n>', 'checkpoint interval in steps', int('checkpoint-every', 0))
    .option('--keep-last <k>', 'checkpoints kept (default 3; 0 keeps all)', int('keep-last', 0))
    .option('--val-every <n>', 'validation interval in steps (0: never)', int('val-every', 0))
    .option('--workers <n>', 'data-parallel lanes: the batch\'s micro-batches (--micro-batch images each, else one per lane) trained n at a time, each lane on its own onnxruntime sessions (worker threads) with engine-threads / n intra-op threads; like one replica per GPU under DDP, each micro-batch has its own BatchNorm statistics (default: the engine threads on CPU, 1 with --device cuda)', int('workers', 1))
    .option('--engine <name>', 'onnx (onnxruntime, gradient graphs emitted from the network; the only engine: tfjs is refused)', oneOf('engine', ['tfjs', 'onnx'] as const))
    .option('--device <name>', 'cpu | cuda (needs onnxruntime-node\'s CUDA provider)', oneOf('device', ['cpu', 'cuda'] as const))
    .option('--engine-threads <n>', 'onnxruntime intra-op threads (default: all cores)', int('engine-threads', 1))
    .option('--clip <dir>', 'CLIP model folder (Hugging Face ONNX layout) for the global tokens, or "stand-in" (default: the generated stand-in)')
    .option('--clip-cache <dir>', 'where CLIP image embeddings are cached (default: the --codebook build\'s cache, <codebook>/cache, so its images are not embedded again; else <out>/clip-cache)')
    .option('--codebook <dir>', 'codebook package (v2l codebook build); default: random stand-in codebooks')
    .option('--lpips <file>', 'LPIPS backbone weights (torchvision vgg16/alexnet state dict, .pth or .safetensors), or "stand-in"; default: no perceptual loss')
    .option('--lpips-backbone <name>', 'vgg | alex (default vgg)', oneOf('lpips-backbone', ['vgg', 'alex'] as const))
    .option('--lpips-heads <file>', 'LPIPS v0.1 linear heads (.pth or .json)')
    .option('--resume [checkpoint]', 'continue from a checkpoint file, or from the newest in --out')
    .option('--prefetch <n>', 'batches decoded ahead (default 2)', int('prefetch', 0))
    .option('--profile-loop', 'at the end, print where the wall time went: seconds per phase (step, data, re-seeding, validation, checkpoints)')
    .option('--quiet', 'no progress output')
    .action(async (f: Flags) => {
      const settings: TrainSettings = {
        preset: f.preset, recipe: f.recipe, reseedEvery: f.reseedEvery, reseedUntil: f.reseedUntil, reseedKmeans: f.reseedKmeans, reseedMinUsage: f.reseedMinUsage, reseedTargets: f.reseedTargets, reseedImages: f.reseedImages, warmupEpochs: f.warmupEpochs, data: f.data, valData: f.valData, valFraction: f.valFraction, valImages: f.valImages, out: f.out,
        steps: f.steps, scheduleSteps: f.scheduleSteps, stopAfter: f.stopAfter, batchSize: f.batchSize, microBatch: f.microBatch, checkpointActivations: f.checkpointActivations, imageSize: f.imageSize, preprocess: f.preprocess, seed: f.seed,
        network: defined({ ch: f.ch, chMult: f.chMult, numResBlocks: f.numResBlocks, zChannels: f.zChannels, attnResolutions: f.attnResolutions, resolution: f.resolution, crossAttnHeads: f.crossAttnHeads, crossAttnDimHead: f.crossAttnDimHead, discLayers: f.discLayers, discNdf: f.discNdf, nLocal: f.localRows, nGlobal: f.globalRows, crossAttention: f.crossAttention, cosineCodes: f.cosineCodes }),
        loss: defined({ recLoss: f.recLoss, codebookWeight: f.codebookWeight, vqBeta: f.vqBeta, perceptualWeight: f.perceptualWeight, discWeight: f.discWeight, discStart: f.discStart, discFactor: f.discFactor, kGlobal: f.globalTokens, aeWarmupSteps: f.aeWarmup, vqStartStep: f.vqStart, usageWeight: f.usageWeight, usageTemperature: f.usageTemperature }),
        optim: defined({ lr: f.lr, discLr: f.discLr, beta1: f.beta1, beta2: f.beta2, eps: f.eps, warmupSteps: f.warmupSteps, minLr: f.minLr, clipGrad: f.clipGrad }),
        checkpointEvery: f.checkpointEvery, keepLast: f.keepLast, valEvery: f.valEvery, workers: f.workers, engine: f.engine, device: f.device, engineThreads: f.engineThreads,
        clip: f.clip, clipCache: f.clipCache, codebook: f.codebook, lpips: f.lpips, lpipsBackbone: f.lpipsBackbone, lpipsHeads: f.lpipsHeads,
        resume: f.resume, prefetch: f.prefetch,
      };
      const say = (l: string) => { if (!f.quiet) process.stderr.write(l + '\n'); };
      const run = await prepareTraining(settings);
      for (const n of run.notes) say(n);
      say(`engine: onnxruntime (${run.options.device ?? 'cpu'}); steps: ${run.options.steps}; batch: ${run.options.batchSize}; ${run.options.imageSize} px`);
      let stop = false;
      const onSignal = () => {
        if (stop) process.exit(130);
        stop = true;
        say('\nstopping after this step (checkpoint follows); press Ctrl-C again to abort at once');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const r = await train({ ...run.options, profileLoop: f.profileLoop === true, progress: createProgress({ quiet: f.quiet }), log: say, shouldStop: () => stop });
        const v = r.firstValRecLoss !== null && r.lastValRecLoss !== null ? `; val_rec_loss ${r.firstValRecLoss.toFixed(4)} -> ${r.lastValRecLoss.toFixed(4)}` : '';
        const lv = r.lastValidation;
        const fig = lv ? `validation (step ${lv.step}): PSNR ${lv.psnr.toFixed(2)} dB vs ${r.collapsedPsnr?.toFixed(2)} dB for the collapsed model (mean image); ${lv.codesUsed} distinct local tokens of ${run.options.network.nLocal} used (perplexity ${lv.perplexity.toFixed(1)})\n` : '';
        process.stdout.write(`trained to step ${r.step} (${r.imagesPerSecond.toFixed(2)} images/s)${v}\n${fig}checkpoint: ${r.checkpoint}\nloss curves: ${r.curves}\n`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await run.clip.dispose();
      }
    });

  program
    .command('plot <out>')
    .description('draw the loss curves of a training run (<out>/metrics.jsonl) as <out>/loss-curves.png')
    .option('--output <png>', 'where to write the PNG (default <out>/loss-curves.png)')
    .action(async (out: string, f: { output?: string }) => {
      const path = f.output ?? join(out, 'loss-curves.png');
      const records = readMetrics(join(out, 'metrics.jsonl'));
      if (!records.length) throw new Error(`${join(out, 'metrics.jsonl')} has no records`);
      await plotLossCurves(records, path, `v2l train (${resolve(out)})`);
      process.stdout.write(`${path}\n`);
    });
}
