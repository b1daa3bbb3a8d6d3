// The frozen CLIP in a browser: the Hugging Face ONNX folder the user chose (config.json,
// preprocessor_config.json, onnx/vision_model.onnx; tokenizer files and onnx/text_model.onnx for texts),
// run by @huggingface/transformers' web build on onnxruntime-web. transformers.js reads model files
// through its cache interface: a cache that answers from the user's files in memory, so nothing is
// fetched. Pixels are preprocessed by the project's own CLIP preprocessing (../models/clip/preprocess.ts),
// as in Node, so the same image gives the same embedding on both sides; the fingerprint is the Node
// one's (sha256 over config.json and the ONNX files, names and bytes, sorted), so a codebook's manifest
// check works the same.
import { env, CLIPVisionModelWithProjection, CLIPTextModelWithProjection, AutoTokenizer, Tensor } from '@huggingface/transformers';
import type { ClipImageInput, ClipModel } from '../models/clip/types.js';
import type { RawImage } from '../image/types.js';
import { clipImageConfig, clipPixelValues, type ClipImageConfig } from '../models/clip/preprocess.js';
import { l2Normalize } from '../models/clip/distance.js';
import { clipTextBatch } from '../models/clip/clean-text.js';
import { InputError } from './image.js';

/** The CLIP folder's files by their path in the folder ("config.json", "onnx/vision_model.onnx"). */
export type ClipFiles = ReadonlyMap<string, Uint8Array>;

/** Where a chosen file goes in the folder: ONNX files under onnx/, the rest at the top. */
export function clipPath(fileName: string): string {
  return fileName.endsWith('.onnx') || fileName.endsWith('.onnx_data') ? `onnx/${fileName}` : fileName;
}

const MODEL_ID = 'v2l-browser-clip';

/** transformers.js' cache interface over the chosen files (keys end with `<model id>/<path>`). */
function filesCache(files: ClipFiles) {
  return {
    async match(key: string | Request): Promise<Response | undefined> {
      const k = typeof key === 'string' ? key : key.url;
      const at = k.lastIndexOf(`${MODEL_ID}/`);
      if (at < 0) return undefined;
      const bytes = files.get(k.slice(at + MODEL_ID.length + 1));
      return bytes ? new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.byteLength) } }) : undefined;
    },
    async put(): Promise<void> {
      // the files are the user's, already in memory (and in the page's own storage)
    },
  };
}

/** sha256 over config.json and the ONNX files, as src/models/clip/transformers-clip.ts fingerprints a folder. */
export async function clipFingerprint(files: ClipFiles): Promise<string> {
  const names = [...files.keys()].filter((f) => f === 'config.json' || f.endsWith('.onnx') || f.endsWith('.onnx_data')).sort();
  const parts: Uint8Array[] = [];
  for (const f of names) parts.push(new TextEncoder().encode(`${f}\0`), files.get(f)!);
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const digest = await crypto.subtle.digest('SHA-256', all);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function json(files: ClipFiles, name: string): Record<string, unknown> {
  const b = files.get(name);
  if (!b) throw new InputError(`the CLIP folder lacks ${name} (expected the Hugging Face ONNX layout: config.json, preprocessor_config.json, onnx/vision_model.onnx)`);
  try {
    return JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`CLIP ${name} is not valid JSON (${(e as Error).message}); is the file cut short?`);
  }
}

type Run = (inputs: Record<string, unknown>) => Promise<Record<string, { data: Float32Array; dims: number[] }>>;

export class BrowserClip implements ClipModel {
  private constructor(
    readonly id: string,
    readonly fingerprint: string,
    readonly dim: number,
    readonly isStandIn: boolean,
    private readonly cfg: ClipImageConfig,
    private readonly vision: { dispose(): Promise<unknown> },
    private readonly text: { model: { dispose(): Promise<unknown> }; encode: (s: string) => number[]; eosId: number; padId: number; maxLength: number } | null,
  ) {}

  /** Loads the vision tower (and the text tower when its files are there) from the chosen files. */
  static async load(files: ClipFiles, opts: { device?: 'wasm' | 'webgpu'; onProgress?: (what: string) => void } = {}): Promise<BrowserClip> {
    const config = json(files, 'config.json');
    const cfg = clipImageConfig(json(files, 'preprocessor_config.json'), 'preprocessor_config.json');
    if (!files.has('onnx/vision_model.onnx')) throw new InputError('the CLIP folder lacks onnx/vision_model.onnx (the Hugging Face ONNX layout)');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.useBrowserCache = false;
    env.useCustomCache = true;
    env.customCache = filesCache(files);
    const common = { device: opts.device ?? 'wasm', dtype: 'fp32', local_files_only: true } as const;
    opts.onProgress?.('CLIP: hashing the files');
    const fingerprint = await clipFingerprint(files);
    opts.onProgress?.('CLIP: loading the vision tower');
    let vision;
    try {
      vision = await CLIPVisionModelWithProjection.from_pretrained(MODEL_ID, common);
    } catch (e) {
      throw new InputError(`CLIP's vision tower (onnx/vision_model.onnx) does not load: ${(e as Error).message}; is the file complete?`);
    }
    let text: BrowserClip['text'] = null;
    if (files.has('onnx/text_model.onnx') && files.has('tokenizer.json')) {
      opts.onProgress?.('CLIP: loading the text tower');
      const model = await CLIPTextModelWithProjection.from_pretrained(MODEL_ID, common);
      const tok = await AutoTokenizer.from_pretrained(MODEL_ID, { local_files_only: true });
      const t = tok as unknown as { eos_token_id?: number; pad_token_id?: number; model_max_length?: number; encode(s: string): number[] };
      const eosId = t.eos_token_id ?? 49407;
      text = { model, encode: (s) => t.encode(s), eosId, padId: t.pad_token_id ?? eosId, maxLength: Math.min(77, Number(t.model_max_length) || 77) };
    }
    const dim = Number(config.projection_dim ?? (config.text_config as Record<string, unknown> | undefined)?.projection_dim ?? 512);
    const isStandIn = config.v2l_stand_in === true;
    const name = String(config._name_or_path || 'clip');
    return new BrowserClip(isStandIn ? `${name} (stand-in)` : name, fingerprint, dim, isStandIn, cfg, vision, text);
  }

  async embedImages(images: readonly ClipImageInput[]): Promise<Float32Array> {
    const raws = images.map((x, i) => {
      if (typeof x === 'string') throw new Error(`image ${i}: in a browser CLIP takes decoded pixels, not a path (${x})`);
      return x as RawImage;
    });
    if (!raws.length) return new Float32Array(0);
    const { data, dims } = clipPixelValues(raws, this.cfg);
    const out = await (this.vision as unknown as Run)({ pixel_values: new Tensor('float32', data, dims) });
    return this.rows(out.image_embeds, 'image_embeds', raws.length);
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array> {
    const t = this.text;
    if (!t) throw new Error(`CLIP ${this.id}: no text tower was chosen (onnx/text_model.onnx and tokenizer.json)`);
    if (!texts.length) return new Float32Array(0);
    const { ids, mask, length: L } = clipTextBatch(t, texts);
    const out = await (t.model as unknown as Run)({ input_ids: new Tensor('int64', ids, [texts.length, L]), attention_mask: new Tensor('int64', mask, [texts.length, L]) });
    return this.rows(out.text_embeds, 'text_embeds', texts.length);
  }

  private rows(t: { data: Float32Array; dims: number[] } | undefined, name: string, n: number): Float32Array {
    if (!t || t.dims.length !== 2 || t.dims[0] !== n || t.dims[1] !== this.dim) {
      throw new Error(`CLIP ${this.id}: "${name}" has shape [${t?.dims ?? 'none'}], expected [${n}, ${this.dim}]`);
    }
    return l2Normalize(t.data, this.dim);
  }

  async dispose(): Promise<void> {
    await this.vision.dispose();
    await this.text?.model.dispose();
  }
}
