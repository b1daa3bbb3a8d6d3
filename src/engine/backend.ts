// Choosing the tensor backend (Node edge). Only entry points (the CLI, benchmarks, tests) choose it,
// with `initBackend()`; library code imports only @tensorflow/tfjs-core, never switches the backend, and
// calls `requireBackend()` to refuse clearly when none was chosen.
//
// Order: an explicit name, else the CLI's --backend (`chooseBackend`), else the environment variable
// V2L_BACKEND, else 'tensorflow' when @tensorflow/tfjs-node happens to be installed, else 'wasm', which
// works everywhere. 'cpu' is the pure-JS reference backend (slow; the tests' yardstick).
//
// '@tensorflow/tfjs' is imported (on the first initBackend, not at import: `v2l --help` stays fast) for
// its side effects: tfjs-core's Node bundle registers no gradients and no chained tensor methods
// (x.reshape(...)); the tfjs union package registers both, on the same tfjs-core instance, plus the cpu
// backend. @tensorflow/tfjs-backend-wasm registers the wasm backend.
import * as tf from '@tensorflow/tfjs-core';
import { registerEngineKernels } from './kernels/index.js';

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');
let runtimes: Promise<WasmModule> | null = null;
function loadRuntimes(): Promise<WasmModule> {
  runtimes ??= (async () => {
    await import('@tensorflow/tfjs');
    return import('@tensorflow/tfjs-backend-wasm');
  })();
  return runtimes;
}

/** The backend a user chose (--backend), with where the choice came from for errors. */
let preference: { name: BackendName; source: string } | null = null;

/**
 * Records the user's choice (e.g. the CLI's `--backend`) for later `initBackend()` calls, checking the
 * name at once so that the error names where it came from. `undefined` clears it.
 */
export function chooseBackend(name: string | undefined, source = '--backend'): void {
  preference = name === undefined ? null : { name: parseName(name, source), source };
}

/** Whether a backend was initialised by `initBackend` and is still the active one. */
export function backendReady(): boolean {
  return info !== null && tf.getBackend() === info.name;
}

/**
 * For library code: the active backend's name, or an error saying that the caller (an entry point) must
 * choose one first. Never selects or switches a backend.
 */
export function requireBackend(what: string): string {
  if (!backendReady()) throw new Error(`${what} needs a tensor backend: call initBackend() first (from 'v2l' or 'v2l/engine'; the v2l command does it for you)`);
  return (info as BackendInfo).name;
}

export const BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** What a benchmark report says about the backend. `null`: not known for this backend. */
export interface BackendInfo {
  name: string;
  simd: boolean | null;
  threads: number | null;
}

const TFJS_NODE = '@tensorflow/tfjs-node';

let tfjsNode: Promise<boolean> | null = null;
/** Whether tfjs-node can be loaded (tried once; loading it registers the 'tensorflow' backend). */
function tfjsNodeAvailable(): Promise<boolean> {
  tfjsNode ??= (async () => {
    try {
      // A variable specifier keeps the optional package out of type-checking and bundling.
      const spec: string = TFJS_NODE;
      await import(spec);
      return true;
    } catch {
      return false;
    }
  })();
  return tfjsNode;
}

function parseName(name: string, source: string): BackendName {
  const n = name.trim().toLowerCase();
  if ((BACKENDS as readonly string[]).includes(n)) return n as BackendName;
  throw new Error(`unknown tensor backend '${name}' (from ${source}); choose one of: ${BACKENDS.join(', ')}`);
}

let info: BackendInfo | null = null;
let chain: Promise<unknown> = Promise.resolve();

/**
 * Selects and initialises the tensor backend, registers the project's kernels for it, and returns its
 * name. Safe to call many times: once the requested backend is active it returns at once. A call with
 * neither a name nor V2L_BACKEND keeps the backend an earlier call chose (the default applies only to
 * the first choice).
 */
export async function initBackend(name?: string): Promise<string> {
  const env = process.env.V2L_BACKEND?.trim();
  const requested = name?.trim() ? parseName(name, 'the argument') : preference ? preference.name : env ? parseName(env, 'V2L_BACKEND') : null;
  if (info !== null && (requested === null || requested === info.name) && tf.getBackend() === info.name) {
    return info.name;
  }
  // Serialise concurrent calls: backend switches must not interleave.
  const next = chain.then(() => select(requested));
  chain = next.catch(() => undefined);
  return next;
}

async function select(requested: BackendName | null): Promise<string> {
  await loadRuntimes();
  const wanted: BackendName = requested ?? ((await tfjsNodeAvailable()) ? 'tensorflow' : 'wasm');
  if (info !== null && info.name === wanted && tf.getBackend() === wanted) return wanted;
  if (wanted === 'tensorflow' && !(await tfjsNodeAvailable())) {
    throw new Error(`tensor backend 'tensorflow' needs ${TFJS_NODE}, which is not installed; choose one of: ${BACKENDS.join(', ')}`);
  }
  registerEngineKernels(wanted);
  const ok = await tf.setBackend(wanted);
  if (!ok || tf.getBackend() !== wanted) throw new Error(`tensor backend '${wanted}' failed to initialise`);
  await tf.ready();
  // The cpu backend greets on first use in Node ("Hi, looks like you are running TensorFlow.js in
  // Node.js ..."): v2l chose it knowingly, so no banner.
  if (wanted === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  info = { name: wanted, ...(await describe(wanted)) };
  return wanted;
}

async function describe(name: BackendName): Promise<Omit<BackendInfo, 'name'>> {
  if (name === 'wasm') {
    return { simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')), threads: (await loadRuntimes()).getThreadsCount() };
  }
  if (name === 'cpu') return { simd: false, threads: 1 };
  return { simd: null, threads: null };
}

/** Name, SIMD and thread count of the active backend (after initBackend). */
export function backendInfo(): BackendInfo {
  if (info === null || tf.getBackend() !== info.name) {
    return { name: tf.getBackend() ?? 'none', simd: null, threads: null };
  }
  return { ...info };
}
