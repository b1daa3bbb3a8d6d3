// Reading tokenizer weights from disk, whatever wrote them (Node edge):
// - the project's layout: a safetensors file whose keys are the reference state-dict names and whose
//   metadata carries the network configuration (`config`, as V2LConfig JSON or the reference's ddconfig
//   JSON) — written by `v2l import-official`, and by `v2l train` (training checkpoints also hold
//   optimiser tensors under `optimizer.`, skipped here);
// - the official PyTorch checkpoint (`checkpoints/v2l-decode.pth`, `{'state_dict': ...}`), which has no
//   configuration: the paper's is assumed.
import { extname } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { readPth, readSafetensors } from '../io/files.js';
import { configFromReference, paperConfig, validateConfig, type V2LConfig } from '../network/config.js';

export const TOKENIZER_FORMAT = 'v2l-tokenizer/1';

export interface TokenizerWeights {
  path: string;
  source: 'safetensors' | 'pth';
  /** Network parameters and buffers under the reference names. */
  stateDict: Map<string, HostTensor>;
  config: V2LConfig;
  /** Image side the network was trained at, when the file says. */
  imageSize?: number;
  /** Keys that belong to neither the network nor its training state (reported, not loaded). */
  foreign: string[];
}

/** Top-level modules of the reference VQModel_LLaMA that are not part of the tokenizer network here. */
export const FOREIGN_PREFIXES = ['loss.', 'perceptual_loss.', 'lpips.', 'clip.', 'global_encoder.', 'clip_model.', 'optimizer.'];

function parseConfig(text: string, path: string): V2LConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: metadata "config" is not JSON (${(e as Error).message})`);
  }
  // Our own V2LConfig (camelCase) or the reference's ddconfig (snake_case).
  if ('chMult' in raw) return validateConfig(raw as unknown as V2LConfig);
  return configFromReference(raw);
}

export function readTokenizerWeights(path: string): TokenizerWeights {
  const ext = extname(path).toLowerCase();
  if (ext === '.pth' || ext === '.pt' || ext === '.ckpt' || ext === '.bin') {
    const f = readPth(path);
    const stateDict = new Map<string, HostTensor>();
    const foreign: string[] = [];
    for (const [k, t] of f.tensors) {
      // Lightning-style checkpoints prefix every key with "model."; the reference does not, but be kind.
      const key = k.startsWith('model.') && !f.tensors.has(k.slice(6)) ? k.slice(6) : k;
      if (FOREIGN_PREFIXES.some((p) => key.startsWith(p))) foreign.push(key);
      else stateDict.set(key, t);
    }
    return { path, source: 'pth', stateDict, config: paperConfig(), foreign };
  }
  const f = readSafetensors(path);
  const stateDict = new Map<string, HostTensor>();
  const foreign: string[] = [];
  for (const [k, t] of f.tensors) {
    if (k.startsWith('optimizer.')) continue;
    if (FOREIGN_PREFIXES.some((p) => k.startsWith(p))) foreign.push(k);
    else stateDict.set(k, t);
  }
  const config = f.metadata.config ? parseConfig(f.metadata.config, path) : paperConfig();
  let imageSize: number | undefined = f.metadata.image_size ? Number(f.metadata.image_size) : undefined;
  if (imageSize === undefined && f.metadata.train) {
    try {
      const t = JSON.parse(f.metadata.train) as { imageSize?: number };
      if (typeof t.imageSize === 'number') imageSize = t.imageSize;
    } catch {
      // training state is informative only here
    }
  }
  return { path, source: 'safetensors', stateDict, config, imageSize, foreign };
}
