// Training presets. `paper`: the paper's network at 128 px with the reference's optimiser and loss
// settings. `small`: a narrow network at 32 px that trains on a 2-core machine in minutes (for trying the
// pipeline, new domains at small scale, and the project's own checks). Every field has a CLI flag.
import { paperConfig, type V2LConfig } from '../network/config.js';
import type { PreprocessMode } from '../image/preprocess.js';
import type { LossConfig, OptimConfig } from './replica.js';

export interface Preset {
  name: string;
  description: string;
  imageSize: number;
  preprocess: PreprocessMode;
  batchSize: number;
  /** Images per forward/backward inside one worker (0: all of its share); bounds activation memory. */
  microBatch: number;
  /** Gradient checkpointing of the network's blocks (recomputed in backward): less memory, one more forward. */
  checkpointActivations: boolean;
  network: V2LConfig;
  loss: LossConfig;
  /** Optimiser settings; `warmupFraction` of the run is linear warm-up (reference: 5 of 100 epochs). */
  optim: Omit<OptimConfig, 'totalSteps' | 'warmupSteps'> & { warmupFraction: number };
  steps: number;
  checkpointEvery: number;
  valEvery: number;
  /** Rows of the random (stand-in) codebooks used when no codebook package is given. */
  standInCodebookRows: { local: number; global: number };
}

const REFERENCE_OPTIM = { lr: 4.5e-4, discLr: 4.5e-4, beta1: 0.5, beta2: 0.9, eps: 1e-7, minLr: 0, clipGrad: 0, warmupFraction: 0.05 };
const REFERENCE_LOSS: LossConfig = { recLoss: 'l1', codebookWeight: 1.0, perceptualWeight: 0.1, discWeight: 0.75, discStart: 10_000, discFactor: 1.0, kGlobal: 5 };

export const PRESETS: Record<string, () => Preset> = {
  paper: () => ({
    name: 'paper',
    description: '128 px, the paper\'s widths (ch 128, ch_mult 1,2,2,4, z 256, embed 768), batch 8, reference optimiser and losses',
    imageSize: 128,
    preprocess: 'reference',
    batchSize: 8,
    // The wasm backend's heap is 4 GiB: with checkpointed blocks one 128 px image per forward/backward
    // peaks at 2.9 GiB of heap, two at 3.9 GiB (measured), so gradients accumulate over single images.
    microBatch: 1,
    checkpointActivations: true,
    network: paperConfig(),
    loss: { ...REFERENCE_LOSS },
    optim: { ...REFERENCE_OPTIM },
    steps: 100_000,
    checkpointEvery: 1000,
    valEvery: 1000,
    standInCodebookRows: { local: 32000, global: 11908 },
  }),
  small: () => ({
    name: 'small',
    description: '32 px, narrow widths (ch 32, ch_mult 1,2,2,4, z 64, 1 res block), batch 8, lr 1e-3, GAN from step 200',
    imageSize: 32,
    preprocess: 'simple',
    batchSize: 8,
    microBatch: 0,
    checkpointActivations: false,
    network: {
      ch: 32, chMult: [1, 2, 2, 4], numResBlocks: 1, resolution: 32, attnResolutions: [],
      inChannels: 3, outCh: 3, zChannels: 64, embedDim: 768, nLocal: 2048, nGlobal: 1024,
      crossAttnHeads: 8, crossAttnDimHead: 16, discLayers: 2, discNdf: 32,
    },
    loss: { ...REFERENCE_LOSS, discStart: 200 },
    optim: { ...REFERENCE_OPTIM, lr: 1e-3, discLr: 1e-3 },
    steps: 300,
    checkpointEvery: 50,
    valEvery: 50,
    standInCodebookRows: { local: 2048, global: 1024 },
  }),
};

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (choose one of: ${Object.keys(PRESETS).join(', ')})`);
  return p();
}
