// The tokenizer in a browser: the files of `v2l export-onnx` (encoder, decoder, the two codebook searches,
// the projected local codebook, manifest.json) on onnxruntime-web through the portable engine
// (../tokenizer/onnx-engine.ts: the same search, re-ranking, encode and decode as Node), a codebook
// package for the global rows and the texts, and a CLIP. encode/decode follow V2LTokenizer's engine
// path (../tokenizer/tokenizer.ts): preprocessing 'simple' on the decoded pixels, CLIP on the decoded
// image with its own preprocessing, global ids = rows of the global codebook, local ids = LLM token ids.
import { LOCAL_SEARCH_INT8_WASM_FILE, OnnxEngine, ONNX_FILES, type OrtRuntime } from '../tokenizer/onnx-engine.js';
import type { V2LConfig } from '../network/config.js';
import { downFactor } from '../network/config.js';
import { excludedLocalRows, type Codebook } from '../codebook/manifest.js';
import type { ClipModel } from '../models/clip/types.js';
import type { RawImage } from '../image/types.js';
import { preprocessOne } from '../image/preprocess.js';
import { fromNCHW } from '../image/pixels.js';
import { InputError } from './image.js';
import { pageInt8Search } from './page-search.js';

/** The export's files the page needs (`v2l export-onnx` writes them, and may write more). */
export const EXPORT_NEEDS = [ONNX_FILES.manifest, ONNX_FILES.encoder, ONNX_FILES.decoder, ONNX_FILES.localSearch, ONNX_FILES.globalSearch, ONNX_FILES.projectedCodebook] as const;

export interface ExportManifest {
  format: string;
  fingerprint: string;
  config: V2LConfig;
  imageSize?: number | null;
  globalTokens?: number | null;
}

export interface TokenChoice {
  id: number;
  /** Squared Euclidean distance to the encoder output (local) or the normalised CLIP embedding (global). */
  distance: number;
}

export interface BrowserEncoding {
  /** The preprocessed input, RGB 8-bit, imageSize square. */
  original: RawImage;
  /** [h][w] local ids (LLM token ids). */
  localIds: number[][];
  /** Global ids (rows of the global codebook), nearest first. */
  globalIds: number[];
  /** With `alternatives`: [h][w][m] nearest local rows (index 0 = the chosen one), and global entries nearest first. */
  localNearest?: TokenChoice[][][];
  globalNearest?: TokenChoice[];
}

function exportManifest(files: ReadonlyMap<string, Uint8Array>): ExportManifest {
  const b = files.get(ONNX_FILES.manifest);
  if (!b) throw new InputError(`the tokenizer export lacks ${ONNX_FILES.manifest} (choose every file \`v2l export-onnx\` wrote)`);
  let m: ExportManifest;
  try {
    m = JSON.parse(new TextDecoder().decode(b)) as ExportManifest;
  } catch (e) {
    throw new InputError(`the tokenizer export's ${ONNX_FILES.manifest} is not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== 'v2l-onnx/1' || !m.config) throw new InputError(`the tokenizer export's ${ONNX_FILES.manifest} is not a v2l ONNX export manifest (format ${JSON.stringify(m.format)})`);
  return m;
}

const sq = (a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number) => {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const d = a[ao + j] - b[bo + j];
    s += d * d;
  }
  return s;
};

export class BrowserTokenizer {
  private constructor(
    readonly engine: OnnxEngine,
    readonly codebook: Codebook,
    readonly clip: ClipModel,
    readonly imageSize: number,
    readonly globalTokens: number,
  ) {}

  get config(): V2LConfig {
    return this.engine.config;
  }

  get gridSize(): number {
    return this.imageSize / downFactor(this.engine.config);
  }

  /** Opens the export on `runtime`, checked against the codebook and the CLIP first (each mismatch named). */
  static async load(files: ReadonlyMap<string, Uint8Array>, codebook: Codebook, clip: ClipModel, runtime: OrtRuntime): Promise<BrowserTokenizer> {
    const m = exportManifest(files);
    const cfg = m.config;
    const nLocal = codebook.local.length / codebook.dim;
    const nGlobal = codebook.global.length / codebook.dim;
    if (cfg.embedDim !== codebook.dim || cfg.nLocal !== nLocal || cfg.nGlobal !== nGlobal) {
      throw new InputError(`the tokenizer export was made for ${cfg.nLocal} local and ${cfg.nGlobal} global rows of width ${cfg.embedDim}; ` +
        `the codebook has ${nLocal} and ${nGlobal} of width ${codebook.dim}: export with this codebook (\`v2l export-onnx --codebook\`)`);
    }
    if (clip.dim !== cfg.embedDim) throw new InputError(`CLIP ${clip.id} gives ${clip.dim}-d embeddings, the tokenizer's global codebook is ${cfg.embedDim}-d`);
    const need = (name: typeof EXPORT_NEEDS[number]) => {
      const b = files.get(name);
      if (!b) throw new InputError(`the tokenizer export lacks ${name} (choose every file \`v2l export-onnx\` wrote)`);
      return b;
    };
    const pb = need(ONNX_FILES.projectedCodebook);
    if (pb.byteLength !== nLocal * cfg.embedDim * 4) {
      throw new InputError(`${ONNX_FILES.projectedCodebook} has ${pb.byteLength.toLocaleString()} bytes, ${nLocal} rows of ${cfg.embedDim} float32 need ${(nLocal * cfg.embedDim * 4).toLocaleString()}: is it truncated?`);
    }
    const projected = new Float32Array(pb.slice().buffer);
    // On wasm the local search takes the int8 first pass where the export has its model (./page-search.ts:
    // the same ids as the float32 search; exports made before it search in float32).
    const int8Bytes = files.get(LOCAL_SEARCH_INT8_WASM_FILE);
    const int8 = runtime.device === 'wasm' && int8Bytes ? pageInt8Search(int8Bytes) : undefined;
    const models = { encoder: need(ONNX_FILES.encoder), decoder: need(ONNX_FILES.decoder), localSearch: need(ONNX_FILES.localSearch), globalSearch: need(ONNX_FILES.globalSearch),
      ...(int8 ? { localSearchInt8: int8 } : {}) };
    // Each model's failure names its file (a cut or foreign file is the usual reason).
    const names = new Map<Uint8Array | string, string>([[models.encoder, ONNX_FILES.encoder], [models.decoder, ONNX_FILES.decoder],
      [models.localSearch, ONNX_FILES.localSearch], [models.globalSearch, ONNX_FILES.globalSearch]]);
    if (int8) names.set(int8.model, LOCAL_SEARCH_INT8_WASM_FILE);
    const named: OrtRuntime = {
      ...runtime,
      tensor: runtime.tensor,
      createSession: async (model, opts) => {
        try {
          return await runtime.createSession(model, opts);
        } catch (e) {
          throw new InputError(`the tokenizer's ${names.get(model) ?? 'ONNX model'} does not load (${(e as Error).message.replace(/[\s;,:]+$/, '') || 'onnxruntime gives no reason'}); is the file complete?`);
        }
      },
    };
    // As V2LTokenizer: the rows the codebook package leaves out of the search (special tokens without text) are skipped.
    const engine = await OnnxEngine.open(named, cfg, m.fingerprint, models, projected, codebook.global, { excludedLocal: excludedLocalRows(codebook.manifest), int8: true });
    const imageSize = m.imageSize ?? cfg.resolution;
    const globalTokens = m.globalTokens ?? 5;
    return new BrowserTokenizer(engine, codebook, clip, imageSize, Math.min(globalTokens, nGlobal));
  }

  /**
   * Tokens of one decoded image. With `alternatives`, also the m nearest local rows per position and the
   * global entries after the chosen ones, with their squared distances (for the viewer).
   */
  async encode(image: RawImage, alternatives?: { local: number; global: number }): Promise<BrowserEncoding> {
    const size = this.imageSize;
    const cfg = this.engine.config;
    const pixels = preprocessOne(image, { size, mode: 'simple' });
    const clipEmb = await this.clip.embedImages([image]);
    const { z, h, w } = await this.engine.encodeZ(pixels, 1, size, size);
    const m = alternatives ? Math.min(alternatives.local, cfg.nLocal) : 1;
    const near = await this.engine.localSearch.nearest(z, h * w, m);
    const kg = alternatives ? Math.min(this.globalTokens + alternatives.global, cfg.nGlobal) : this.globalTokens;
    const gIds = await this.engine.globalTokens(clipEmb, 1, kg);
    const localIds = Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => near[(y * w + x) * m]));
    const out: BrowserEncoding = {
      original: fromNCHW(pixels, [1, 3, size, size])[0],
      localIds,
      globalIds: Array.from(gIds.subarray(0, this.globalTokens)),
    };
    if (alternatives) {
      const dim = cfg.embedDim;
      const rows = this.engine.localSearch.codebook.rows;
      out.localNearest = localIds.map((row, y) => row.map((_, x) => {
        const p = y * w + x;
        return Array.from(near.subarray(p * m, (p + 1) * m), (id) => ({ id, distance: sq(z, p * dim, rows, id * dim, dim) }));
      }));
      let n = 0;
      for (let j = 0; j < dim; j++) n += clipEmb[j] * clipEmb[j];
      const g = clipEmb.map((v) => v / Math.sqrt(n));
      const grows = this.engine.globalSearch.codebook.rows;
      out.globalNearest = Array.from(gIds, (id) => ({ id, distance: sq(g, 0, grows, id * dim, dim) }));
    }
    return out;
  }

  /** The image decoded from local ids [h][w] and global ids, RGB 8-bit. */
  async decode(local: readonly (readonly number[])[], global: readonly number[]): Promise<RawImage> {
    const data = await this.engine.decodeIds([local], [global]);
    return fromNCHW(data, [1, this.engine.config.outCh, this.imageSize, this.imageSize])[0];
  }

  async dispose(): Promise<void> {
    await this.engine.dispose();
    await this.clip.dispose();
  }
}
