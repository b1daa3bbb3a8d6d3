// The viewer's API run in the browser: the same operations as `v2l serve`'s JSON API (web/api.ts's `Api`),
// answered by the in-browser engines, so the same front end (web/) drives either back end. Images are the
// user's files, held in memory only; nothing is sent anywhere.
import type { Api, Info, Tokenized, Decoded, Lookup, CodebookPage, EntryImages, FolderList, FewshotResult, TokenView, EventStream } from '../../web/api.js';
import { ApiError } from '../../web/api.js';
import type { RawImage } from '../image/types.js';
import type { Vocabulary, LLM } from '../models/llm/types.js';
import { tokenStyleOf } from '../codebook/render.js';
import { displayPiece, rankTexts } from '../serve/token-text.js';
import { decodeImageBytes, pngDataUrl, InputError } from './image.js';
import type { BrowserTokenizer, TokenChoice } from './tokenizer.js';
import type { JobQueue } from './queue.js';
import type { Codebook } from '../codebook/manifest.js';

export interface LocalApiOptions {
  tokenizer: BrowserTokenizer;
  /** The LLM's vocabulary (from the GGUF): local tokens shown as its raw pieces. */
  vocabulary?: Vocabulary | null;
  llm?: LLM | null;
  /** Largest image, stored pixels (default 40 MP: decoded RGBA in the page's memory). */
  maxPixels?: number;
  /** Few-shot and restoration, when an LLM is loaded (./tasks.ts). */
  fewshot?: ((req: { ways: number; shots: number; seed: number; protocol: string; induction: boolean }) => Promise<FewshotResult>) | null;
  fewshotInfo?: { classes: number; layout: string } | null;
  restore?: LocalRestore | null;
  /** The page's one engine queue (shared with restoration). */
  queue: JobQueue;
}

export interface LocalRestore {
  start(req: { image: string; original: RawImage; name: string; task: string; protocol: string; copies: number; m: number; n: number }): { job: string; hidden: number; grid: number };
  events(job: string): EventStream;
}

interface Held {
  name: string;
  /** The decoded file (restoration crops and corrupts it itself). */
  full: RawImage;
  /** The preprocessed input. */
  original: RawImage;
  reconstruction: RawImage;
  localIds: number[][];
  globalIds: number[];
}

const round = (x: number, d = 4) => Number(x.toFixed(d));
const KEEP = 32;
/** Largest image file read into the page (bytes): past that, decoding would not fit the pixel limit anyway. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** PSNR of two 8-bit images, peak 255 (as the server's viewer reports it). */
function psnr8(a: RawImage, b: RawImage): number {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += ((a.data[i] - b.data[i]) / 255) ** 2;
  return 10 * Math.log10(1 / Math.max(se / a.data.length, 1e-12));
}

async function sha16(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].slice(0, 8).map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Local tokens' texts as the page shows them: the LLM's raw pieces when its vocabulary is the codebook's, else the codebook's texts. */
export function localTexts(cb: Codebook, vocabulary: Vocabulary | null | undefined): string[] {
  const n = cb.local.length / cb.dim;
  const vocab = vocabulary && vocabulary.size === n ? vocabulary : null;
  if (!vocab) return cb.localTexts.slice();
  const style = tokenStyleOf(vocab);
  return vocab.tokens.map((t, i) => displayPiece(t, style, vocab.types?.[i]));
}

export function localApi(o: LocalApiOptions): Api {
  const tok = o.tokenizer;
  const cfg = tok.config;
  const cb = tok.codebook;
  const vocab = o.vocabulary && o.vocabulary.size === cfg.nLocal ? o.vocabulary : null;
  const localText = localTexts(cb, vocab);
  const globalText = cb.globalEntries.map((e, i) => e.text ?? `#${i}`);
  const maxPixels = o.maxPixels ?? 40_000_000;
  const held = new Map<string, Held>();
  const queue = o.queue;
  const fail = (e: unknown, status = 422): never => {
    throw new ApiError(status, (e as Error).message);
  };
  const view = (texts: string[]) => (c: TokenChoice): TokenView => ({ id: c.id, text: texts[c.id], distance: round(c.distance) });

  const tokenize = async (bytes: Uint8Array, name: string): Promise<Tokenized> => {
    let decoded;
    try {
      decoded = await decodeImageBytes(bytes, name, maxPixels);
    } catch (e) {
      return fail(e, e instanceof InputError ? 422 : 500);
    }
    const r = await queue.run(async () => {
      const enc = await tok.encode(decoded.image, { local: 8, global: 12 });
      const reconstruction = await tok.decode(enc.localIds, enc.globalIds);
      return { enc, reconstruction };
    });
    const id = await sha16(bytes);
    held.set(id, { name, full: decoded.image, original: r.enc.original, reconstruction: r.reconstruction, localIds: r.enc.localIds, globalIds: r.enc.globalIds });
    while (held.size > KEEP) held.delete(held.keys().next().value!);
    const k = tok.globalTokens;
    const g = r.enc.globalNearest!.map(view(globalText));
    return {
      image: id, name, source: { format: decoded.format, width: decoded.width, height: decoded.height },
      size: tok.imageSize, grid: r.enc.localIds.length,
      original: await pngDataUrl(r.enc.original), reconstruction: await pngDataUrl(r.reconstruction),
      psnr: round(psnr8(r.enc.original, r.reconstruction), 2),
      global: g.slice(0, k), globalAlternatives: g.slice(k),
      local: r.enc.localNearest!.map((row) => row.map((near) => ({ ...view(localText)(near[0]), alternatives: near.slice(1).map(view(localText)) }))),
    };
  };

  const noFolder = (): never => {
    throw new ApiError(404, 'no image folder in the browser: choose images with the file picker');
  };

  return {
    info: async (): Promise<Info> => ({
      imageSize: tok.imageSize, demo: false, grid: tok.gridSize, globalTokens: tok.globalTokens,
      localVocabulary: cfg.nLocal, globalVocabulary: cfg.nGlobal, localText: vocab ? 'llm-pieces' : 'codebook-texts',
      llm: cb.manifest.llm.id, clip: { id: tok.clip.id, standIn: tok.clip.isStandIn },
      codebook: { dir: cb.dir, standInClip: cb.manifest.clip.isStandIn, source: cb.manifest.source },
      folder: null, limits: { maxUploadBytes: MAX_FILE_BYTES, maxPixels },
      tabs: { restoration: Boolean(o.restore), fewshot: Boolean(o.fewshot) }, fewshot: o.fewshotInfo ?? null,
    }),
    tokenizeFile: async (file: Blob, name: string) => {
      if (file.size > MAX_FILE_BYTES) throw new ApiError(413, `${name} is ${(file.size / 1048576).toFixed(0)} MB; the page reads images up to ${MAX_FILE_BYTES / 1048576} MB`);
      return tokenize(new Uint8Array(await file.arrayBuffer()), name);
    },
    tokenizeFolder: async () => noFolder(),
    decode: async (image: string, local: number[][], global: number[]): Promise<Decoded> => {
      const h = held.get(image);
      if (!h) throw new ApiError(404, `image ${image} is not held any more (the page keeps the last ${KEEP}); tokenize it again`);
      let rec: RawImage;
      try {
        rec = await queue.run(() => tok.decode(local, global));
      } catch (e) {
        return fail(e, 400);
      }
      let changedLocal = 0;
      local.forEach((row, r) => row.forEach((v, c) => { if (v !== h.localIds[r][c]) changedLocal++; }));
      const diff = Uint8Array.from(rec.data, (v, i) => Math.abs(v - h.reconstruction.data[i]));
      const maxChange = diff.reduce((m, v) => Math.max(m, v), 0);
      return {
        image, reconstruction: await pngDataUrl(rec), psnr: round(psnr8(h.original, rec), 2),
        difference: await pngDataUrl({ ...rec, data: diff.map((v) => Math.round((255 * v) / Math.max(1, maxChange))) }),
        maxChange, changed: { local: changedLocal, global: global.filter((v, i) => v !== h.globalIds[i]).length },
      };
    },
    lookup: async (kind: 'local' | 'global', q: string): Promise<Lookup> => {
      const texts = kind === 'local' ? localText : globalText;
      return { kind, q, matches: rankTexts(texts, q, 12, kind === 'local').map((id) => ({ id, text: texts[id] })) };
    },
    codebook: async (q: string, offset: number): Promise<CodebookPage> => {
      const limit = 60;
      const ids = q ? rankTexts(globalText, q, offset + limit, false) : Array.from({ length: Math.min(globalText.length, offset + limit) }, (_, i) => i);
      return {
        q, offset, total: q ? ids.length : globalText.length,
        entries: ids.slice(offset, offset + limit).map((id) => ({ id, text: globalText[id], count: cb.globalEntries[id]?.count ?? null })),
      };
    },
    entryImages: async (id: number): Promise<EntryImages> => ({
      entry: { id, text: globalText[id] }, status: 'ready', done: 0, total: 0, failed: 0, images: [],
    }),
    folder: async (): Promise<FolderList> => noFolder(),
    thumb: () => '',
    fewshot: async (req) => {
      if (!o.fewshot) throw new ApiError(404, 'few-shot needs an LLM (a GGUF file) and labelled images');
      try {
        return await queue.run(() => o.fewshot!(req));
      } catch (e) {
        return fail(e);
      }
    },
    restore: async (req) => {
      if (!o.restore) throw new ApiError(404, 'restoration needs an LLM (a GGUF file)');
      if (!('image' in req)) return noFolder();
      const h = held.get(req.image);
      if (!h) throw new ApiError(404, `image ${req.image} is not held any more; tokenize it again`);
      try {
        return o.restore.start({ ...req, original: h.full, name: h.name });
      } catch (e) {
        return fail(e, 400);
      }
    },
    restoreEvents: (job: string) => {
      if (!o.restore) throw new ApiError(404, 'restoration needs an LLM (a GGUF file)');
      return o.restore.events(job);
    },
  };
}
