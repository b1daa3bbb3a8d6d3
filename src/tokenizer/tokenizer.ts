// The V2L tokenizer as users see it: load weights and codebooks once, then
//
//   const tok = await V2LTokenizer.load({ checkpoint: 'run/checkpoints/step-0000300.safetensors',
//                                         codebook: 'codebooks/llama2', clip: 'models/clip-vit-large-patch14' });
//   const [img] = await tok.encode(['cat.jpg']);   // global: 5 words of the LLM; local: 16x16 subwords
//   const [back] = await tok.decode([img.local.ids], [img.global.ids]);
//
// encode() = preprocessing -> encoder -> local quantizer (nearest projected LLM-vocabulary embedding per
// position) and, from the CLIP image embedding, the global quantizer (k nearest expanded-vocabulary
// entries). decode() = the decoder on the local token embeddings, cross-attending to the global ones.
// The tokenizer takes loaded parts: the weights in memory, a Codebook, a ClipModel (the interface) and
// the inference engine (`V2LTokenizer.create`). Loading them from paths is the Node-side `loadTokenizer`
// beside it (./load.ts; `V2LTokenizer.load` calls it). Every computation runs on the ONNX engine
// (./onnx-engine.ts: the models src/network emits from its own module definitions and the weights), on
// onnxruntime; no tensor backend is involved. State-dict key names never appear here.
import { generatorShapes } from '../network/declare.js';
import { downFactor, type V2LConfig } from '../network/config.js';
import { CODEBOOK_PREFIX, checkStateDict, heldCodebooks } from '../network/state-dict.js';
import { checkManifest, excludedLocalRows, type Codebook, type CodebookCheck } from '../codebook/package.js';
import type { ClipModel } from '../models/clip/types.js';
import type { RawImage } from '../image/types.js';
import type { HostTensor } from '../io/dtypes.js';
import { loadImage } from '../image/load.js';
import { preprocessOne, type PreprocessMode } from '../image/preprocess.js';
import { fromNCHW } from '../image/pixels.js';
import type { OnProgress } from '../util/progress.js';
import { createHash } from 'node:crypto';
import type { TokenizerWeights } from './weights.js';
import type { OnnxEngine } from './onnx-engine.js';
import type { OnnxDevice } from './onnx-node.js';

export interface LoadTokenizerOptions {
  /** Weights: a project safetensors file (from `v2l train` or `v2l import-official`) or the official `.pth`. */
  checkpoint: string;
  /**
   * A codebook package folder (or one already loaded). Replaces the codebooks held by the checkpoint, if
   * any (a trained checkpoint refuses a codebook different from the one it was trained with), and gives
   * the token strings. Needed when the checkpoint holds no codebooks (the official `.pth`).
   */
  codebook?: string | Codebook;
  /** The frozen CLIP for global tokens (a Hugging Face folder or a loaded model). Needed by encode(). */
  clip?: string | ClipModel;
  /**
   * Configuration fields a `.pth` checkpoint's shapes leave open (cross-attention heads, ...); the rest is
   * read from its tensors. Ignored for files whose metadata carries the configuration.
   */
  config?: Partial<V2LConfig>;
  /** Global tokens per image (default: the checkpoint's training value, else 5 as in the paper). */
  globalTokens?: number;
  /** Refuse images with more pixels than this before decoding (default 100 megapixels; false: no limit). */
  maxPixels?: number | false;
  /** Image side fed to the encoder (default: the checkpoint's, else 128 as in the paper). */
  imageSize?: number;
  /** 'simple' (short side, centre crop) or 'reference' (CLIP's 224 crop, then bilinear). Default 'simple'. */
  preprocess?: PreprocessMode;
  /** Images per network call (default 8). */
  batchSize?: number;
  /** The LLM vocabulary in use, to refuse a codebook built for another one. */
  vocabulary?: CodebookCheck['vocabulary'];
  /**
   * What runs the network: 'onnx', the only engine (onnxruntime, the network exported once per checkpoint
   * into the cache's onnx/ folder). Accepted for the CLI's `--engine onnx`.
   */
  engine?: 'onnx';
  /** onnxruntime execution provider (default cpu) and intra-op threads (default: the cores). */
  device?: OnnxDevice;
  threads?: number;
  /** Folder of cached ONNX exports (default: <cache>/onnx, see V2L_CACHE); null: export in memory. */
  onnxCache?: string | null;
}

export interface EncodedImage {
  source: string;
  /**
   * Global tokens, nearest first. `ids` are ROWS OF THE GLOBAL CODEBOOK (the filtered expanded
   * vocabulary), not LLM token ids; `tokens` their texts; `llmIds` the LLM token ids each entry's text is
   * made of (null where the codebook does not record them, e.g. the official one).
   */
  global: { ids: number[]; tokens: (string | null)[]; llmIds?: (number[] | null)[] };
  /** Local tokens, h rows of w: `ids` ARE LLM VOCABULARY TOKEN IDS (rows of the local codebook), `tokens` their texts. */
  local: { ids: number[][]; tokens: (string | null)[][] };
}

/** Everything the tokenizer is built from, already loaded (see ./load.ts for loading from paths). */
export interface TokenizerParts extends Omit<LoadTokenizerOptions, 'checkpoint' | 'codebook' | 'clip' | 'engine'> {
  weights: TokenizerWeights;
  codebook?: Codebook | null;
  clip?: ClipModel | null;
  /**
   * Builds the inference engine from the final configuration and state dict (`has` tells the network's
   * own keys; `books` the codebook package's rows and the local rows its search leaves out).
   */
  engine: (config: V2LConfig, sd: ReadonlyMap<string, HostTensor>, has: (name: string) => boolean,
    books: { local: Float32Array; global: Float32Array; dim: number; excludedLocal: number[] } | undefined) => Promise<OnnxEngine>;
}

export interface EncodeFailure {
  source: string;
  error: string;
}

export type EncodeResult = EncodedImage | EncodeFailure;

/** Global tokens only (no encoder run): what the understanding tasks need. */
export interface GlobalEncoding {
  source: string;
  global: { ids: number[]; tokens: (string | null)[] };
}

export function isFailure(r: EncodeResult): r is EncodeFailure {
  return 'error' in r;
}

export interface Reconstruction {
  source: string;
  /** The preprocessed input and the decoded image, RGB 8-bit, same size. */
  original: RawImage;
  reconstruction: RawImage;
  encoded: EncodedImage;
}

type Input = string | RawImage;
const describe = (x: Input, i: number) => (typeof x === 'string' ? x : `image[${i}]`);

export class V2LTokenizer {
  /** The network's configuration (codebook rows from the codebooks in use). */
  readonly config: V2LConfig;
  readonly codebook: Codebook | null;
  readonly clip: ClipModel | null;
  readonly globalTokens: number;
  readonly imageSize: number;
  readonly preprocessMode: PreprocessMode;
  readonly batchSize: number;
  /** The weights file; `imageSize` / `globalTokens`: what it was trained with, when it says. */
  readonly weights: Pick<TokenizerWeights, 'path' | 'source' | 'foreign' | 'imageSize' | 'globalTokens'>;
  /** The onnxruntime engine that runs the network. */
  readonly engine: OnnxEngine;
  private readonly maxPixels: number | false | undefined;

  private constructor(init: {
    config: V2LConfig; codebook: Codebook | null; clip: ClipModel | null; globalTokens: number; imageSize: number;
    preprocess: PreprocessMode; batchSize: number; weights: TokenizerWeights; engine: OnnxEngine; maxPixels?: number | false;
  }) {
    this.maxPixels = init.maxPixels;
    this.config = init.config;
    this.engine = init.engine;
    this.codebook = init.codebook;
    this.clip = init.clip;
    this.globalTokens = init.globalTokens;
    this.imageSize = init.imageSize;
    this.preprocessMode = init.preprocess;
    this.batchSize = init.batchSize;
    this.weights = { path: init.weights.path, source: init.weights.source, foreign: init.weights.foreign, imageSize: init.weights.imageSize, globalTokens: init.weights.globalTokens };
  }

  /**
   * Loads weights, codebooks and (optionally) CLIP from paths (Node: ./load.ts), then `create`s the
   * tokenizer; every mismatch is reported before any image work. No tensor backend is needed.
   */
  static async load(opts: LoadTokenizerOptions): Promise<V2LTokenizer> {
    const { loadTokenizer } = await import('./load.js');
    return loadTokenizer(opts);
  }

  /** Builds the tokenizer from loaded parts; every mismatch is reported before any image work. */
  static async create(parts: TokenizerParts): Promise<V2LTokenizer> {
    const { weights } = parts;
    const codebook = parts.codebook ?? null;
    const clip = parts.clip ?? null;
    const file = weights.path;
    const sd = weights.stateDict;
    const held = heldCodebooks(sd);
    if (!codebook && (!held.local || !held.global)) {
      throw new Error(`${file} holds no ${!held.local ? 'local' : 'global'} codebook; pass a codebook package (--codebook <dir>, e.g. one made by \`v2l import-official\` or \`v2l codebook build\`)`);
    }
    if (codebook && codebook.dim !== weights.config.embedDim) {
      throw new Error(`codebook ${codebook.dir} has ${codebook.dim}-d embeddings, the network in ${file} expects ${weights.config.embedDim}-d`);
    }
    if (codebook) checkTrainedCodebooks(file, held, codebook);
    if (clip && clip.dim !== weights.config.embedDim) {
      throw new Error(`CLIP ${clip.id} gives ${clip.dim}-d image embeddings, the network in ${file} and its global codebook are ${weights.config.embedDim}-d`);
    }
    // The CLIP must be the one the codebook was built with (its global entries were ranked by that CLIP).
    if (codebook && clip) checkManifest(codebook.manifest, { clip: { id: clip.id, fingerprint: clip.fingerprint, dim: clip.dim } }, codebook.dir);
    const config: V2LConfig = { ...weights.config };
    if (codebook) {
      config.nLocal = codebook.local.length / codebook.dim;
      config.nGlobal = codebook.global.length / codebook.dim;
    } else {
      config.nLocal = (held.local as HostTensor).shape[0];
      config.nGlobal = (held.global as HostTensor).shape[0];
    }
    const imageSize = parts.imageSize ?? weights.imageSize ?? 128;
    const f = downFactor(config);
    if (!Number.isInteger(imageSize) || imageSize < f || imageSize % f !== 0) {
      throw new Error(`image size ${imageSize} is not a multiple of the encoder's downsampling factor ${f} (${config.chMult.length} levels): use ${Math.max(f, Math.round(imageSize / f) * f)}`);
    }
    const globalTokens = parts.globalTokens ?? weights.globalTokens ?? 5;
    if (!Number.isInteger(globalTokens) || globalTokens < 1 || globalTokens > config.nGlobal) {
      throw new Error(`globalTokens must be an integer in [1, ${config.nGlobal}] (the global codebook's rows; got ${globalTokens})`);
    }
    // Every key and shape is checked before the export (the discriminator is not part of inference).
    const shapes = generatorShapes(config);
    checkStateDict(shapes, new Set(), config.embedDim, sd, { optionalPrefixes: codebook ? [CODEBOOK_PREFIX] : [], ignorePrefixes: ['discriminator.'] });
    const engine = await parts.engine(config, sd, (k) => shapes.has(k), codebook ? { local: codebook.local, global: codebook.global, dim: codebook.dim, excludedLocal: excludedLocalRows(codebook.manifest) } : undefined);
    return new V2LTokenizer({
      config, codebook, clip, globalTokens, imageSize, preprocess: parts.preprocess ?? 'simple',
      batchSize: parts.batchSize ?? 8, weights, engine, maxPixels: parts.maxPixels,
    });
  }

  /** Local token grid side for the configured image size (16 for 128 px). */
  get gridSize(): number {
    return this.imageSize / downFactor(this.config);
  }

  /**
   * Encodes images (file paths or decoded pixels). Unreadable files give a failure entry naming the
   * file; the other images are still encoded. Results are in input order.
   */
  async encode(images: readonly Input[], opts: { onProgress?: OnProgress } = {}): Promise<EncodeResult[]> {
    return (await this.run(images, false, opts.onProgress)).map((r) => ('error' in r ? r : r.encoded));
  }

  /** Encodes then decodes: the preprocessed input and its reconstruction from the tokens. */
  async reconstruct(images: readonly Input[], opts: { onProgress?: OnProgress } = {}): Promise<(Reconstruction | EncodeFailure)[]> {
    return this.run(images, true, opts.onProgress) as Promise<(Reconstruction | EncodeFailure)[]>;
  }

  /**
   * Decodes local token grids ([h][w] ids per image) with global token ids (k per image) into images, on
   * the engine (the same decoder as reconstruct(): the same tokens give the same pixels). Ids are checked
   * against the codebooks.
   */
  async decode(local: readonly (readonly (readonly number[])[])[], global: readonly (readonly number[])[]): Promise<RawImage[]> {
    if (local.length !== global.length) throw new Error(`decode: ${local.length} local grids but ${global.length} global id lists`);
    const out: RawImage[] = [];
    for (let s = 0; s < local.length; s += this.batchSize) {
      const loc = local.slice(s, s + this.batchSize);
      const h = loc[0].length;
      const w = loc[0][0]?.length ?? 0;
      const data = await this.engine.decodeIds(loc, global.slice(s, s + this.batchSize));
      out.push(...fromNCHW(data, [loc.length, this.config.outCh, h * downFactor(this.config), w * downFactor(this.config)]));
    }
    return out;
  }

  /**
   * Identifies what decides the global tokens (the CLIP and the global codebook; not the encoder): keys
   * caches of global tokens, so that a retrained encoder keeps them and another CLIP or codebook never
   * reuses them.
   */
  get globalFingerprint(): string {
    if (!this.globalFp) {
      const h = createHash('sha256');
      h.update(`clip:${this.clip?.fingerprint ?? 'none'}\n`);
      const data = this.engine.globalSearch.codebook.rows;
      h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.globalFp = h.digest('hex');
    }
    return this.globalFp;
  }

  private globalFp: string | null = null;

  /**
   * The k nearest global tokens of each image without running the encoder (CLIP and the global quantizer
   * only; k defaults to `globalTokens`). CLIP sees the file itself with its own preprocessing, as the
   * reference does (tasks-spec.md §0). An unreadable image gives a failure entry; the rest go on.
   */
  async encodeGlobal(images: readonly Input[], opts: { k?: number; onProgress?: OnProgress } = {}): Promise<(GlobalEncoding | EncodeFailure)[]> {
    if (!this.clip) throw new Error('encodeGlobal needs a CLIP for the global tokens: load the tokenizer with `clip` (--clip <dir>)');
    const k = opts.k ?? this.globalTokens;
    if (!Number.isInteger(k) || k < 1 || k > this.config.nGlobal) throw new Error(`k must be an integer in [1, ${this.config.nGlobal}] (got ${k})`);
    const out: (GlobalEncoding | EncodeFailure)[] = [];
    for (let s = 0; s < images.length; s += this.batchSize) {
      const chunk = images.slice(s, s + this.batchSize);
      let emb: Float32Array | null = null;
      try {
        emb = await this.clip.embedImages(chunk);
      } catch {
        emb = null; // one bad image fails the batch: retry one by one below to name it
      }
      const rows: (Float32Array | string)[] = [];
      if (emb) {
        for (let j = 0; j < chunk.length; j++) rows.push(emb.subarray(j * this.config.embedDim, (j + 1) * this.config.embedDim));
      } else {
        for (const x of chunk) {
          try {
            rows.push(await this.clip.embedImages([x]));
          } catch (e) {
            rows.push((e as Error).message);
          }
        }
      }
      const good = rows.flatMap((r, j) => (typeof r === 'string' ? [] : [{ r, j }]));
      let ids: number[][] = [];
      if (good.length) {
        const flat = new Float32Array(good.length * this.config.embedDim);
        good.forEach((g, i) => flat.set(g.r, i * this.config.embedDim));
        const g = await this.engine.globalTokens(flat, good.length, k);
        ids = Array.from({ length: good.length }, (_, i) => Array.from(g.subarray(i * k, (i + 1) * k)));
      }
      let gi = 0;
      rows.forEach((r, j) => {
        const source = describe(chunk[j], s + j);
        if (typeof r === 'string') out.push({ source, error: r });
        else {
          const g = ids[gi++];
          out.push({ source, global: this.globalOf(g) });
        }
      });
      opts.onProgress?.({ stage: 'global tokens', done: Math.min(s + chunk.length, images.length), total: images.length });
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.engine.dispose();
    await this.clip?.dispose();
  }

  private async run(images: readonly Input[], withDecode: boolean, onProgress?: OnProgress): Promise<(Reconstruction | EncodeFailure | { encoded: EncodedImage })[]> {
    if (!this.clip) throw new Error('encode needs a CLIP for the global tokens: load the tokenizer with `clip` (--clip <dir>)');
    const results: (Reconstruction | EncodeFailure | { encoded: EncodedImage })[] = new Array(images.length);
    const per = 3 * this.imageSize * this.imageSize;
    let done = 0;
    // Decode and preprocess at the edge; a bad file fails alone. The next batch loads (sharp, async) while
    // the network runs this one.
    const load = (s: number) => Promise.all(images.slice(s, s + this.batchSize).map(async (x, j) => {
      const source = describe(x, s + j);
      try {
        const raw = typeof x === 'string' ? await loadImage(x, { shrinkTo: this.preprocessMode === 'reference' ? 224 : this.imageSize, maxPixels: this.maxPixels }) : x;
        return { source, raw, pixels: preprocessOne(raw, { size: this.imageSize, mode: this.preprocessMode }) };
      } catch (e) {
        return { source, error: (e as Error).message };
      }
    }));
    let next = images.length ? load(0) : null;
    for (let s = 0; s < images.length; s += this.batchSize) {
      const chunk = images.slice(s, s + this.batchSize);
      const loaded = await next!;
      next = s + this.batchSize < images.length ? load(s + this.batchSize) : null;
      const ok = loaded.flatMap((l, j) => ('error' in l ? [] : [{ ...l, index: s + j }]));
      for (const [j, l] of loaded.entries()) if ('error' in l) results[s + j] = { source: l.source, error: l.error ?? 'unreadable' };
      if (ok.length) {
        let clipEmb: Float32Array;
        try {
          // CLIP sees the original file with its own preprocessing (tasks-spec §0), as in codebook building
          // and training: not the copy shrunk for the encoder, so a file gets the same global tokens everywhere.
          clipEmb = await this.clip.embedImages(ok.map((l) => (typeof images[l.index] === 'string' ? images[l.index] : l.raw)));
        } catch (e) {
          throw new Error(`CLIP image embedding failed for ${ok.map((l) => l.source).join(', ')}: ${(e as Error).message}`);
        }
        const batch = new Float32Array(ok.length * per);
        ok.forEach((l, j) => batch.set(l.pixels, j * per));
        const r = await this.engine.tokenizeBatch(batch, ok.length, this.imageSize, clipEmb, this.globalTokens, withDecode);
        const [lids, gids] = [r.local, r.global];
        const recImages = r.reconstruction ? fromNCHW(r.reconstruction, [ok.length, this.config.outCh, this.imageSize, this.imageSize]) : null;
        const origImages = withDecode ? fromNCHW(batch, [ok.length, 3, this.imageSize, this.imageSize]) : null;
        ok.forEach((l, j) => {
          const encoded: EncodedImage = {
            source: l.source,
            global: this.globalOf(gids[j]),
            local: { ids: lids[j], tokens: lids[j].map((row) => row.map((id) => this.localText(id))) },
          };
          results[l.index] = recImages && origImages
            ? { source: l.source, original: origImages[j], reconstruction: recImages[j], encoded }
            : { encoded };
        });
      }
      done += chunk.length;
      onProgress?.({ stage: withDecode ? 'reconstruct' : 'encode', done, total: images.length });
    }
    return results;
  }

  /** Global ids with their texts and the LLM token ids of each entry. */
  private globalOf(ids: number[]): EncodedImage['global'] {
    return { ids, tokens: ids.map((id) => this.globalText(id)), llmIds: ids.map((id) => this.codebook?.globalEntries[id]?.ids ?? null) };
  }

  private globalText(id: number): string | null {
    return this.codebook?.globalEntries[id]?.text ?? null;
  }

  private localText(id: number): string | null {
    return this.codebook?.localTexts[id] ?? null;
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * A trained checkpoint's decoder only makes sense with the codebooks it was trained with: refuses a
 * package whose rows differ from the ones the checkpoint holds, saying whether the shapes or the values
 * differ.
 */
function checkTrainedCodebooks(file: string, held: { local?: HostTensor; global?: HostTensor }, codebook: Codebook): void {
  for (const [role, t, rows] of [['local', held.local, codebook.local], ['global', held.global, codebook.global]] as const) {
    if (!t) continue;
    const heldRows = t.shape[0];
    const pkgRows = rows.length / codebook.dim;
    if (t.dtype !== 'F32' || heldRows !== pkgRows || t.shape[1] !== codebook.dim) {
      throw new Error(`${file} was trained with a different ${role} codebook ([${t.shape}] ${t.dtype}) than the one in ${codebook.dir} ([${pkgRows},${codebook.dim}]); use the codebook package the checkpoint was trained with`);
    }
    const d = maxAbsDiff(t.data as Float32Array, rows);
    if (d > 1e-5) {
      throw new Error(`${file} was trained with a different ${role} codebook than the one in ${codebook.dir}: same shape [${pkgRows},${codebook.dim}], different values (max difference ${d.toPrecision(3)}); use the codebook package the checkpoint was trained with`);
    }
  }
}
