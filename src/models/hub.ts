// Model management: named presets on the Hugging Face hub, downloaded into a local cache folder
// (V2L_CACHE or ~/.cache/v2l, under models/<preset>/), resumable (.part files continued with HTTP Range)
// and atomic (a file appears under its name only when complete; the folder is marked complete last).
// Every file is checked before the folder is marked: its size against the server's (Content-Length, or
// the hub's X-Linked-Size), its sha256 against the hub's LFS hash (X-Linked-Etag) when the server gives
// one; the marker records each file's size and sha256, and a folder whose files no longer have the
// recorded sizes is not complete. Files copied in by hand are checked the same way when the hub is
// reachable, and recorded as unverified when it is not.
// Without internet the pull fails fast: a short TCP probe of the host comes first, and its error names
// the host and says how to copy the files by hand. Node edge.
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeJsonAtomic } from '../util/atomic.js';
import { sha256File } from '../util/hash.js';
import type { OnProgress } from '../util/progress.js';

export interface Preset {
  name: string;
  description: string;
  /** Hugging Face repository. */
  repo: string;
  revision: string;
  /** Files to fetch, relative to the repository root (kept relative in the cache folder). */
  files: string[];
  kind: 'clip' | 'llm';
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'clip-vit-large-patch14',
    description: 'OpenAI CLIP ViT-L/14 (the V2L frozen CLIP), ONNX export in the transformers.js layout, fp32 (~1.7 GB)',
    repo: 'Xenova/clip-vit-large-patch14',
    revision: 'main',
    kind: 'clip',
    files: [
      'config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
      'vocab.json', 'merges.txt', 'onnx/text_model.onnx', 'onnx/vision_model.onnx',
    ],
  },
  {
    name: 'llama-2-7b-gguf',
    description: 'LLaMA-2 7B (base), GGUF Q4_K_M (~4.1 GB), the smallest LLaMA-2 of the paper; Llama 2 licence',
    repo: 'TheBloke/Llama-2-7B-GGUF',
    revision: 'main',
    kind: 'llm',
    files: ['llama-2-7b.Q4_K_M.gguf'],
  },
  {
    name: 'llama-2-13b-gguf',
    description: 'LLaMA-2 13B (base), GGUF Q4_K_M (~7.9 GB); Llama 2 licence',
    repo: 'TheBloke/Llama-2-13B-GGUF',
    revision: 'main',
    kind: 'llm',
    files: ['llama-2-13b.Q4_K_M.gguf'],
  },
];

export function findPreset(name: string): Preset {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) throw new Error(`unknown model preset "${name}"; presets: ${PRESETS.map((x) => x.name).join(', ')}`);
  return p;
}

/** The cache root: explicit, else V2L_CACHE, else ~/.cache/v2l. Models live under <root>/models/. */
export function cacheRoot(explicit?: string): string {
  return resolve(explicit ?? process.env.V2L_CACHE ?? join(homedir(), '.cache', 'v2l'));
}

export function presetDir(preset: Preset | string, root?: string): string {
  const name = typeof preset === 'string' ? preset : preset.name;
  return join(cacheRoot(root), 'models', name);
}

/** Written into a preset folder once every file is there. */
export const MARKER_FILE = '.v2l-complete.json';
const MARKER = MARKER_FILE;

/** The hub endpoint: explicit, else HF_ENDPOINT (the hub's own variable for mirrors), else huggingface.co. */
export function hubEndpoint(explicit?: string): string {
  return (explicit ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

export function fileUrl(preset: Preset, file: string, endpoint?: string): string {
  return `${hubEndpoint(endpoint)}/${preset.repo}/resolve/${encodeURIComponent(preset.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** Opens and closes a TCP connection to the URL's host, or rejects with the socket's error code. */
export function probeHost(url: string, timeoutMs: number): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise((res, rej) => {
    const sock = connect({ host: u.hostname, port });
    const timer = setTimeout(() => {
      sock.destroy();
      rej(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.end();
      sock.destroy();
      res();
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      rej(err);
    });
  });
}

export interface PullOptions {
  cacheDir?: string;
  endpoint?: string;
  /** TCP connect timeout for the probe and the stall timeout of the transfer, ms (default 8000). */
  timeoutMs?: number;
  /** Authorization for gated repositories (default: HF_TOKEN). */
  token?: string;
  onProgress?: OnProgress;
}

export interface PullResult {
  dir: string;
  bytes: number;
  /** Files already complete before this call. */
  skipped: string[];
  /** Files whose size or hash could not be checked against the server (copied in while it was unreachable). */
  unverified: string[];
}

/** What the server says a file is: size and (LFS files on the hub) sha256. */
interface Expected {
  bytes?: number;
  sha256?: string;
}

interface MarkerEntry {
  bytes: number;
  sha256: string;
  verified: boolean;
}

function expectedFrom(headers: Headers, fallbackBytes?: number): Expected {
  const size = Number(headers.get('x-linked-size') ?? NaN);
  const tag = (headers.get('x-linked-etag') ?? headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  return {
    bytes: Number.isFinite(size) ? size : fallbackBytes,
    sha256: /^[0-9a-f]{64}$/.test(tag) ? tag : undefined,
  };
}

/** Throws, naming the file and what differs, when `path` is not what the server described. */
function verifyFile(path: string, exp: Expected, what: string): { bytes: number; sha256: string } {
  const bytes = statSync(path).size;
  if (exp.bytes !== undefined && bytes !== exp.bytes) throw new Error(`${what}: ${path} has ${bytes} bytes, the server's file has ${exp.bytes}; delete it and pull again`);
  const sha256 = sha256File(path);
  if (exp.sha256 && sha256 !== exp.sha256) throw new Error(`${what}: ${path} has sha256 ${sha256.slice(0, 12)}..., the server's file has ${exp.sha256.slice(0, 12)}...; delete it and pull again`);
  return { bytes, sha256 };
}

/** The marker's per-file sizes, when the marker is readable (old markers hold bare sizes). */
function markerSizes(dir: string): Map<string, number> | null {
  try {
    const m = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { files?: Record<string, number | MarkerEntry> };
    if (!m.files || typeof m.files !== 'object') return null;
    return new Map(Object.entries(m.files).map(([f, e]) => [f, typeof e === 'number' ? e : e.bytes]));
  } catch {
    return null;
  }
}

/** Every preset file present with the size the marker recorded. */
function markedComplete(dir: string, files: readonly string[]): boolean {
  const sizes = markerSizes(dir);
  return !!sizes && files.every((f) => existsSync(join(dir, f)) && sizes.get(f) === statSync(join(dir, f)).size);
}

async function remoteExpected(preset: Preset, file: string, endpoint: string, timeoutMs: number, token: string | undefined): Promise<Expected> {
  const headers: Record<string, string> = { 'user-agent': 'v2l' };
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const res = await fetch(fileUrl(preset, file, endpoint), { method: 'HEAD', headers, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return {};
    const len = Number(res.headers.get('content-length') ?? NaN);
    return expectedFrom(res.headers, Number.isFinite(len) ? len : undefined);
  } catch {
    return {};
  }
}

function manualHint(preset: Preset, dir: string, endpoint: string): string {
  return `Where this machine has no internet access, download on another machine from ${endpoint}/${preset.repo}/tree/${preset.revision} ` +
    `the files ${preset.files.join(', ')} and copy them into ${dir}/ (same relative paths), then run the pull again to mark the folder complete; ` +
    `or point HF_ENDPOINT (or --endpoint) at a reachable mirror.`;
}

/**
 * Downloads a preset into the cache; files already complete are kept, `.part` files are continued.
 * Resolves with the folder, which then holds every preset file and the completion marker.
 */
export async function pullPreset(name: string, opts: PullOptions = {}): Promise<PullResult> {
  const preset = findPreset(name);
  const dir = presetDir(preset, opts.cacheDir);
  const endpoint = hubEndpoint(opts.endpoint);
  const timeoutMs = opts.timeoutMs ?? 8000;
  const token = opts.token ?? process.env.HF_TOKEN;
  const todo = preset.files.filter((f) => !existsSync(join(dir, f)));
  const skipped = preset.files.filter((f) => !todo.includes(f));
  // Already pulled and unchanged since: nothing to do, no network.
  if (!todo.length && markedComplete(dir, preset.files)) return { dir, bytes: 0, skipped, unverified: [] };
  let bytes = 0;
  let reachable = true;
  const host = new URL(endpoint).host;
  try {
    await probeHost(endpoint, timeoutMs);
  } catch (err) {
    if (todo.length) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`cannot reach ${host} (${code}) to download model preset "${preset.name}" (${preset.repo}). ${manualHint(preset, dir, endpoint)}`);
    }
    reachable = false;
  }
  const expected = new Map<string, Expected>();
  const checkedNow = new Map<string, { bytes: number; sha256: string }>();
  for (const file of todo) {
    const r = await downloadFile(preset, file, dir, endpoint, timeoutMs, token, opts.onProgress);
    bytes += r.bytes;
    expected.set(file, r.expected);
    if (r.checked) checkedNow.set(file, r.checked);
  }
  // Files that were already there (copied by hand, or an earlier pull): ask the server what they should be.
  if (reachable) for (const file of skipped) expected.set(file, await remoteExpected(preset, file, endpoint, timeoutMs, token));
  const files: Record<string, MarkerEntry> = {};
  const unverified: string[] = [];
  for (const f of preset.files) {
    const exp = expected.get(f) ?? {};
    const checked = checkedNow.get(f) ?? verifyFile(join(dir, f), exp, `model preset "${preset.name}"`);
    const verified = exp.bytes !== undefined || exp.sha256 !== undefined;
    if (!verified) unverified.push(f);
    files[f] = { ...checked, verified };
  }
  writeJsonAtomic(join(dir, MARKER), {
    preset: preset.name, repo: preset.repo, revision: preset.revision, endpoint, files,
    completedAt: new Date().toISOString(),
  });
  return { dir, bytes, skipped, unverified };
}

async function downloadFile(preset: Preset, file: string, dir: string, endpoint: string, timeoutMs: number, token: string | undefined, onProgress?: OnProgress): Promise<{ bytes: number; expected: Expected; checked?: { bytes: number; sha256: string } }> {
  const target = join(dir, file);
  const part = `${target}.part`;
  mkdirSync(dirname(target), { recursive: true });
  const have = existsSync(part) ? statSync(part).size : 0;
  const url = fileUrl(preset, file, endpoint);
  const headers: Record<string, string> = { 'user-agent': 'v2l' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (have > 0) headers.range = `bytes=${have}-`;
  // Abort when no byte arrives for timeoutMs (a stalled transfer), not after a fixed total time.
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), timeoutMs);
  const kick = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(), timeoutMs);
  };
  try {
    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: 'follow', signal: ac.signal });
    } catch (err) {
      throw new Error(`download of ${url} failed: ${(err as Error).message}${ac.signal.aborted ? ` (no answer within ${timeoutMs} ms)` : ''}`);
    }
    if (res.status === 416 && have > 0) {
      // The .part already holds the whole file.
      renameSync(part, target);
      return { bytes: 0, expected: expectedFrom(res.headers) };
    }
    if (!res.ok || !res.body) {
      const hint = res.status === 401 || res.status === 403 ? ' (gated or private: set HF_TOKEN)' : '';
      throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}${hint}`);
    }
    const resumed = res.status === 206;
    if (!resumed && have > 0) rmSync(part, { force: true });
    const start = resumed ? have : 0;
    const len = Number(res.headers.get('content-length') ?? NaN);
    const total = Number.isFinite(len) ? start + len : 0;
    let done = start;
    let last = 0;
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      kick();
      done += chunk.length;
      const now = Date.now();
      if (onProgress && (now - last > 200 || done === total)) {
        last = now;
        onProgress({ stage: `${preset.name}: ${file}`, done: Math.round(done / 1e6), total: Math.round((total || done) / 1e6), info: { unit: 'MB' } });
      }
    });
    await pipeline(body, createWriteStream(part, { flags: resumed ? 'a' : 'w' }));
    if (total && done !== total) throw new Error(`download of ${url} ended after ${done} of ${total} bytes; run the pull again to resume`);
    const expected = expectedFrom(res.headers, total || undefined);
    let checked;
    try {
      checked = verifyFile(part, expected, `download of ${url}`);
    } catch (e) {
      rmSync(part, { force: true });
      throw e;
    }
    renameSync(part, target);
    return { bytes: done - start, expected, checked };
  } catch (err) {
    if (ac.signal.aborted && !(err as Error).message.includes('no answer')) {
      throw new Error(`download of ${url} stalled for ${timeoutMs} ms; run the pull again to resume (${(err as Error).message})`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export interface CachedModel {
  name: string;
  dir: string;
  preset: Preset | null;
  /** All preset files present and the completion marker written. */
  complete: boolean;
  bytes: number;
  files: number;
  /** Bytes in unfinished .part files. */
  partialBytes: number;
}

function walk(dir: string, out: { path: string; size: number }[] = []): { path: string; size: number }[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push({ path: p, size: statSync(p).size });
  }
  return out;
}

/** What the cache holds: one entry per folder under <root>/models/, with sizes. */
export function listCached(root?: string): CachedModel[] {
  const base = join(cacheRoot(root), 'models');
  if (!existsSync(base)) return [];
  return readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => {
    const dir = join(base, e.name);
    const files = walk(dir).filter((f) => !f.path.endsWith(MARKER));
    const preset = PRESETS.find((p) => p.name === e.name) ?? null;
    const sizes = markerSizes(dir);
    const complete = !!sizes && markedComplete(dir, preset ? preset.files : [...sizes.keys()]);
    const part = files.filter((f) => f.path.endsWith('.part'));
    return {
      name: e.name, dir, preset, complete,
      bytes: files.filter((f) => !f.path.endsWith('.part')).reduce((a, f) => a + f.size, 0),
      files: files.length - part.length,
      partialBytes: part.reduce((a, f) => a + f.size, 0),
    };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A model argument as a folder: an existing path is used as is; otherwise a preset name or a cached
 * folder name resolves to the cache. The error lists what was tried.
 */
export function resolveModelPath(nameOrPath: string, root?: string): string {
  if (existsSync(nameOrPath)) return resolve(nameOrPath);
  const inCache = presetDir(nameOrPath, root);
  if (existsSync(inCache)) {
    const preset = PRESETS.find((p) => p.name === nameOrPath);
    if (preset && preset.kind === 'llm') return join(inCache, preset.files[0]);
    return inCache;
  }
  const isPreset = PRESETS.some((p) => p.name === nameOrPath);
  throw new Error(`model "${nameOrPath}" is neither an existing path nor in the cache (${inCache})` +
    (isPreset ? `; fetch it with \`v2l models pull ${nameOrPath}\`` : ''));
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
