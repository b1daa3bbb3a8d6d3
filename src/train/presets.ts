// Training presets and recipes. `paper`: the paper's network at 128 px with the reference's optimiser and
// loss settings, trained as the reference really trains (k = 21 global tokens, 5 epochs of warm-up).
// `small`: a narrow network at 64 px with the paper's 16x16 local-token grid that trains on a 2-core
// machine in under 30 minutes, with the `robust` recipe (measures against codebook collapse). A recipe is
// a set of collapse measures applied on top of a preset; `reference` applies none. Every field has a CLI
// flag. docs/training.md gives the measurements behind the choices.
import { paperConfig, type V2LConfig } from '../network/config.js';
import type { PreprocessMode } from '../image/preprocess.js';
import type { LossConfig, OptimConfig } from './replica.js';

export interface Preset {
  name: string;
  description: string;
  imageSize: number;
  preprocess: PreprocessMode;
  batchSize: number;
  /** Images per forward/backward (0: the whole batch); gradients accumulate over them; bounds activation memory. */
  microBatch: number;
  network: V2LConfig;
  loss: LossConfig;
  /**
   * Optimiser settings; linear warm-up over `warmupEpochs` passes over the training data when given (the
   * reference's scheduler: 5 epochs of linear warm-up, then half-cycle cosine, per iteration), else over
   * `warmupFraction` of the schedule.
   */
  optim: Omit<OptimConfig, 'totalSteps' | 'warmupSteps'> & { warmupFraction: number; warmupEpochs?: number };
  /** The recipe used unless --recipe says otherwise. */
  recipe: string;
  steps: number;
  checkpointEvery: number;
  valEvery: number;
  /** Rows of the random (stand-in) codebooks used when no codebook package is given. */
  standInCodebookRows: { local: number; global: number };
}

const REFERENCE_OPTIM = { lr: 4.5e-4, discLr: 4.5e-4, beta1: 0.5, beta2: 0.9, eps: 1e-7, minLr: 0, clipGrad: 0, warmupFraction: 0.05 };
// kGlobal 21: the reference trains with `forward`'s default k = 21 (its training engine never passes k);
// 5 is the few-shot setting of the tasks.
const REFERENCE_LOSS: LossConfig = { recLoss: 'l1', codebookWeight: 1.0, perceptualWeight: 0.1, discWeight: 0.75, discStart: 10_000, discFactor: 1.0, kGlobal: 21 };

/** Measures against codebook collapse, applied on top of a preset. */
export interface Recipe {
  name: string;
  description: string;
  network: Partial<V2LConfig>;
  loss: Partial<LossConfig>;
  /**
   * Dead-code re-seeding: every `every` steps up to `untilFraction` of the run's steps (absent: off); codes
   * chosen fewer than `minUsage` times since the last re-seed count as dead (default 1); `targets`: where they
   * go (./reseed.ts: uniform, k-means++ `far` or cluster `split`); `images`: how many images' encoder outputs they
   * are drawn from (default: the batch).
   */
  reseed?: { every: number; untilFraction: number; kmeans?: boolean; minUsage?: number; targets?: 'uniform' | 'far' | 'split'; images?: number };
}

export const RECIPES: Record<string, () => Recipe> = {
  reference: () => ({
    name: 'reference',
    description: 'the reference exactly (VQ loss from step 0, cross-attention decoder, Euclidean codes): reproduces the paper\'s setting, and collapses at small scale',
    network: {},
    loss: {},
  }),
  robust: () => ({
    name: 'robust',
    description: 'decoder without cross-attention, cosine codes, plain-autoencoder warm-up, VQ loss delayed and without the projector term (commitment weight 3), rare codes re-seeded by splitting busy clusters with a k-means step, to the end of the run (docs/training.md)',
    network: { crossAttention: false, cosineCodes: true },
    // vqBeta 0: the projector is moved only by re-seeding, never by the coupled VQ gradient that collapses it.
    // codebookWeight 3 (the commitment term's weight): more tokens in use and a higher PSNR at equal steps
    // than 1 (the reference), 0.3 (the paper's beta) or 10 (docs/training.md, issue 16's comparison).
    loss: { aeWarmupSteps: 100, vqStartStep: 100, vqBeta: 0, codebookWeight: 3 },
    // To the end of the run: when re-seeding stopped at 90 % the tokens in use fell (306 -> 241). Codes chosen
    // fewer than 3 times in 25 steps count as dead; they go to half-cluster means drawn from 32 images.
    reseed: { every: 25, untilFraction: 1, kmeans: true, minUsage: 3, targets: 'split', images: 32 },
  }),
};

export function getRecipe(name: string): Recipe {
  const r = RECIPES[name];
  if (!r) throw new Error(`unknown recipe "${name}" (choose one of: ${Object.keys(RECIPES).join(', ')})`);
  return r();
}

export const PRESETS: Record<string, () => Preset> = {
  paper: () => ({
    name: 'paper',
    description: '128 px, the paper\'s widths (ch 128, ch_mult 1,2,2,4, z 256, embed 768), batch 8, reference optimiser and losses',
    imageSize: 128,
    preprocess: 'reference',
    batchSize: 8,
    // Graphs of 2 images: with the default lanes (--workers = the cores) two run at the same time on this
    // 2-core machine: 21.5 s/step, peak RSS 11.1 GB (graphs of 1: 24.9 s/step; Winograd's transformed
    // tensors make a graph of 2 larger than before). One lane: --workers 1 --micro-batch 4.
    microBatch: 2,
    network: paperConfig(),
    loss: { ...REFERENCE_LOSS },
    optim: { ...REFERENCE_OPTIM, warmupEpochs: 5 },
    recipe: 'reference',
    steps: 100_000,
    checkpointEvery: 1000,
    valEvery: 1000,
    standInCodebookRows: { local: 32000, global: 11908 },
  }),
  small: () => ({
    name: 'small',
    description: '64 px -> 16x16 local tokens (ch 32, ch_mult 1,1,2, z 64, 1 res block), batch 8, lr 1e-3, robust recipe, no GAN',
    imageSize: 64,
    preprocess: 'simple',
    batchSize: 8,
    microBatch: 0,
    network: {
      ch: 32, chMult: [1, 1, 2], numResBlocks: 1, resolution: 64, attnResolutions: [],
      inChannels: 3, outCh: 3, zChannels: 64, embedDim: 768, nLocal: 512, nGlobal: 256,
      crossAttnHeads: 8, crossAttnDimHead: 16, discLayers: 2, discNdf: 32,
    },
    // The GAN is off (disc start past the run): in runs this short it only adds noise.
    loss: { ...REFERENCE_LOSS, kGlobal: 5, discStart: 1_000_000 },
    optim: { ...REFERENCE_OPTIM, lr: 1e-3, discLr: 1e-3 },
    recipe: 'robust',
    steps: 600,
    checkpointEvery: 100,
    valEvery: 100,
    standInCodebookRows: { local: 512, global: 256 },
  }),
};

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (choose one of: ${Object.keys(PRESETS).join(', ')})`);
  return p();
}
