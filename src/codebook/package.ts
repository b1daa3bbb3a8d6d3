// The codebook package: the frozen local and global codebooks as one versioned folder.
//
//   manifest.json        what the codebooks were built from (below); written last, so its presence
//                        marks a complete package
//   local.safetensors    "tok_embeddings.weight" [N, dim] F32: CLIP text embedding of every LLM
//                        vocabulary entry, in id order (the reference's state-dict name)
//   local.json           {"texts": [...]}: the rendered text of each vocabulary entry (./render.ts)
//   global.safetensors   "tok_embeddings_global.weight" [G, dim] F32: the filtered expanded vocabulary
//   global.json          {"entries": [{"text", "ids"?, "count"?}]}: text, LLM token ids, filter hit count
//
// Loading checks the manifest against the LLM vocabulary and CLIP in use and refuses a mismatch, saying
// what differs. Node edge (files); the manifest, its check and the package from bytes are ./manifest.ts (portable).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/files.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { toFloat32 } from '../io/dtypes.js';
import { sha256 } from '../util/hash.js';
import { CODEBOOK_FORMAT, CODEBOOK_VERSION, LOCAL_KEY, GLOBAL_KEY, checkManifest, checkExcludedRows, type CodebookManifest, type GlobalEntry, type Codebook, type CodebookCheck } from './manifest.js';

export { CODEBOOK_FORMAT, CODEBOOK_VERSION, LOCAL_KEY, GLOBAL_KEY, checkManifest, parseCodebookFiles, excludedLocalRows } from './manifest.js';
export type { CodebookManifest, GlobalEntry, Codebook, CodebookCheck } from './manifest.js';

function readJson<T>(path: string, what: string): T {
  if (!existsSync(path)) throw new Error(`${what}: ${path} is missing`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${what}: ${path} is not valid JSON (${(e as Error).message})`);
  }
}

function tensorRows(path: string, key: string, dim: number | null): { data: Float32Array; rows: number; dim: number } {
  const f = readSafetensors(path);
  const t = f.tensors.get(key);
  if (!t) throw new Error(`${path}: no tensor "${key}" (has: ${[...f.tensors.keys()].join(', ') || 'none'})`);
  if (t.shape.length !== 2 || (dim !== null && t.shape[1] !== dim)) throw new Error(`${path}: "${key}" has shape [${t.shape}], expected [rows, ${dim ?? 'dim'}]`);
  return { data: toFloat32(t), rows: t.shape[0], dim: t.shape[1] };
}

/**
 * The codebook package folder `dir` names: `dir` itself when it holds a codebook manifest, else its
 * `codebook/` subfolder (the top folder of `v2l import-official`, or a training run's folder), else an
 * error saying exactly that.
 */
export function resolveCodebookDir(dir: string): string {
  const isPackage = (d: string): boolean => {
    const p = join(d, 'manifest.json');
    if (!existsSync(p)) return false;
    try {
      return (JSON.parse(readFileSync(p, 'utf8')) as { format?: unknown }).format === CODEBOOK_FORMAT;
    } catch {
      return true; // a broken manifest: let readManifest name the problem
    }
  };
  if (isPackage(dir)) return dir;
  const sub = join(dir, 'codebook');
  if (isPackage(sub)) return sub;
  if (!existsSync(dir)) throw new Error(`codebook ${dir} does not exist`);
  if (existsSync(join(dir, 'local.safetensors'))) return dir; // a damaged package: readManifest names what is missing
  throw new Error(`codebook ${dir}: no codebook package here (a folder with manifest.json, local.safetensors, global.safetensors) nor in ${sub}; give the folder written by \`v2l codebook build\`, or the codebook/ folder of \`v2l import-official\``);
}

/** Reads only the manifest (for inspection without loading embeddings). */
export function readManifest(dir: string): CodebookManifest {
  dir = resolveCodebookDir(dir);
  const m = readJson<CodebookManifest>(join(dir, 'manifest.json'), `codebook ${dir}`);
  if (m.format !== CODEBOOK_FORMAT) throw new Error(`codebook ${dir}: manifest.json has format ${JSON.stringify(m.format)}, expected "${CODEBOOK_FORMAT}"`);
  if (m.version > CODEBOOK_VERSION) throw new Error(`codebook ${dir}: format version ${m.version} is newer than this v2l reads (${CODEBOOK_VERSION}); upgrade v2l`);
  return m;
}

/** Loads a codebook package, refusing one made for another LLM vocabulary or CLIP (see checkManifest). */
export function loadCodebook(dir: string, use: CodebookCheck = {}): Codebook {
  dir = resolveCodebookDir(dir);
  const manifest = readManifest(dir);
  checkManifest(manifest, use, dir);
  const dim = manifest.clip.dim;
  const local = tensorRows(join(dir, 'local.safetensors'), LOCAL_KEY, dim);
  const global = tensorRows(join(dir, 'global.safetensors'), GLOBAL_KEY, dim);
  const localTexts = readJson<{ texts: string[] }>(join(dir, 'local.json'), `codebook ${dir}`).texts;
  const globalEntries = readJson<{ entries: GlobalEntry[] }>(join(dir, 'global.json'), `codebook ${dir}`).entries;
  if (local.rows !== manifest.llm.vocabSize) throw new Error(`codebook ${dir}: local.safetensors has ${local.rows} rows, manifest says the vocabulary has ${manifest.llm.vocabSize}`);
  if (!Array.isArray(localTexts) || localTexts.length !== local.rows) throw new Error(`codebook ${dir}: local.json has ${localTexts?.length} texts for ${local.rows} rows`);
  if (!Array.isArray(globalEntries) || globalEntries.length !== global.rows) throw new Error(`codebook ${dir}: global.json has ${globalEntries?.length} entries for ${global.rows} rows`);
  checkExcludedRows(manifest, dir);
  return { dir, manifest, dim, local: local.data, localTexts, global: global.data, globalEntries };
}

export interface CodebookContents {
  manifest: Omit<CodebookManifest, 'format' | 'version' | 'files' | 'created'> & { created?: string };
  local: Float32Array;
  localTexts: readonly string[];
  global: Float32Array;
  globalEntries: readonly GlobalEntry[];
}

/** Writes a package (each file atomically, the manifest last). Returns the manifest written. */
export function writeCodebook(dir: string, c: CodebookContents): CodebookManifest {
  const dim = c.manifest.clip.dim;
  const n = c.local.length / dim;
  const g = c.global.length / dim;
  if (n !== c.localTexts.length) throw new Error(`writeCodebook: ${n} local rows but ${c.localTexts.length} texts`);
  if (g !== c.globalEntries.length) throw new Error(`writeCodebook: ${g} global rows but ${c.globalEntries.length} entries`);
  // An older package's manifest goes first: a write interrupted below leaves no manifest, never a
  // manifest that describes files half replaced.
  rmSync(join(dir, 'manifest.json'), { force: true });
  writeSafetensors(join(dir, 'local.safetensors'), [[LOCAL_KEY, { dtype: 'F32', shape: [n, dim], data: c.local }]]);
  writeSafetensors(join(dir, 'global.safetensors'), [[GLOBAL_KEY, { dtype: 'F32', shape: [g, dim], data: c.global }]]);
  writeJsonAtomic(join(dir, 'local.json'), { texts: c.localTexts });
  writeJsonAtomic(join(dir, 'global.json'), { entries: c.globalEntries });
  const files: Record<string, string> = {};
  for (const f of ['local.safetensors', 'global.safetensors', 'local.json', 'global.json']) files[f] = sha256(readFileSync(join(dir, f)));
  const manifest: CodebookManifest = { format: CODEBOOK_FORMAT, version: CODEBOOK_VERSION, ...c.manifest, created: c.manifest.created ?? new Date().toISOString(), files };
  writeJsonAtomic(join(dir, 'manifest.json'), manifest);
  return manifest;
}
