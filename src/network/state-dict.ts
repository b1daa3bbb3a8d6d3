// Checking a state dict (PyTorch names and layouts) against the network's declarations before anything is
// loaded: all missing, unexpected and misshapen keys are named in one error (./network-params.ts loads;
// the tokenizer checks a weights file with no network at all). Portable.
import type { HostTensor } from '../io/dtypes.js';
import { describeConfig, inferConfig } from './config-infer.js';

/** The frozen codebooks: their row count may differ from the configuration (another LLM), never their width. */
export const CODEBOOK_KEYS = ['tok_embeddings.weight', 'tok_embeddings_global.weight'] as const;

/** The frozen codebooks a state dict holds, by role (absent ones undefined): callers never spell the key names. */
export function heldCodebooks(sd: ReadonlyMap<string, HostTensor>): { local?: HostTensor; global?: HostTensor } {
  return { local: sd.get(CODEBOOK_KEYS[0]), global: sd.get(CODEBOOK_KEYS[1]) };
}

/** Under these prefixes a state dict's codebooks are optional (supplied by a codebook package instead). */
export const CODEBOOK_PREFIX = 'tok_embeddings';

export interface LoadOptions {
  /** Keys under these prefixes may be absent (e.g. ['discriminator.'] for an inference checkpoint). */
  optionalPrefixes?: string[];
  /** Keys under these prefixes are skipped (e.g. the reference's 'perceptual_loss.', 'global_encoder.'). */
  ignorePrefixes?: string[];
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
const shapeStr = (s: readonly number[]) => `[${s.join(',')}]`;

/** Throws a clear error when a codebook's width differs from the network's embedding width. */
export function checkCodebookWidth(key: string, t: HostTensor, embedDim: number): void {
  if (t.shape.length !== 2 || t.shape[1] !== embedDim) {
    throw new Error(`codebook ${key} has shape ${shapeStr(t.shape)}: the network's embedding width is ${embedDim}, so it must be [rows, ${embedDim}]`);
  }
}

/**
 * Checks a state dict against the expected names and PyTorch shapes (`batchNorms`: layers whose
 * `num_batches_tracked` scalar is accepted) with no tensor backend: every missing, unexpected and
 * misshapen key is named in one error. Codebooks may have any number of rows, never another width.
 */
export function checkStateDict(expected: ReadonlyMap<string, readonly number[]>, batchNorms: ReadonlySet<string>, embedDim: number, sd: ReadonlyMap<string, HostTensor>, opts: LoadOptions = {}): void {
  const optional = opts.optionalPrefixes ?? [];
  const ignored = opts.ignorePrefixes ?? [];
  const under = (k: string, prefixes: string[]) => prefixes.some((pre) => k.startsWith(pre));
  // Codebook widths first: a wrong codebook is the likeliest mistake and needs no other checks.
  for (const k of CODEBOOK_KEYS) {
    const t = sd.get(k);
    if (t) checkCodebookWidth(k, t, embedDim);
  }
  const missing: string[] = [];
  const misshapen: string[] = [];
  for (const [k, shape] of expected) {
    const t = sd.get(k);
    if (!t) {
      if (!under(k, optional)) missing.push(k);
      continue;
    }
    const codebook = (CODEBOOK_KEYS as readonly string[]).includes(k);
    const okShape = codebook ? t.shape.length === 2 && t.shape[0] > 0 : t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!okShape) misshapen.push(`${k} (file ${shapeStr(t.shape)}, network ${shapeStr(shape)})`);
    else if (!FLOAT_DTYPES.has(t.dtype)) misshapen.push(`${k} (dtype ${t.dtype}, expected a float type)`);
  }
  const unexpected: string[] = [];
  for (const [k, t] of sd) {
    if (expected.has(k) || under(k, ignored)) continue;
    const bn = k.endsWith('.num_batches_tracked') && batchNorms.has(k.slice(0, -'.num_batches_tracked'.length));
    if (bn) {
      if (t.data.length !== 1) misshapen.push(`${k} (file ${shapeStr(t.shape)}, expected a scalar)`);
      continue;
    }
    unexpected.push(k);
  }
  if (missing.length || unexpected.length || misshapen.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length}: ${firstFew(missing)}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${firstFew(unexpected)}`);
    if (misshapen.length) parts.push(`misshapen ${misshapen.length}: ${firstFew(misshapen)}`);
    throw new Error(`state dict does not fit the network (${expected.size} tensors expected, ${sd.size} in the file): ${parts.join('; ')}.${looksLike(sd, ignored)}`);
  }
}

/** At most `n` items, then how many more. */
function firstFew(items: string[], n = 4): string {
  return items.length <= n ? items.join(', ') : `${items.slice(0, n).join(', ')}, ... (${items.length - n} more)`;
}

/** " The file looks like: <configuration>." when the file's shapes describe a V2L network, else "". */
function looksLike(sd: ReadonlyMap<string, HostTensor>, ignored: string[]): string {
  try {
    const shapes = new Map([...sd].filter(([k]) => !ignored.some((pre) => k.startsWith(pre))).map(([k, t]) => [k, t.shape] as const));
    return ` The file looks like: ${describeConfig(inferConfig(shapes).config)}.`;
  } catch (e) {
    return ` The file does not look like a V2L network (${(e as Error).message}).`;
  }
}
