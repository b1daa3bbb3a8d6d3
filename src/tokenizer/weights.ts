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

/**
 * The newest version of the weights-file metadata this v2l reads (the number after the "/" of `format`:
 * 'v2l-tokenizer/1', 'v2l-train-checkpoint/1'). A file from a newer v2l is refused on load.
 */
export const WEIGHTS_METADATA_VERSION = 1;

/**
 * What a weights file says about itself (safetensors `__metadata__`), written by `v2l train` and
 * `v2l import-official`, read by the tokenizer: one type, one writer (`weightsMetadata`), one reader
 * (`readWeightsMetadata`).
 */
export interface WeightsMetadata {
  /** 'v2l-tokenizer/<version>' (import-official) or 'v2l-train-checkpoint/<version>' (train). */
  format: string;
  config: V2LConfig;
  /** Image side the network was trained at. */
  imageSize?: number;
  /** Global tokens per image the decoder was trained with (the training's kGlobal). */
  globalTokens?: number;
  /** 'official', 'train', ... */
  source?: string;
}

/** The metadata strings of a weights file (the writer; other keys, e.g. a checkpoint's step, are added by the caller). */
export function weightsMetadata(m: WeightsMetadata): Record<string, string> {
  return {
    format: m.format,
    config: JSON.stringify(m.config),
    ...(m.imageSize !== undefined ? { image_size: String(m.imageSize) } : {}),
    ...(m.globalTokens !== undefined ? { global_tokens: String(m.globalTokens) } : {}),
    ...(m.source !== undefined ? { source: m.source } : {}),
  };
}

/** The format's version ("v2l-tokenizer/1" -> 1); refuses a file written by a newer v2l. */
function checkFormat(format: string | undefined, path: string): void {
  if (format === undefined) return;
  const m = /^v2l-[a-z-]+\/(\d+)$/.exec(format);
  if (!m) return; // not ours (e.g. a plain safetensors export): the shapes are read instead
  if (Number(m[1]) > WEIGHTS_METADATA_VERSION) throw new Error(`${path}: metadata format "${format}" is newer than this v2l reads (version ${WEIGHTS_METADATA_VERSION}); upgrade v2l`);
}

function positiveInt(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * Reads a weights file's metadata: the configuration (JSON; the project's or the reference's names),
 * image size and global tokens (their own keys, else a training checkpoint's `train` state).
 */
export function readWeightsMetadata(metadata: Record<string, string>, path: string): Partial<WeightsMetadata> {
  checkFormat(metadata.format, path);
  let train: { imageSize?: unknown; loss?: { kGlobal?: unknown } } = {};
  try {
    train = metadata.train ? (JSON.parse(metadata.train) as typeof train) : {};
  } catch {
    // training state is informative only here
  }
  return {
    format: metadata.format,
    config: metadata.config ? parseConfig(metadata.config, path) : undefined,
    imageSize: positiveInt(metadata.image_size) ?? positiveInt(train.imageSize),
    globalTokens: positiveInt(metadata.global_tokens) ?? positiveInt(train.loss?.kGlobal),
    source: metadata.source,
  };
}

export interface TokenizerWeights {
  path: string;
  source: 'safetensors' | 'pth';
  /** Network parameters and buffers under the reference names. */
  stateDict: Map<string, HostTensor>;
  config: V2LConfig;
  /** Image side the network was trained at, when the file says. */
  imageSize?: number;
  /** Global tokens per image the network was trained with, when the file says. */
  globalTokens?: number;
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
    // `state_dict`: v2l-decode.pth and the reference's vqgan_checkpoint-<epoch>.pth; `model`: its
    // vqgan_checkpoint-last.pth (beside the optimisers' states, which are not the network).
    const f = readPth(path, { unwrap: ['state_dict', 'model'] });
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
  const meta = readWeightsMetadata(f.metadata, path);
  const { config, assumed } = meta.config ? { config: meta.config, assumed: [] } : inferred(path, stateDict, opts.config);
  return { path, source: 'safetensors', stateDict, config, imageSize: meta.imageSize, globalTokens: meta.globalTokens, foreign, assumed };
}
