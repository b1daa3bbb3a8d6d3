// Node edge for tensor files: read and write safetensors on disk (writes are atomic).
import { readFileSync } from 'node:fs';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from './safetensors.js';
import type { HostTensor } from './dtypes.js';
import { writeFileAtomic } from '../util/atomic.js';

export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseSafetensors(bytes, path);
}

export function writeSafetensors(path: string, tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
