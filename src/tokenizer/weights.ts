// Reading tokenizer weights from disk, whatever wrote them (Node edge):
// - the project's layout: a safetensors file whose keys are the reference state-dict names and whose
//   metadata carries the network configuration (`config`, as V2LConfig JSON or the reference's ddconfig
//   JSON) — written by `v2l import-official`, and by `v2l train` (training checkpoints also hold
//   optimiser tensors under `optimizer.`, skipped here);
// - any PyTorch checkpoint of the reference code (`checkpoints/v2l-decode.pth`, `{'state_dict': ...}`),
//   which has no configuration: it is read from the tensor shapes and key names (../network/config-infer.ts),
//   with `config` hints for what shapes leave open (e.g. `--config <json>`).
import { extname } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { readPth, readSafetensors } from '../io/files.js';
import { configFromReference, validateConfig, type V2LConfig } from '../network/config.js';
import { inferConfig, shapesOf } from '../network/config-infer.js';

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
  /** Configuration fields the file does not fix (read from shapes: defaults used, with why). */
  assumed: string[];
}

export interface ReadWeightsOptions {
  /**
   * Configuration fields to use where the file has no configuration (a `.pth`, or a safetensors without
   * metadata): they fill or override what the shapes leave open (cross-attention heads, resolution, ...).
   */
  config?: Partial<V2LConfig>;
}

/** A configuration hint from JSON: the project's V2LConfig fields, or the reference's ddconfig names. */
export function parseConfigHint(text: string): Partial<V2LConfig> {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const hint: Record<string, unknown> = {};
  const alias: Record<string, keyof V2LConfig> = {
    ch_mult: 'chMult', num_res_blocks: 'numResBlocks', attn_resolutions: 'attnResolutions', in_channels: 'inChannels',
    out_ch: 'outCh', z_channels: 'zChannels', embed_dim: 'embedDim', n_local: 'nLocal', n_global: 'nGlobal',
    heads: 'crossAttnHeads', dim_head: 'crossAttnDimHead',
  };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'cross_attention' && v && typeof v === 'object') {
      const ca = v as Record<string, unknown>;
      if (typeof ca.heads === 'number') hint.crossAttnHeads = ca.heads;
      if (typeof ca.dim_head === 'number') hint.crossAttnDimHead = ca.dim_head;
    } else hint[alias[k] ?? k] = v;
  }
  return hint as Partial<V2LConfig>;
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

function inferred(path: string, stateDict: Map<string, HostTensor>, hints: Partial<V2LConfig> | undefined): { config: V2LConfig; assumed: string[] } {
  try {
    return inferConfig(shapesOf(stateDict), hints);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

export function readTokenizerWeights(path: string, opts: ReadWeightsOptions = {}): TokenizerWeights {
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
    return { path, source: 'pth', stateDict, ...inferred(path, stateDict, opts.config), foreign };
  }
  const f = readSafetensors(path);
  const stateDict = new Map<string, HostTensor>();
  const foreign: string[] = [];
  for (const [k, t] of f.tensors) {
    if (k.startsWith('optimizer.')) continue;
    if (FOREIGN_PREFIXES.some((p) => k.startsWith(p))) foreign.push(k);
    else stateDict.set(k, t);
  }
  const { config, assumed } = f.metadata.config ? { config: parseConfig(f.metadata.config, path), assumed: [] } : inferred(path, stateDict, opts.config);
  let imageSize: number | undefined = f.metadata.image_size ? Number(f.metadata.image_size) : undefined;
  if (imageSize === undefined && f.metadata.train) {
    try {
      const t = JSON.parse(f.metadata.train) as { imageSize?: number };
      if (typeof t.imageSize === 'number') imageSize = t.imageSize;
    } catch {
      // training state is informative only here
    }
  }
  return { path, source: 'safetensors', stateDict, config, imageSize, foreign, assumed };
}
