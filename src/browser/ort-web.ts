// The tokenizer network's ONNX runtime in a browser: onnxruntime-web (the build @huggingface/transformers
// also uses, so CLIP and the tokenizer share one wasm instance and one thread pool). wasm with SIMD, and
// threads when the page is cross-origin isolated (COOP/COEP headers; SharedArrayBuffer exists only then);
// WebGPU when asked for and an adapter exists. The engine itself is ../tokenizer/onnx-engine.ts.
import * as ort from 'onnxruntime-web/webgpu';
import type { OrtRuntime, OrtSession } from '../tokenizer/onnx-engine.js';

/** The runtime's files, served beside the page (copied by scripts/build-web.mjs from onnxruntime-web/dist). */
export const ORT_ASSETS = { mjs: 'ort-wasm-simd-threaded.asyncify.mjs', wasm: 'ort-wasm-simd-threaded.asyncify.wasm' } as const;

export type WebDevice = 'wasm' | 'webgpu';

/** Threads wasm can use here: the cores when cross-origin isolated, else 1 (no SharedArrayBuffer). */
export function webThreads(): number {
  return globalThis.crossOriginIsolated ? Math.max(1, Math.min(16, navigator.hardwareConcurrency || 1)) : 1;
}

/** Whether WebGPU can run here (an adapter is granted). */
export async function webgpuAvailable(): Promise<boolean> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return Boolean(await gpu.requestAdapter());
  } catch {
    return false;
  }
}

let configured: { threads: number } | null = null;

/**
 * Points onnxruntime-web at its files under `assetsUrl` (never a CDN) and sets the thread count, once,
 * before the first session (onnxruntime-web reads both when it starts its wasm).
 */
export function configureOrt(assetsUrl: string, threads = webThreads()): { threads: number } {
  if (configured) return configured;
  ort.env.wasm.wasmPaths = { mjs: new URL(ORT_ASSETS.mjs, assetsUrl).href, wasm: new URL(ORT_ASSETS.wasm, assetsUrl).href };
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  configured = { threads };
  return configured;
}

/** onnxruntime-web as the engine's runtime (configureOrt first). */
export function webRuntime(device: WebDevice = 'wasm'): OrtRuntime {
  if (!configured) throw new Error('onnxruntime-web is not configured: call configureOrt(assetsUrl) first');
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
  };
  return {
    device,
    threads: configured.threads,
    async createSession(model: Uint8Array | string): Promise<OrtSession> {
      if (typeof model === 'string') throw new Error('in a browser the ONNX models are given as bytes, not paths');
      return await ort.InferenceSession.create(model, options) as unknown as OrtSession;
    },
    tensor: ((type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => new ort.Tensor(type, data, dims)) as OrtRuntime['tensor'],
  };
}
