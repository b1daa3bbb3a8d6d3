// Choosing the tensor backend (Node edge). The network code imports only @tensorflow/tfjs-core and
// never learns which backend runs it; entry points and tests call `initBackend()` first.
//
// Order: an explicit name, else the environment variable V2L_BACKEND (the CLI's global --backend flag
// sets it), else 'tensorflow' when @tensorflow/tfjs-node happens to be installed, else 'wasm', which
// works everywhere. 'cpu' is the pure-JS reference backend (slow; the tests' yardstick).
//
// '@tensorflow/tfjs' is imported for its side effects: tfjs-core's Node bundle registers no gradients
// and no chained tensor methods (x.reshape(...)); the tfjs union package registers both, on the same
// tfjs-core instance, plus the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerEngineKernels } from './kernels/index.js';

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
  const requested = name?.trim() ? parseName(name, 'the argument') : env ? parseName(env, 'V2L_BACKEND') : null;
  if (info !== null && (requested === null || requested === info.name) && tf.getBackend() === info.name) {
    return info.name;
  }
  // Serialise concurrent calls: backend switches must not interleave.
  const next = chain.then(() => select(requested));
  chain = next.catch(() => undefined);
  return next;
}

async function select(requested: BackendName | null): Promise<string> {
  const wanted: BackendName = requested ?? ((await tfjsNodeAvailable()) ? 'tensorflow' : 'wasm');
  if (info !== null && info.name === wanted && tf.getBackend() === wanted) return wanted;
  if (wanted === 'tensorflow' && !(await tfjsNodeAvailable())) {
    throw new Error(`tensor backend 'tensorflow' needs ${TFJS_NODE}, which is not installed; choose one of: ${BACKENDS.join(', ')}`);
  }
  registerEngineKernels(wanted);
  const ok = await tf.setBackend(wanted);
  if (!ok || tf.getBackend() !== wanted) throw new Error(`tensor backend '${wanted}' failed to initialise`);
  await tf.ready();
  info = { name: wanted, ...(await describe(wanted)) };
  return wanted;
}

async function describe(name: BackendName): Promise<Omit<BackendInfo, 'name'>> {
  if (name === 'wasm') {
    return { simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')), threads: getThreadsCount() };
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
