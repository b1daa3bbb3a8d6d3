// The tokenizer network's ONNX runtime in a browser: onnxruntime-web, on the build
// @huggingface/transformers imports (`onnxruntime-web/webgpu`, the asyncify build: wasm and WebGPU), so CLIP
// and the tokenizer share one wasm instance and one thread pool. Its plain SIMD-threaded build
// (`onnxruntime-web/wasm`) can run the wasm device too, for comparison only: `npm run bench -- browser
// --compare-builds` found it no faster on the paper network (the asyncify instrumentation costs nothing
// measurable there; the gap to Node is in the wasm kernels themselves, README). wasm: SIMD, and threads
// when the page is cross-origin isolated (COOP/COEP headers; SharedArrayBuffer exists only then); WebGPU
// when asked for and an adapter exists. The engine itself is ../tokenizer/onnx-engine.ts.
import * as ortWasm from 'onnxruntime-web/wasm';
import * as ortAsyncify from 'onnxruntime-web/webgpu';
import type { OrtRuntime, OrtSession } from '../tokenizer/onnx-engine.js';
import { inlineExternalData } from '../onnx/external-data.js';

/** The builds' files, served beside the page (copied by scripts/build-web.mjs from onnxruntime-web/dist). */
export const ORT_ASSETS = {
  plain: { mjs: 'ort-wasm-simd-threaded.mjs', wasm: 'ort-wasm-simd-threaded.wasm' },
  asyncify: { mjs: 'ort-wasm-simd-threaded.asyncify.mjs', wasm: 'ort-wasm-simd-threaded.asyncify.wasm' },
} as const;

export type WebDevice = 'wasm' | 'webgpu';
/** Which onnxruntime-web build runs a session: the asyncify one (the page's: WebGPU's, CLIP's), or the plain wasm one (benchmark). */
export type OrtBuild = keyof typeof ORT_ASSETS;

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

const modules = { plain: ortWasm, asyncify: ortAsyncify } as const;

/**
 * Points both onnxruntime-web builds at their files under `assetsUrl` (never a CDN; the static build ships
 * the asyncify one's) and sets the thread count, once, before the first session (onnxruntime-web reads
 * both when it starts its wasm).
 */
export function configureOrt(assetsUrl: string, threads = webThreads()): { threads: number } {
  if (configured) return configured;
  for (const build of Object.keys(modules) as OrtBuild[]) {
    const { env } = modules[build];
    env.wasm.wasmPaths = { mjs: new URL(ORT_ASSETS[build].mjs, assetsUrl).href, wasm: new URL(ORT_ASSETS[build].wasm, assetsUrl).href };
    env.wasm.numThreads = threads;
    env.wasm.proxy = false;
  }
  configured = { threads };
  return configured;
}

/**
 * onnxruntime-web as the engine's runtime (configureOrt first), on the asyncify build (`build: 'plain'`
 * runs wasm on the plain build instead: the browser benchmark compares them).
 */
export function webRuntime(device: WebDevice = 'wasm', build: OrtBuild = 'asyncify', opts: { profiling?: boolean } = {}): OrtRuntime {
  if (!configured) throw new Error('onnxruntime-web is not configured: call configureOrt(assetsUrl) first');
  if (device === 'webgpu' && build !== 'asyncify') throw new Error('WebGPU runs only on the asyncify build of onnxruntime-web');
  const ort = modules[build];
  const options: ortWasm.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    // onnxruntime's per-node profile (the browser benchmark's --profile); in wasm it is printed to the console.
    enableProfiling: opts.profiling === true,
  };
  return {
    device,
    threads: configured.threads,
    async createSession(model: Uint8Array | string, opts: { externalData?: { path: string; data: Uint8Array }[] } = {}): Promise<OrtSession> {
      if (typeof model === 'string') throw new Error('in a browser the ONNX models are given as bytes, not paths');
      // External data inlined here: the asyncify build refuses the `externalData` option ("Module.MountedFiles is not available").
      return await ort.InferenceSession.create(opts.externalData ? inlineExternalData(model, opts.externalData) : model, options) as unknown as OrtSession;
    },
    tensor: ((type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => new ort.Tensor(type, data, dims)) as OrtRuntime['tensor'],
  };
}
