// Node edge of LPIPS: reading the linear heads (LPIPS release, `.pth` or the JSON form) and the
// user-supplied backbone weights (torchvision state dict as `.pth` or `.safetensors`).
import { readFileSync } from 'node:fs';
import type { HostTensor } from '../io/dtypes.js';
import { readSafetensors } from '../io/files.js';
import { readTensorDict } from './tensor-files.js';
import { Lpips, standInBackbone, type LpipsBackbone } from './lpips.js';

/** LPIPS heads from `<name>.json` ({key: {shape, data}}) or `<name>.pth`. */
export async function readLpipsHeads(path: string): Promise<Map<string, HostTensor>> {
  if (path.endsWith('.json')) {
    let obj: Record<string, { shape: number[]; data: number[] }>;
    try {
      obj = JSON.parse(readFileSync(path, 'utf8')) as typeof obj;
    } catch (e) {
      throw new Error(`cannot read LPIPS heads ${path}: ${(e as Error).message}`);
    }
    const out = new Map<string, HostTensor>();
    for (const [k, v] of Object.entries(obj)) {
      if (!v || !Array.isArray(v.shape) || !Array.isArray(v.data)) throw new Error(`${path}: entry "${k}" is not {shape, data}`);
      out.set(k, { dtype: 'F32', shape: v.shape, data: Float32Array.from(v.data) });
    }
    return out;
  }
  return readTensorDict(path);
}

/** Backbone weights: a torchvision state dict as `.safetensors` or `.pth`. */
export async function readBackboneWeights(path: string): Promise<Map<string, HostTensor>> {
  if (path.endsWith('.safetensors')) return readSafetensors(path).tensors;
  return readTensorDict(path);
}

/** The LPIPS v0.1 heads shipped in ../shared (JSON form), if present. */
export function sharedLpipsHeadsPath(backbone: LpipsBackbone): URL {
  return new URL(`../../../shared/models/lpips/v0.1_json/${backbone}.json`, import.meta.url);
}

export interface LoadLpipsOptions {
  backbone: LpipsBackbone;
  /** torchvision backbone weights; 'stand-in' builds the random STAND-IN backbone (tests, demos). */
  backboneWeights: string;
  /** LPIPS heads file (.json or .pth). */
  heads: string;
  seed?: number;
}

export async function loadLpips(o: LoadLpipsOptions): Promise<Lpips> {
  const heads = await readLpipsHeads(o.heads);
  if (o.backboneWeights === 'stand-in') {
    return new Lpips({ backbone: o.backbone, backboneWeights: standInBackbone(o.backbone, o.seed ?? 0), heads, standIn: true });
  }
  return new Lpips({ backbone: o.backbone, backboneWeights: await readBackboneWeights(o.backboneWeights), heads });
}
