// The frozen CLIP on @huggingface/transformers (onnxruntime-node), loaded from a local folder in the
// Hugging Face layout: config.json, preprocessor_config.json, tokenizer files, onnx/vision_model.onnx and
// onnx/text_model.onnx (the layout of Xenova/clip-vit-large-patch14 and of our stand-in). Remote access is
// off unless the caller asks for it. Image files are decoded by src/image/load.ts (EXIF orientation,
// BMP, grey, alpha onto white, 16-bit); images then go through CLIP's own preprocessing (./preprocess.ts:
// Pillow-exact bicubic short side to 224, centre crop, CLIP mean/std). A file and the same pixels given
// as a RawImage take the same path, so their embeddings agree. Node edge.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
// @huggingface/transformers (and onnxruntime under it) is loaded on the first loadClip, not at import.
import type { RawImage as HfRawImage } from '@huggingface/transformers';
type Hf = typeof import('@huggingface/transformers');
import type { ClipImageInput, ClipModel } from './types.js';
import type { RawImage } from '../../image/types.js';
import { EOT_ID } from './clip-bpe.js';
import { cleanText, clipTextBatch } from './clean-text.js';

export { cleanText };
import { PRESETS, presetDir, pullPreset, cacheRoot, MARKER_FILE } from '../hub.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { clipImageConfig, clipPixelValues, type ClipImageConfig } from './preprocess.js';
import { loadImage } from '../../image/load.js';

export interface LoadClipOptions {
  /** onnxruntime device (default 'cpu'). */
  device?: 'cpu' | 'cuda' | 'webgpu' | 'dml' | 'coreml';
  /** Weight variant: 'fp32' -> onnx/*_model.onnx, 'fp16' -> *_fp16.onnx, 'q8' -> *_quantized.onnx … (default fp32). */
  dtype?: 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'bnb4' | 'q4f16';
  /** Images or texts per model call (default 32). */
  batchSize?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /**
   * When `dir` is not a folder but a preset name (src/models/hub.ts), download the preset into the cache
   * first (default false: nothing touches the network). transformers.js itself always runs local-only.
   */
  allowDownload?: boolean;
  /** Cache root for preset names (default: V2L_CACHE or ~/.cache/v2l). */
  cacheDir?: string;
  /**
   * Image preprocessing: 'clip' (default) is OpenAI CLIP's (Pillow-exact antialiased bicubic, torchvision
   * crop); 'transformers' is transformers.js's processor (libvips affine bicubic, no antialiasing).
   */
  preprocessing?: 'clip' | 'transformers';
  /** Images decoded at once (default 4). */
  decodeConcurrency?: number;
  /** Which towers to load (default both); a missing tower's methods throw. */
  towers?: { vision?: boolean; text?: boolean };
}

/** Files a CLIP folder needs, relative to it. */
export function requiredClipFiles(dtype: LoadClipOptions['dtype'] = 'fp32', towers = { vision: true, text: true }): string[] {
  const suffix: Record<string, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', bnb4: '_bnb4', q4f16: '_q4f16' };
  const s = suffix[dtype] ?? '';
  const files = ['config.json'];
  if (towers.text) files.push('tokenizer.json', 'tokenizer_config.json', `onnx/text_model${s}.onnx`);
  if (towers.vision) files.push('preprocessor_config.json', `onnx/vision_model${s}.onnx`);
  return files;
}

/** sha256 over config.json and the ONNX files (names and bytes, in sorted order), streamed. */
export async function fingerprintClip(dir: string, files: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of [...files].filter((f) => f === 'config.json' || f.endsWith('.onnx') || f.endsWith('.onnx_data')).sort()) {
    h.update(`${f}\0`);
    await new Promise<void>((res, rej) => {
      createReadStream(join(dir, f), { highWaterMark: 1 << 22 })
        .on('data', (chunk) => h.update(chunk))
        .on('end', () => res())
        .on('error', rej);
    });
  }
  return h.digest('hex');
}

/**
 * fingerprintClip, remembered across runs in <cache>/clip-fingerprints.json keyed by the folder and each
 * file's size and mtime (hashing a ViT-L/14 export reads 1.7 GB). Unwritable caches are ignored.
 */
async function fingerprintCached(dir: string, files: readonly string[], cacheDir?: string): Promise<string> {
  const stamp = files.map((f) => {
    const st = statSync(join(dir, f));
    return `${f}:${st.size}:${st.mtimeMs}`;
  }).sort().join('|');
  const memo = join(cacheRoot(cacheDir), 'clip-fingerprints.json');
  let table: Record<string, { stamp: string; sha256: string }> = {};
  try {
    table = JSON.parse(readFileSync(memo, 'utf8')) as typeof table;
  } catch {
    table = {};
  }
  const hit = table[dir];
  if (hit && hit.stamp === stamp && /^[0-9a-f]{64}$/.test(hit.sha256)) return hit.sha256;
  const sha256 = await fingerprintClip(dir, files);
  try {
    writeJsonAtomic(memo, { ...table, [dir]: { stamp, sha256 } });
  } catch {
    // A read-only cache only costs the hash next time.
  }
  return sha256;
}

function l2NormalizeRows(data: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let o = 0; o < data.length; o += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += data[o + d] * data[o + d];
    const k = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dim; d++) out[o + d] = data[o + d] * k;
  }
  return out;
}

function checkRaw(img: RawImage, what: string): RawImage {
  const { width, height, channels, data } = img;
  if (![1, 3, 4].includes(channels)) throw new Error(`${what}: unsupported channel count ${channels}`);
  if (!(width > 0 && height > 0) || data.length !== width * height * channels) {
    throw new Error(`${what}: ${data.length} bytes do not match ${width}x${height}x${channels}`);
  }
  return img;
}

/** A v2l RawImage as transformers' RawImage (for the 'transformers' preprocessing). */
function toHfImage(hf: Hf, img: RawImage): HfRawImage {
  return new hf.RawImage(new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), img.width, img.height, img.channels);
}

/** Decodes inputs (files with at most `concurrency` in flight); errors name the file or the index. */
async function decodeAll(inputs: readonly ClipImageInput[], offset: number, concurrency: number): Promise<RawImage[]> {
  const out = new Array<RawImage>(inputs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const k = next++;
      const x = inputs[k];
      out[k] = typeof x === 'string' ? await loadImage(x) : checkRaw(x, `image ${offset + k}`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, inputs.length)) }, worker));
  return out;
}

type Callable = (inputs: Record<string, unknown>) => Promise<Record<string, { data: Float32Array; dims: number[] }>>;

class TransformersClip implements ClipModel {
  constructor(
    readonly id: string,
    readonly fingerprint: string,
    readonly dim: number,
    readonly isStandIn: boolean,
    private readonly hf: Hf,
    private readonly batchSize: number,
    private readonly vision: { model: { dispose(): Promise<unknown> }; run: Callable; pixels: (imgs: RawImage[]) => Promise<unknown>; concurrency: number } | null,
    private readonly text: { model: { dispose(): Promise<unknown> }; run: Callable; encode: (t: string) => number[]; padId: number; eosId: number; maxLength: number } | null,
  ) {}

  async embedImages(images: readonly ClipImageInput[]): Promise<Float32Array> {
    if (!this.vision) throw new Error(`CLIP ${this.id}: the vision tower was not loaded`);
    const v = this.vision;
    const out = new Float32Array(images.length * this.dim);
    // The next batch is decoded and preprocessed while onnxruntime runs the current one on its threads.
    const prepare = (start: number): Promise<unknown> => {
      const p = decodeAll(images.slice(start, start + this.batchSize), start, v.concurrency).then((d) => v.pixels(d));
      p.catch(() => undefined); // awaited below; this only stops an early failure counting as unhandled
      return p;
    };
    let next = images.length ? prepare(0) : null;
    for (let start = 0; start < images.length; start += this.batchSize) {
      const n = Math.min(this.batchSize, images.length - start);
      const running = v.run({ pixel_values: await next });
      next = start + this.batchSize < images.length ? prepare(start + this.batchSize) : null;
      const res = await running;
      out.set(this.check(res.image_embeds, 'image_embeds', n), start * this.dim);
    }
    return out;
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array> {
    if (!this.text) throw new Error(`CLIP ${this.id}: the text tower was not loaded`);
    const t = this.text;
    const out = new Float32Array(texts.length * this.dim);
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const chunk = texts.slice(start, start + this.batchSize);
      const { ids, mask, length: L } = clipTextBatch(t, chunk);
      const res = await t.run({
        input_ids: new this.hf.Tensor('int64', ids, [chunk.length, L]),
        attention_mask: new this.hf.Tensor('int64', mask, [chunk.length, L]),
      });
      out.set(this.check(res.text_embeds, 'text_embeds', chunk.length), start * this.dim);
    }
    return out;
  }

  private check(t: { data: Float32Array; dims: number[] } | undefined, name: string, n: number): Float32Array {
    if (!t) throw new Error(`CLIP ${this.id}: the model returned no "${name}" output`);
    if (t.dims.length !== 2 || t.dims[0] !== n || t.dims[1] !== this.dim) {
      throw new Error(`CLIP ${this.id}: "${name}" has shape [${t.dims}], expected [${n}, ${this.dim}]`);
    }
    return l2NormalizeRows(t.data, this.dim);
  }

  async dispose(): Promise<void> {
    await this.vision?.model.dispose();
    await this.text?.model.dispose();
  }
}

/**
 * Loads a CLIP from a local Hugging Face-layout folder, or from the cache by preset name
 * (`clip-vit-large-patch14`; downloaded first only with `allowDownload`). Errors name the missing file.
 */
export async function loadClip(dir: string, opts: LoadClipOptions = {}): Promise<ClipModel> {
  let root = resolve(dir);
  if (!existsSync(root) && PRESETS.some((p) => p.name === dir && p.kind === 'clip')) {
    root = presetDir(dir, opts.cacheDir);
    if (!existsSync(join(root, MARKER_FILE)) && opts.allowDownload) await pullPreset(dir, { cacheDir: opts.cacheDir });
  }
  const towers = { vision: opts.towers?.vision ?? true, text: opts.towers?.text ?? true };
  const dtype = opts.dtype ?? 'fp32';
  const files = requiredClipFiles(dtype, towers);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    const hint = root === resolve(dir) ? '' : ` (preset "${dir}" is not in the cache: \`v2l models pull ${dir}\`, or allowDownload)`;
    throw new Error(`CLIP model folder "${root}" does not exist${hint}`);
  }
  for (const f of files) {
    if (!existsSync(join(root, f))) {
      throw new Error(`CLIP model folder "${root}" lacks "${f}" (expected the Hugging Face ONNX layout: ${files.join(', ')})`);
    }
  }
  const hf: Hf = await import('@huggingface/transformers');
  const { AutoImageProcessor, AutoTokenizer, CLIPTextModelWithProjection, CLIPVisionModelWithProjection, Tensor, env } = hf;
  // Local files only: transformers.js never reaches the network from here.
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.useFSCache = false;

  const config = JSON.parse(readFileSync(join(root, 'config.json'), 'utf8')) as Record<string, unknown>;
  const isStandIn = config.v2l_stand_in === true;
  const session_options = opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {};
  const common = { device: opts.device ?? 'cpu', dtype, local_files_only: true, session_options } as const;

  let vision: ConstructorParameters<typeof TransformersClip>[6] = null;
  let text: ConstructorParameters<typeof TransformersClip>[7] = null;
  const loaded: { dispose(): Promise<unknown> }[] = [];
  try {
    if (towers.vision) {
      const model = await CLIPVisionModelWithProjection.from_pretrained(root, common);
      loaded.push(model);
      let pixels: (imgs: RawImage[]) => Promise<unknown>;
      if ((opts.preprocessing ?? 'clip') === 'clip') {
        const cfgFile = join(root, 'preprocessor_config.json');
        const cfg: ClipImageConfig = clipImageConfig(JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>, cfgFile);
        pixels = async (imgs) => {
          const { data, dims } = clipPixelValues(imgs, cfg);
          return new Tensor('float32', data, dims);
        };
      } else {
        const processor = await AutoImageProcessor.from_pretrained(root, { local_files_only: true });
        // transformers.js reads an integer `size` (older CLIP configs: "size": 224) as a bound on BOTH
        // sides; CLIP means the shortest side (Python's CLIPImageProcessor: default_to_square=False).
        const p = processor as unknown as { size: unknown; crop_size: unknown };
        if (typeof p.size === 'number') p.size = { shortest_edge: p.size };
        if (typeof p.crop_size === 'number') p.crop_size = { height: p.crop_size, width: p.crop_size };
        const call = processor as unknown as (i: HfRawImage[]) => Promise<{ pixel_values: unknown }>;
        pixels = async (imgs) => (await call(imgs.map((i) => toHfImage(hf, i)))).pixel_values;
      }
      vision = { model, run: (inputs) => (model as unknown as Callable)(inputs), pixels, concurrency: Math.max(1, opts.decodeConcurrency ?? 4) };
    }
    if (towers.text) {
      const model = await CLIPTextModelWithProjection.from_pretrained(root, common);
      loaded.push(model);
      const tok = await AutoTokenizer.from_pretrained(root, { local_files_only: true });
      const eosId = (tok as unknown as { eos_token_id?: number }).eos_token_id ?? EOT_ID;
      const padId = (tok as unknown as { pad_token_id?: number }).pad_token_id ?? eosId;
      const maxLength = Math.min(77, Number((tok as unknown as { model_max_length?: number }).model_max_length) || 77);
      text = {
        model,
        run: (inputs) => (model as unknown as Callable)(inputs),
        encode: (s) => tok.encode(s),
        padId, eosId, maxLength,
      };
    }
  } catch (err) {
    await Promise.allSettled(loaded.map((m) => m.dispose()));
    throw new Error(`CLIP model folder "${root}" failed to load: ${(err as Error).message}`);
  }
  const dim = Number(config.projection_dim ?? (config.text_config as Record<string, unknown> | undefined)?.projection_dim ?? 512);
  // Over both towers' files whichever towers were loaded, so that the fingerprint names the folder.
  const fpFiles = requiredClipFiles(dtype, { vision: true, text: true })
    .flatMap((f) => (f.endsWith('.onnx') ? [f, `${f}_data`] : [f]))
    .filter((f) => existsSync(join(root, f)));
  const fingerprint = await fingerprintCached(root, fpFiles, opts.cacheDir);
  const id = isStandIn ? `${String(config._name_or_path ?? 'stand-in')} (stand-in)` : String(config._name_or_path || basename(root)) || basename(root);
  return new TransformersClip(id, fingerprint, dim, isStandIn, hf, Math.max(1, opts.batchSize ?? 32), vision, text);
}

