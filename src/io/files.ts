// Node edge for tensor files: read and write safetensors, PyTorch .pth and NumPy .npy on disk (writes are
// atomic).
import { readFileSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from './safetensors.js';
import type { HostTensor } from './dtypes.js';
import { parsePth, pthTensor, type PthFile, type PthOptions } from './pth.js';
import { parseNpy, serializeNpy, serializeNpyStrings, type NpyArray } from './npy.js';
import { serializePth } from './pth-write.js';
import { writeFileAtomic } from '../util/atomic.js';

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readBytes(path), path);
}

/** Reads a torch.save file (zip or legacy), never executing its pickle; unwraps `state_dict`. */
export function readPth(path: string, opts: Omit<PthOptions, 'what'> = {}): PthFile {
  return parsePth(readBytes(path), { ...opts, what: path });
}

/** Reads a `.pth` that holds one tensor (`torch.save(tensor)`, as the official codebooks are). */
export function readPthTensor(path: string): HostTensor {
  return pthTensor(readPth(path), path);
}

/** Reads a `.npy`: numeric arrays as tensors, unicode/bytes/object-of-str arrays as strings. */
export function readNpy(path: string): NpyArray {
  return parseNpy(readBytes(path), path);
}

/** Reads a `.npy` of strings (e.g. the official `global_vocabulary.npy`), flattened in C order. */
export function readNpyStrings(path: string): string[] {
  const a = readNpy(path);
  if (a.kind !== 'strings') throw new Error(`${path}: holds a numeric array (${a.descr}), not strings`);
  return a.values;
}

export function writeNpy(path: string, tensor: HostTensor): void {
  writeFileAtomic(path, serializeNpy(tensor));
}

/** Writes strings as a NumPy unicode array (`np.load` reads it; see serializeNpyStrings). */
export function writeNpyStrings(path: string, values: readonly string[]): void {
  writeFileAtomic(path, serializeNpyStrings(values));
}

/** Writes a torch.save-compatible file: a bare tensor, or a state dict (wrapped as `{'state_dict': ...}` on request). */
export function writePth(path: string, tensors: Map<string, HostTensor> | HostTensor, opts: { wrapStateDict?: boolean } = {}): void {
  writeFileAtomic(path, serializePth(tensors, opts));
}

export function writeSafetensors(path: string, tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
