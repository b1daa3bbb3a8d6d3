// Reads a dictionary of named tensors from a `.safetensors` or PyTorch `.pth` file (Node edge).
import { readFileSync } from 'node:fs';
import type { HostTensor } from '../io/dtypes.js';
import { readSafetensors } from '../io/files.js';
import { parsePth } from '../io/pth.js';

export function readTensorDict(path: string): Map<string, HostTensor> {
  if (path.endsWith('.safetensors')) return readSafetensors(path).tensors;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return parsePth(bytes).tensors;
  } catch (e) {
    throw new Error(`${path}: not a readable .pth or .safetensors tensor file (${(e as Error).message})`);
  }
}
