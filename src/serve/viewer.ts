// What `v2l serve` does, without HTTP: the JSON API's operations over one loaded tokenizer. The page sends
// image bytes, token ids, words to look up and indices into the --images folder's listing; never a path.
// Network work goes through one JobQueue (one job at a time, bounded waiting list).
import { readdirSync, statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, extname } from 'node:path';
import { createHash } from 'node:crypto';
import { sharp as loadSharp } from '../image/sharp.js';
import type { V2LTokenizer } from '../tokenizer/tokenizer.js';
import type { Vocabulary } from '../models/llm/types.js';
import type { RawImage } from '../models/clip/types.js';
import { inspectImage, globalNearest, psnr, type TokenChoice } from '../tokenizer/inspect.js';
import { tokenStyleOf } from '../codebook/render.js';
import { loadImage } from '../image/load.js';
import { encodePng } from '../image/save.js';
import { JobQueue, BusyError } from './queue.js';
import { HttpError } from './http.js';
import { decodeUpload } from './upload.js';
import { displayPiece, rankTexts as rank } from './token-text.js';
import { RestoreJobs } from './restore-jobs.js';
import { FewshotEpisodes } from './fewshot-episode.js';
import type { LLM } from '../models/llm/types.js';

export interface ViewerLimits {
  /** Largest upload body, bytes (default 20 MB). */
  maxUploadBytes: number;
  /** Largest image, stored pixels (default 40 MP). */
  maxPixels: number;
  /** Largest JSON body, bytes (default 256 KB). */
  maxJsonBytes: number;
  /** Images of the --images folder listed at most (default 2000). */
  maxFolderImages: number;
  /** Tokenized images kept for edits (default 32; the oldest is dropped). */
  cachedImages: number;
  /** Network jobs that may wait behind the running one (default 8). */
  queueLength: number;
}

export const DEFAULT_LIMITS: ViewerLimits = {
  maxUploadBytes: 20 * 1024 * 1024, maxPixels: 40_000_000, maxJsonBytes: 256 * 1024, maxFolderImages: 2000, cachedImages: 32, queueLength: 8,
};

export interface ViewerOptions {
  tokenizer: V2LTokenizer;
  /** The LLM's vocabulary: local tokens are shown as its raw pieces (else as the codebook's texts). */
  vocabulary?: Vocabulary | null;
  /** Folder of images to browse (codebook page, choose-an-image); listed once at start. */
  imagesDir?: string | null;
  limits?: Partial<ViewerLimits>;
  /** The frozen LLM (a loaded model, not a vocab-only file): enables restoration and few-shot. */
  llm?: LLM | null;
  /** A labelled dataset (class folders or Tiny-ImageNet's val layout) for few-shot episodes (needs `llm`). */
  fewshotData?: string | null;
  /** The tokenizer is the built-in demo (src/demo/): the page says so. */
  demo?: boolean;
}

export interface TokenView extends TokenChoice {
  text: string;
}

interface CachedImage {
  name: string;
  /** The decoded upload as a PNG in the server's own temp folder, for restoration. */
  file?: string;
  original: RawImage;
  /** The reconstruction from the encoder's tokens (= decode() of them): the edits' baseline. */
  reconstruction: RawImage;
  localIds: number[][];
  globalIds: number[];
}

interface FolderIndex {
  status: 'idle' | 'indexing' | 'ready';
  done: number;
  failed: { index: number; error: string }[];
  tokens: (TokenChoice[] | null)[];
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp', '.bmp', '.tif', '.tiff', '.avif']);
const INDEX_CHUNK = 8;

const dataUrl = async (img: RawImage) => `data:image/png;base64,${(await encodePng(img)).toString('base64')}`;
const round = (x: number, d = 4) => Number(x.toFixed(d));

export class Viewer {
  readonly tok: V2LTokenizer;
  readonly limits: ViewerLimits;
  readonly queue: JobQueue;
  private readonly localText: string[];
  private readonly localKind: 'llm-pieces' | 'codebook-texts' | 'ids';
  private readonly globalText: string[];
  private readonly images = new Map<string, CachedImage>();
  private readonly folder: { root: string; files: string[]; truncated: boolean } | null;
  private readonly demo: boolean;
  private index: FolderIndex | null = null;
  private readonly thumbs = new Map<number, Buffer>();
  /** Restoration jobs; null without an LLM or an image folder. */
  readonly restore: RestoreJobs | null;
  /** Few-shot episodes; null without an LLM or a dataset. */
  readonly fewshot: FewshotEpisodes | null;

  constructor(opts: ViewerOptions) {
    this.tok = opts.tokenizer;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.queue = new JobQueue(this.limits.queueLength);
    const cfg = this.tok.config;
    const vocab = opts.vocabulary;
    if (vocab && vocab.size === cfg.nLocal) {
      const style = tokenStyleOf(vocab);
      this.localText = vocab.tokens.map((t, i) => displayPiece(t, style, vocab.types?.[i]));
      this.localKind = 'llm-pieces';
    } else if (this.tok.codebook) {
      this.localText = this.tok.codebook.localTexts.slice();
      this.localKind = 'codebook-texts';
    } else {
      this.localText = Array.from({ length: cfg.nLocal }, (_, i) => `#${i}`);
      this.localKind = 'ids';
    }
    this.globalText = Array.from({ length: cfg.nGlobal }, (_, i) => this.tok.codebook?.globalEntries[i]?.text ?? `#${i}`);
    this.folder = opts.imagesDir ? listImages(opts.imagesDir, this.limits.maxFolderImages) : null;
    const folder = this.folder;
    this.restore = opts.llm ? new RestoreJobs({
      tok: this.tok, llm: opts.llm, queue: this.queue, files: () => folder?.files ?? [], name: (p) => (folder ? relative(folder.root, p) : p),
      text: (id) => this.localText[id] ?? `#${id}`,
      uploaded: (id) => {
        const c = this.images.get(id);
        return c?.file ? { path: c.file, name: c.name } : null;
      },
    }) : null;
    this.demo = Boolean(opts.demo);
    this.fewshot = opts.llm && opts.fewshotData ? new FewshotEpisodes({ tok: this.tok, llm: opts.llm, queue: this.queue, root: opts.fewshotData }) : null;
  }

  info() {
    const cb = this.tok.codebook;
    const cfg = this.tok.config;
    return {
      imageSize: this.tok.imageSize,
      demo: this.demo,
      grid: this.tok.gridSize,
      globalTokens: this.tok.globalTokens,
      localVocabulary: cfg.nLocal,
      globalVocabulary: cfg.nGlobal,
      localText: this.localKind,
      llm: cb ? baseName(cb.manifest.llm.id) : null,
      clip: { id: this.tok.clip ? baseName(this.tok.clip.id) : null, standIn: Boolean(this.tok.clip?.isStandIn) },
      codebook: cb ? { dir: baseName(cb.dir), standInClip: Boolean(cb.manifest.clip.isStandIn), source: cb.manifest.source } : null,
      folder: this.folder ? { images: this.folder.files.length, truncated: this.folder.truncated } : null,
      limits: { maxUploadBytes: this.limits.maxUploadBytes, maxPixels: this.limits.maxPixels },
      tabs: { restoration: Boolean(this.restore), fewshot: Boolean(this.fewshot) },
      fewshot: this.fewshot?.info() ?? null,
      queue: this.queue.stats(),
    };
  }

  private local(c: TokenChoice): TokenView {
    return { id: c.id, text: this.localText[c.id], distance: round(c.distance) };
  }

  private global(c: TokenChoice): TokenView {
    return { id: c.id, text: this.globalText[c.id], distance: round(c.distance) };
  }

  /** Tokenizes uploaded bytes: the whole view of one image. */
  async tokenizeBytes(bytes: Uint8Array, name: string) {
    const up = await decodeUpload(bytes, { maxPixels: this.limits.maxPixels }, this.decodeTarget(), name);
    return this.tokenize(up.image, name, { format: up.format, width: up.width, height: up.height }, bytes);
  }

  /** Tokenizes the folder's image number `index` (of `folderList()`). */
  async tokenizeFolderImage(index: number) {
    const path = this.folderPath(index);
    const name = relative(this.folder!.root, path);
    // The same byte limit as an upload: a huge file in the folder is not read into memory.
    const size = statSync(path).size;
    if (size > this.limits.maxUploadBytes) throw new HttpError(413, `${name} is ${(size / 1048576).toFixed(1)} MB; the limit is ${(this.limits.maxUploadBytes / 1048576).toFixed(1)} MB (--max-upload-mb)`);
    return this.tokenizeBytes(readFileSync(path), name);
  }

  private decodeTarget(): number {
    return this.tok.preprocessMode === 'reference' ? 224 : this.tok.imageSize;
  }

  private async tokenize(image: RawImage, name: string, source: { format: string; width: number; height: number }, bytes: Uint8Array) {
    const r = await this.runJob(() => inspectImage(this.tok, image));
    const id = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    const file = this.restore ? await this.keepForRestoration(id, image) : undefined;
    this.remember(id, { name, file, original: r.original, reconstruction: r.reconstruction, localIds: r.localIds, globalIds: r.global.map((g) => g.id) });
    const [original, reconstruction] = await Promise.all([dataUrl(r.original), dataUrl(r.reconstruction)]);
    return {
      image: id, name, source, size: this.tok.imageSize, grid: r.localIds.length,
      original, reconstruction, psnr: round(r.psnr, 2),
      global: r.global.map((g) => this.global(g)),
      globalAlternatives: r.globalAlternatives.map((g) => this.global(g)),
      local: r.localNearest.map((row) => row.map((near) => ({ ...this.local(near[0]), alternatives: near.slice(1).map((c) => this.local(c)) }))),
    };
  }

  /** Decodes edited tokens of a tokenized image; PSNR against its preprocessed original. */
  async decode(body: Record<string, unknown>) {
    const id = body.image;
    if (typeof id !== 'string') throw new HttpError(400, '"image" must be the id a tokenize call returned');
    const cached = this.images.get(id);
    if (!cached) throw new HttpError(404, `image ${id} is not held any more (the server keeps the last ${this.limits.cachedImages}); tokenize it again`);
    const cfg = this.tok.config;
    const local = checkGrid(body.local, cached.localIds.length, cached.localIds[0].length, cfg.nLocal);
    const global = checkIds(body.global, 'global', cached.globalIds.length, cfg.nGlobal);
    const [rec] = await this.runJob(() => this.tok.decode([local], [global]));
    const base = cached.reconstruction;
    let changedLocal = 0;
    local.forEach((row, r) => row.forEach((v, c) => { if (v !== cached.localIds[r][c]) changedLocal++; }));
    const changedGlobal = global.filter((v, i) => v !== cached.globalIds[i]).length;
    const diff = Uint8Array.from(rec.data, (v, i) => Math.abs(v - base.data[i]));
    const maxChange = diff.reduce((m, v) => Math.max(m, v), 0);
    return {
      image: id, reconstruction: await dataUrl(rec), psnr: round(psnr(cached.original, rec), 2),
      // Where the edit changed the picture: |edited - unedited reconstruction|, scaled so that the
      // largest change is white (a small change is still seen, and where).
      difference: await dataUrl({ ...rec, data: diff.map((v) => Math.round((255 * v) / Math.max(1, maxChange))) }),
      maxChange,
      changed: { local: changedLocal, global: changedGlobal },
    };
  }

  /** Entries whose text matches `q`: exact first, then prefix, then substring (case-insensitive). */
  lookup(kind: string, q: string, limit: number) {
    if (kind !== 'local' && kind !== 'global') throw new HttpError(400, `"kind" must be local or global (got ${JSON.stringify(kind)})`);
    const texts = kind === 'local' ? this.localText : this.globalText;
    const view = (id: number) => ({ id, text: texts[id] });
    return { kind, q, matches: rank(texts, q, limit, kind === 'local').map(view) };
  }

  /** The global vocabulary, searched (empty q: in codebook order). */
  codebookSearch(q: string, offset: number, limit: number) {
    const entries = this.tok.codebook?.globalEntries;
    const ids = q ? rank(this.globalText, q, offset + limit, false) : Array.from({ length: Math.min(this.globalText.length, offset + limit) }, (_, i) => i);
    const total = q ? ids.length : this.globalText.length;
    return {
      q, offset, total,
      entries: ids.slice(offset, offset + limit).map((id) => ({ id, text: this.globalText[id], count: entries?.[id]?.count ?? null, ids: entries?.[id]?.ids ?? null })),
    };
  }

  folderList() {
    if (!this.folder) throw new HttpError(404, 'no image folder: start the server with --images <dir>');
    return { images: this.folder.files.map((f, index) => ({ index, name: relative(this.folder!.root, f) })), truncated: this.folder.truncated };
  }

  async thumbnail(index: number): Promise<Buffer> {
    const path = this.folderPath(index);
    let t = this.thumbs.get(index);
    if (!t) {
      try {
        // Through loadImage: it also reads BMP (which libvips does not) and applies EXIF orientation.
        const img = await loadImage(path, { shrinkTo: 96, maxPixels: this.limits.maxPixels });
        const sharp = await loadSharp();
        t = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
          .resize(96, 96, { fit: 'cover' }).png().toBuffer();
      } catch (e) {
        throw new HttpError(422, `cannot make a thumbnail of ${relative(this.folder!.root, path)}: ${(e as Error).message}`);
      }
      if (this.thumbs.size < 4096) this.thumbs.set(index, t);
    }
    return t;
  }

  /** Folder images whose global tokens include entry `id` (starts indexing the folder on first use). */
  entryImages(id: number) {
    if (!Number.isInteger(id) || id < 0 || id >= this.globalText.length) throw new HttpError(400, `global entry ${id} is outside [0, ${this.globalText.length})`);
    if (!this.folder) throw new HttpError(404, 'no image folder: start the server with --images <dir> to browse which images an entry describes');
    const idx = this.startIndex();
    const images: { index: number; name: string; rank: number; distance: number }[] = [];
    idx.tokens.forEach((toks, index) => {
      const at = toks?.findIndex((t) => t.id === id) ?? -1;
      if (toks && at >= 0) images.push({ index, name: relative(this.folder!.root, this.folder!.files[index]), rank: at + 1, distance: round(toks[at].distance) });
    });
    images.sort((a, b) => a.distance - b.distance);
    return {
      entry: { id, text: this.globalText[id] }, status: idx.status, done: idx.done, total: this.folder.files.length,
      failed: idx.failed.length, images,
    };
  }

  private startIndex(): FolderIndex {
    if (this.index) return this.index;
    const idx: FolderIndex = { status: 'indexing', done: 0, failed: [], tokens: new Array(this.folder!.files.length).fill(null) };
    this.index = idx;
    void this.indexLoop(idx);
    return idx;
  }

  /** Global tokens of every folder image, a chunk per queue job so that interactive requests get turns. */
  private async indexLoop(idx: FolderIndex): Promise<void> {
    const files = this.folder!.files;
    const clip = this.tok.clip;
    for (let s = 0; s < files.length; s += INDEX_CHUNK) {
      const chunk = files.slice(s, s + INDEX_CHUNK).map((f, j) => ({ f, index: s + j }));
      for (;;) {
        try {
          await this.queue.run(async () => {
            const loaded = await Promise.all(chunk.map(async ({ f, index }) => {
              try {
                return { index, image: await loadImage(f, { shrinkTo: 224, maxPixels: this.limits.maxPixels }) };
              } catch (e) {
                idx.failed.push({ index, error: (e as Error).message });
                return null;
              }
            }));
            const ok = loaded.filter((l): l is { index: number; image: RawImage } => l !== null);
            if (!ok.length || !clip) return;
            const near = await globalNearest(this.tok, await clip.embedImages(ok.map((l) => l.image)));
            ok.forEach((l, j) => { idx.tokens[l.index] = near[j]; });
          });
          break;
        } catch (e) {
          if (!(e instanceof BusyError)) {
            chunk.forEach(({ index }) => idx.failed.push({ index, error: (e as Error).message }));
            break;
          }
          await new Promise((r) => setTimeout(r, 500)); // the queue is full of interactive work: wait a turn
        }
      }
      idx.done = Math.min(files.length, s + INDEX_CHUNK);
    }
    idx.status = 'ready';
  }

  private folderPath(index: number): string {
    if (!this.folder) throw new HttpError(404, 'no image folder: start the server with --images <dir>');
    if (!Number.isInteger(index) || index < 0 || index >= this.folder.files.length) throw new HttpError(404, `no folder image ${index} (the folder lists ${this.folder.files.length})`);
    return this.folder.files[index];
  }

  private async runJob<T>(job: () => Promise<T> | T): Promise<T> {
    try {
      return await this.queue.run(job);
    } catch (e) {
      if (e instanceof BusyError) throw new HttpError(503, e.message, { 'retry-after': String(e.retryAfterS) });
      throw e;
    }
  }

  private remember(id: string, img: CachedImage): void {
    this.images.delete(id);
    this.images.set(id, img);
    while (this.images.size > this.limits.cachedImages) {
      const oldest = this.images.keys().next().value!;
      const f = this.images.get(oldest)?.file;
      if (f && f !== img.file) rmSync(f, { force: true });
      this.images.delete(oldest);
    }
  }

  /**
   * Restoration reads files: the decoded upload is written as a PNG into the server's own temp folder
   * (never a path from the request). Larger images are first reduced to a short side of 4x the
   * tokenizer's size (what decoding shrinks to anyway), so a file stays small.
   */
  private async keepForRestoration(id: string, img: RawImage): Promise<string> {
    this.uploadDir ??= mkdtempSync(join(tmpdir(), 'v2l-serve-'));
    const path = join(this.uploadDir, `${id}.png`);
    const cap = 4 * this.tok.imageSize;
    const sharp = await loadSharp();
    let pipeline = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } });
    if (Math.min(img.width, img.height) > cap) pipeline = pipeline.resize(img.width <= img.height ? { width: cap } : { height: cap });
    await pipeline.png({ compressionLevel: 1 }).toFile(path);
    return path;
  }

  private uploadDir: string | null = null;

  /** Removes the server's temp files. */
  dispose(): void {
    if (this.uploadDir) rmSync(this.uploadDir, { recursive: true, force: true });
    this.uploadDir = null;
  }
}

function baseName(p: string): string {
  return p.replace(/\/+$/, '').split('/').pop() ?? p;
}

/** Image files under `root` (recursive, sorted, at most `max`); hidden entries skipped. */
export function listImages(root: string, max: number): { root: string; files: string[]; truncated: boolean } {
  let st;
  try {
    st = statSync(root);
  } catch (e) {
    throw new Error(`--images ${root}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new Error(`--images ${root} is not a folder`);
  const files: string[] = [];
  let truncated = false;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      if (files.length >= max) {
        truncated = true;
        return;
      }
      const p = join(dir, name);
      const s = statSync(p, { throwIfNoEntry: false });
      if (s?.isDirectory()) walk(p);
      else if (s?.isFile() && IMAGE_EXT.has(extname(name).toLowerCase())) files.push(p);
    }
  };
  walk(root);
  return { root, files, truncated };
}

/** Ids of `texts` matching `q`, best first: exact, exact after "▁", prefix, substring; at most `limit`. */
function checkIds(v: unknown, what: string, n: number, max: number): number[] {
  if (!Array.isArray(v) || v.length !== n) throw new HttpError(400, `"${what}" must be an array of ${n} token ids`);
  v.forEach((x, i) => {
    if (!Number.isInteger(x) || x < 0 || x >= max) throw new HttpError(400, `"${what}"[${i}] = ${JSON.stringify(x)} is not a token id in [0, ${max})`);
  });
  return v as number[];
}

function checkGrid(v: unknown, h: number, w: number, max: number): number[][] {
  if (!Array.isArray(v) || v.length !== h) throw new HttpError(400, `"local" must be ${h} rows of ${w} token ids`);
  return v.map((row, r) => checkIds(row, `local[${r}]`, w, max));
}
