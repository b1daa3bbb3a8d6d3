// The codebook package's manifest and contents as data (portable): the types, the check of a manifest
// against the models in use, and a package parsed from its files' bytes (the browser runtime reads the
// files the user chose; ./package.ts reads and writes folders in Node).
import { parseSafetensors } from '../io/safetensors.js';
import { toFloat32 } from '../io/dtypes.js';

export const CODEBOOK_FORMAT = 'v2l-codebook';
export const CODEBOOK_VERSION = 1;
export const LOCAL_KEY = 'tok_embeddings.weight';
export const GLOBAL_KEY = 'tok_embeddings_global.weight';

export interface CodebookManifest {
  format: typeof CODEBOOK_FORMAT;
  version: number;
  /** 'built' by `v2l codebook build`, or 'official' (imported reference artefacts). */
  source: 'built' | 'official';
  created: string;
  llm: { id: string; vocabHash: string | null; vocabSize: number };
  /** fingerprint: sha256 over the CLIP files (null for imported codebooks whose CLIP files are unknown). */
  clip: { id: string; fingerprint: string | null; dim: number; isStandIn: boolean };
  rendering: { tokenStyle: string; candidateStyle: string } | null;
  /** promptStyle: 'ids' or 'text' (absent in version-1 packages written before it existed: 'ids'). */
  expansion: { prefix: string; m: number; promptStyle?: 'ids' | 'text'; excludedContinuations: number[]; skippedSubwords?: number[]; maxSubwords?: number } | null;
  /**
   * Local rows the tokenizer's nearest-row search never returns (ascending row ids = LLM token ids): the
   * tokens that carry no text (LLaMA-3's 256 special and reserved tokens; BOS/EOS/UNK), whose rows hold
   * the embedding of a name we made up ("begin of text"), not of anything an image could show. Written by
   * `v2l codebook build`; absent in older and imported (official) packages: nothing excluded, as the
   * reference searches every row. Read through excludedLocalRows().
   */
  localSearch?: { excludedRows: number[] };
  templates: { name: string; count: number; hash: string } | null;
  filter: { similarity: string; k: number; threshold: number | null; topN: number | null; imageCount: number } | null;
  /** Size at each stage: vocabulary, bigrams, trigrams, candidatesBeforeDedupe, candidates, global. */
  counts: Record<string, number>;
  /** sha256 of each data file. */
  files: Record<string, string>;
}

/** The local rows the nearest-row search must skip (ascending; [] when the package excludes none). */
export function excludedLocalRows(m: Pick<CodebookManifest, 'localSearch'>): number[] {
  return m.localSearch?.excludedRows ?? [];
}

export interface GlobalEntry {
  text: string;
  /** LLM token ids of the entry (subword, bigram or trigram), when known. */
  ids?: number[];
  /** Filter hits over the image set, when known. */
  count?: number;
}

export interface Codebook {
  dir: string;
  manifest: CodebookManifest;
  dim: number;
  /** [N, dim] */
  local: Float32Array;
  localTexts: string[];
  /** [G, dim] */
  global: Float32Array;
  globalEntries: GlobalEntry[];
}

export interface CodebookCheck {
  /** The LLM vocabulary in use. */
  vocabulary?: { hash: string; size: number };
  llmId?: string;
  /** The CLIP in use. */
  clip?: { id: string; fingerprint: string; dim: number };
}

/** Throws with a message naming each difference between the manifest and the models in use. */
export function checkManifest(m: CodebookManifest, use: CodebookCheck, where: string): void {
  const problems: string[] = [];
  if (use.vocabulary) {
    if (m.llm.vocabSize !== use.vocabulary.size) {
      problems.push(`it has ${m.llm.vocabSize} local rows for LLM "${m.llm.id}", the LLM in use${use.llmId ? ` ("${use.llmId}")` : ''} has ${use.vocabulary.size} tokens`);
    } else if (m.llm.vocabHash && m.llm.vocabHash !== use.vocabulary.hash) {
      problems.push(`it was built for LLM vocabulary ${m.llm.vocabHash.slice(0, 12)} ("${m.llm.id}"), the LLM in use${use.llmId ? ` ("${use.llmId}")` : ''} has vocabulary ${use.vocabulary.hash.slice(0, 12)} (same size, different tokens)`);
    }
  }
  if (use.clip) {
    if (m.clip.dim !== use.clip.dim) problems.push(`its embeddings are ${m.clip.dim}-d ("${m.clip.id}"), the CLIP in use ("${use.clip.id}") gives ${use.clip.dim}-d`);
    else if (m.clip.fingerprint && m.clip.fingerprint !== use.clip.fingerprint) {
      problems.push(`it was built with CLIP "${m.clip.id}" (fingerprint ${m.clip.fingerprint.slice(0, 12)}), the CLIP in use is "${use.clip.id}" (fingerprint ${use.clip.fingerprint.slice(0, 12)})`);
    }
  }
  if (problems.length) throw new Error(`codebook ${where} does not match the models in use: ${problems.join('; ')}. Rebuild it with \`v2l codebook build\` for these models.`);
}

/** A codebook package from its files' bytes (manifest.json, local/global .safetensors and .json), checked. */
export function parseCodebookFiles(files: ReadonlyMap<string, Uint8Array>, where: string, use: CodebookCheck = {}): Codebook {
  const json = <T>(name: string): T => {
    const b = files.get(name);
    if (!b) throw new Error(`codebook ${where}: ${name} is missing (a package has manifest.json, local.safetensors, global.safetensors, local.json, global.json)`);
    try {
      return JSON.parse(new TextDecoder().decode(b)) as T;
    } catch (e) {
      throw new Error(`codebook ${where}: ${name} is not valid JSON (${(e as Error).message}); is it cut short?`);
    }
  };
  const manifest = json<CodebookManifest>('manifest.json');
  if (manifest.format !== CODEBOOK_FORMAT) throw new Error(`codebook ${where}: manifest.json has format ${JSON.stringify(manifest.format)}, expected "${CODEBOOK_FORMAT}"`);
  if (manifest.version > CODEBOOK_VERSION) throw new Error(`codebook ${where}: format version ${manifest.version} is newer than this v2l reads (${CODEBOOK_VERSION})`);
  checkManifest(manifest, use, where);
  const dim = manifest.clip.dim;
  const rows = (name: string, key: string) => {
    const b = files.get(name);
    if (!b) throw new Error(`codebook ${where}: ${name} is missing`);
    let t;
    try {
      t = parseSafetensors(b).tensors.get(key);
    } catch (e) {
      throw new Error(`codebook ${where}: ${name} is not a complete safetensors file (${(e as Error).message})`);
    }
    if (!t) throw new Error(`codebook ${where}: ${name} has no tensor "${key}"`);
    if (t.shape.length !== 2 || t.shape[1] !== dim) throw new Error(`codebook ${where}: ${name} "${key}" has shape [${t.shape}], expected [rows, ${dim}]`);
    return { data: toFloat32(t), rows: t.shape[0] };
  };
  const local = rows('local.safetensors', LOCAL_KEY);
  const global = rows('global.safetensors', GLOBAL_KEY);
  const localTexts = json<{ texts: string[] }>('local.json').texts;
  const globalEntries = json<{ entries: GlobalEntry[] }>('global.json').entries;
  if (local.rows !== manifest.llm.vocabSize) throw new Error(`codebook ${where}: local.safetensors has ${local.rows} rows, manifest says the vocabulary has ${manifest.llm.vocabSize}`);
  if (!Array.isArray(localTexts) || localTexts.length !== local.rows) throw new Error(`codebook ${where}: local.json has ${localTexts?.length} texts for ${local.rows} rows`);
  if (!Array.isArray(globalEntries) || globalEntries.length !== global.rows) throw new Error(`codebook ${where}: global.json has ${globalEntries?.length} entries for ${global.rows} rows`);
  checkExcludedRows(manifest, where);
  return { dir: where, manifest, dim, local: local.data, localTexts, global: global.data, globalEntries };
}

/** A manifest's excluded local rows must be ascending row ids inside the vocabulary, leaving rows to search. */
export function checkExcludedRows(m: CodebookManifest, where: string): void {
  const rows = m.localSearch?.excludedRows;
  if (rows === undefined) return;
  const n = m.llm.vocabSize;
  const bad = !Array.isArray(rows) ? 0 : rows.findIndex((r, i) => !Number.isInteger(r) || r < 0 || r >= n || (i > 0 && r <= rows[i - 1]!));
  if (!Array.isArray(rows) || bad >= 0) {
    throw new Error(`codebook ${where}: manifest.json localSearch.excludedRows must be ascending row ids in [0, ${n})${Array.isArray(rows) ? `, entry ${bad} is ${JSON.stringify(rows[bad])}` : ''}`);
  }
  if (rows.length >= n) throw new Error(`codebook ${where}: manifest.json localSearch.excludedRows excludes all ${n} local rows`);
}
