// Registers the project's kernels. Portable: only tfjs-core and its registry.
//
// For wasm, the kernels a backward pass needs that the backend lacks (found by running tf.grad through
// conv2d, matMul, gather, norms, activations, pad and upsampling on wasm) and the fast paths that
// replace slow built-in kernels (matMul, conv input gradient, tile). For every backend, a Tile gradient that works at any rank and a matMul
// gradient that handles broadcast batch dimensions.
import * as tf from '@tensorflow/tfjs-core';
import { BatchMatMul, Conv2DBackpropInput, Tile } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { batchMatMulOverride } from './batch_matmul.js';
import { conv2dBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { conv2dBackpropInputOverride } from './conv2d_backprop_input.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise_backprop.js';
import { batchMatMulGradConfig } from './matmul_grad.js';
import { tileOverride } from './tile.js';
import { tileGradConfig } from './tile_grad.js';
import { unsortedSegmentSumConfig } from './unsorted_segment_sum.js';

export { setFastPaths, fastPathsEnabled } from './fast_paths.js';

/** Kernels added where a backend lacks them (an existing registration is left alone). */
const MISSING: Record<string, Array<(backend: string) => KernelConfig>> = {
  wasm: [conv2dBackpropFilterConfig, unsortedSegmentSumConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig],
};

/** Built-in kernels replaced by a faster composition; the original stays callable. */
const OVERRIDES: Record<string, Array<[string, (original: KernelConfig) => KernelConfig]>> = {
  wasm: [
    [BatchMatMul, batchMatMulOverride],
    [Conv2DBackpropInput, conv2dBackpropInputOverride],
    [Tile, tileOverride],
  ],
};

const originals = new Map<string, KernelConfig>(); // `${backend}/${kernel}` -> built-in config
const done = new Set<string>();
let gradientsDone = false;

export interface RegisteredKernels {
  added: string[];
  overridden: string[];
}

/**
 * Registers the project's kernels for `backendName` (idempotent). Call before the backend runs ops,
 * or at any time after: kernels are looked up by name on every op.
 */
export function registerEngineKernels(backendName: string): RegisteredKernels {
  if (!gradientsDone) {
    tf.registerGradient(tileGradConfig);
    const coreMatMulGrad = tf.getGradient(BatchMatMul);
    if (coreMatMulGrad) tf.registerGradient(batchMatMulGradConfig(coreMatMulGrad));
    gradientsDone = true;
  }
  const result: RegisteredKernels = { added: [], overridden: [] };
  if (done.has(backendName)) return registeredKernels(backendName);
  for (const make of MISSING[backendName] ?? []) {
    const config = make(backendName);
    if (tf.getKernel(config.kernelName, backendName) != null) continue;
    tf.registerKernel(config);
    result.added.push(config.kernelName);
  }
  for (const [kernelName, override] of OVERRIDES[backendName] ?? []) {
    const original = tf.getKernel(kernelName, backendName);
    if (original == null) continue;
    originals.set(`${backendName}/${kernelName}`, original);
    tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel(override(original));
    result.overridden.push(kernelName);
  }
  done.add(backendName);
  registered.set(backendName, result);
  return result;
}

const registered = new Map<string, RegisteredKernels>();

/** What registerEngineKernels did for a backend (empty if it has not run). */
export function registeredKernels(backendName: string): RegisteredKernels {
  const r = registered.get(backendName);
  return r ? { added: [...r.added], overridden: [...r.overridden] } : { added: [], overridden: [] };
}

/** The backend's own kernel that an override replaced, e.g. to benchmark it. */
export function originalKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  return originals.get(`${backendName}/${kernelName}`);
}
