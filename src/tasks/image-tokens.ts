// Node edge: where a task gets the tokens of its images. Either from a loaded V2LTokenizer (global tokens
// cached on disk, keyed by the image file's sha256, the tokenizer's global fingerprint and k, so an image
// used in many episodes is encoded once per run, and never again across runs), or from a JSON-lines file
// written by `v2l tokenize` (`--tokens`), so the LLM side can run on another machine than the tokenizer.
//
//   const tokens = tokenizerTokens(tok);                // or tokensFile('tokens.jsonl')
//   const [a] = await tokens.global(['cat.jpg'], 5);    // { source, global: { ids, texts } }
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { cacheRoot } from '../models/hub.js';
import type { OnProgress } from '../util/progress.js';

export interface ImageTokens {
  source: string;
  /** k nearest global codebook rows, nearest first, and the entries' texts. */
  global: { ids: number[]; texts: string[] };
  /** h x w local tokens (LLM vocabulary ids), when asked for. */
  local?: number[][];
}

export interface TokensFailure {
  source: string;
  error: string;
}

export type TokensResult = ImageTokens | TokensFailure;

export const isTokensFailure = (r: TokensResult): r is TokensFailure => 'error' in r;

export interface ImageTokenProvider {
  /** What produces the tokens, for run configurations (a resumed run must use the same). */
  readonly id: string;
  /** True when the global tokens come from the random-weight stand-in CLIP. */
  readonly isStandIn: boolean;
  /** True when the tokens come from the built-in DEMO tokenizer (its own or a tokens file it wrote). */
  readonly demo?: boolean;
  /** Global tokens of each image (k nearest first); failures name the file and the reason. */
  global(sources: readonly string[], k: number, onProgress?: OnProgress): Promise<TokensResult[]>;
  /** Global and local tokens of each image. */
  all(sources: readonly string[], k: number, onProgress?: OnProgress): Promise<TokensResult[]>;
  /** Tokens files only: whether a source has a record (no image is read), to check a run's images up front. */
  knows?(source: string): boolean;
}

function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

const texts = (t: readonly (string | null)[]) => t.map((x, i) => {
  if (x === null) throw new Error(`global token ${i} has no text: give a codebook package with its global vocabulary (--codebook)`);
  return x;
});

/** Tokens from a loaded tokenizer; global tokens cached under `<cache>/global-tokens/`. */
export function tokenizerTokens(tok: V2LTokenizer, opts: { cacheDir?: string; cache?: boolean } = {}): ImageTokenProvider {
  const fp = tok.globalFingerprint;
  const dir = join(cacheRoot(opts.cacheDir), 'global-tokens');
  const caches = new Map<number, Map<string, { ids: number[]; texts: string[] }>>();
  const cacheFor = (k: number) => {
    let m = caches.get(k);
    if (!m) {
      m = new Map();
      const p = join(dir, `${fp.slice(0, 24)}-k${k}.jsonl`);
      if (opts.cache !== false && existsSync(p)) {
        for (const line of readFileSync(p, 'utf8').split('\n')) {
          if (!line) continue;
          try {
            const r = JSON.parse(line) as { sha256: string; ids: number[]; texts: string[] };
            if (r.ids?.length === k) m.set(r.sha256, { ids: r.ids, texts: r.texts });
          } catch {
            // a torn last line from a killed run: that image is encoded again
          }
        }
      }
      caches.set(k, m);
    }
    return m;
  };
  const store = (k: number, sha: string, v: { ids: number[]; texts: string[] }) => {
    cacheFor(k).set(sha, v);
    if (opts.cache === false) return;
    mkdirSync(dir, { recursive: true });
    appendFileSync(join(dir, `${fp.slice(0, 24)}-k${k}.jsonl`), JSON.stringify({ sha256: sha, ...v }) + '\n');
  };
  return {
    id: `tokenizer:${fp.slice(0, 16)}`,
    isStandIn: tok.clip?.isStandIn ?? false,
    async global(sources, k, onProgress) {
      const cache = cacheFor(k);
      const out: TokensResult[] = new Array(sources.length);
      const todo: { i: number; sha: string }[] = [];
      sources.forEach((s, i) => {
        let sha: string;
        try {
          sha = fileSha256(s);
        } catch (e) {
          out[i] = { source: s, error: `cannot read ${s}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
          return;
        }
        const hit = cache.get(sha);
        if (hit) out[i] = { source: s, global: { ids: [...hit.ids], texts: [...hit.texts] } };
        else todo.push({ i, sha });
      });
      if (todo.length) {
        // Several sources may be the same file: encode each content once.
        const unique = [...new Map(todo.map((t) => [t.sha, t])).values()];
        const enc = await tok.encodeGlobal(unique.map((t) => sources[t.i]), {
          k,
          onProgress: onProgress && ((e) => onProgress({ ...e, done: sources.length - todo.length + e.done, total: sources.length })),
        });
        const bySha = new Map<string, TokensResult>();
        enc.forEach((r, j) => {
          if ('error' in r) bySha.set(unique[j].sha, { source: r.source, error: r.error });
          else {
            const v = { ids: r.global.ids, texts: texts(r.global.tokens) };
            store(k, unique[j].sha, v);
            bySha.set(unique[j].sha, { source: r.source, global: v });
          }
        });
        for (const t of todo) {
          const r = bySha.get(t.sha)!;
          out[t.i] = 'error' in r ? { source: sources[t.i], error: r.error } : { source: sources[t.i], global: { ids: [...r.global.ids], texts: [...r.global.texts] } };
        }
      }
      return out;
    },
    async all(sources, k, onProgress) {
      // Global tokens through the cache (CLIP on the file itself, as in global()), local ones from the encoder.
      const glob = await this.global(sources, k);
      const res = await tok.encode(sources, { onProgress });
      return res.map((r, i) => {
        const g = glob[i];
        if ('error' in g) return g;
        if ('error' in r) return { source: sources[i], error: r.error };
        return { source: sources[i], global: g.global, local: r.local.ids };
      });
    },
  };
}

interface TokenizeRecord {
  source: string;
  error?: string;
  /** Written by the built-in DEMO tokenizer (`v2l tokenize` with no model flags). */
  demo?: boolean;
  global?: { ids: number[]; tokens: (string | null)[] };
  local?: { ids: number[][] };
}

/**
 * Tokens read from `v2l tokenize` output (JSON lines), matched by `source` as given or as an absolute path.
 * A file the built-in DEMO tokenizer wrote (its lines carry `demo: true`) gives a demo provider: a stand-in
 * (its CLIP is the stand-in) with a `demo-` id, as a run on the demo tokenizer itself; a file mixing demo
 * and other lines is refused (its runs could not be labelled).
 */
export function tokensFile(path: string): ImageTokenProvider {
  if (!existsSync(path)) throw new Error(`--tokens ${path}: no such file (write one with \`v2l tokenize ... > ${path}\`)`);
  const bytes = readFileSync(path);
  const byKey = new Map<string, TokenizeRecord>();
  let demoLine = 0;
  let otherLine = 0;
  bytes.toString('utf8').split('\n').forEach((line, n) => {
    if (!line.trim()) return;
    let r: TokenizeRecord;
    try {
      r = JSON.parse(line) as TokenizeRecord;
    } catch (e) {
      throw new Error(`${path}:${n + 1}: not JSON (${(e as Error).message}); expected one \`v2l tokenize\` record per line`);
    }
    if (typeof r.source !== 'string') throw new Error(`${path}:${n + 1}: record has no "source"`);
    if (!r.error && (!r.global || !Array.isArray(r.global.ids))) throw new Error(`${path}:${n + 1}: record for ${r.source} has no global.ids`);
    if (r.demo === true) demoLine ||= n + 1;
    else otherLine ||= n + 1;
    byKey.set(r.source, r);
    byKey.set(resolve(r.source), r);
  });
  if (demoLine && otherLine) {
    throw new Error(`${path} mixes tokens of the built-in demo tokenizer (line ${demoLine}: "demo": true) with tokens of another (line ${otherLine}); write one tokens file per tokenizer`);
  }
  const demo = demoLine > 0;
  const find = (s: string) => byKey.get(s) ?? byKey.get(resolve(s));
  const get = (sources: readonly string[], k: number, withLocal: boolean): TokensResult[] => sources.map((s) => {
    const r = find(s);
    if (!r) return { source: s, error: `${s} is not in ${path}` };
    if (r.error) return { source: s, error: r.error };
    const g = r.global!;
    if (g.ids.length < k) throw new Error(`${path}: ${r.source} has ${g.ids.length} global tokens, ${k} are needed (tokenize with --global-tokens ${k})`);
    const out: ImageTokens = { source: s, global: { ids: g.ids.slice(0, k), texts: texts(g.tokens.slice(0, k)) } };
    if (withLocal) {
      if (!r.local?.ids) return { source: s, error: `${path}: ${r.source} has no local tokens` };
      out.local = r.local.ids;
    }
    return out;
  });
  return {
    id: `${demo ? 'demo-' : ''}tokens-file:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`,
    isStandIn: demo,
    demo,
    async global(sources, k) {
      return get(sources, k, false);
    },
    async all(sources, k) {
      return get(sources, k, true);
    },
    knows: (s) => find(s) !== undefined,
  };
}
