// The stand-in CLIP: a small random-weight CLIP written as ONNX in the Hugging Face folder layout, so that
// the real loading code (transformers-clip.ts) runs end to end on machines without real CLIP weights.
// Architecturally it is CLIP (ViT vision tower with class token, pre/post LayerNorm and projection; causal
// text transformer pooled at the end-of-text token, with projection), only narrow and shallow, with
// seeded random weights: its embeddings carry no semantics. Its projection width is 768 like ViT-L/14, so
// codebook and network code paths downstream are the real ones. It tokenizes exactly like real CLIP
// (tokenizer files built from CLIP's BPE merges). It is called a stand-in wherever it appears: config.json
// says `"v2l_stand_in": true` and loaders report `isStandIn`.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GraphBuilder } from '../../onnx/graph.js';
import { clipTokenizerFiles, loadClipBpe, CLIP_VOCAB_SIZE, SOT_ID, EOT_ID } from './clip-bpe.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/atomic.js';
import { CLIP_MEAN, CLIP_STD } from './preprocess.js';
import { SeededRng } from '../../util/random.js';

export const STAND_IN_NAME = 'v2l-stand-in-clip';

export interface StandInOptions {
  /** PRNG seed of all weights (default 0). */
  seed?: number;
  /** Width of both towers (default 64). */
  hidden?: number;
  /** Transformer layers per tower (default 2). */
  layers?: number;
  heads?: number;
  /** Embedding width (default 768, as ViT-L/14). */
  projectionDim?: number;
  /** CLIP's bpe_simple_vocab_16e6.txt.gz; default: V2L_CLIP_MERGES or ../shared/models/clip-tokenizer/. */
  mergesPath?: string;
  /** Vision patch side (default 32). */
  patch?: number;
  /** The text tower's own width, layers and heads (default: the vision tower's). */
  text?: { hidden: number; layers: number; heads: number };
  /**
   * Write the tokenizer files (default true; they need CLIP's merges file). Without them only the vision
   * tower loads, as the tokenizer uses it; text_model.onnx is still written, its bytes do not depend on
   * the merges, so the folder's fingerprint is the same either way.
   */
  tokenizerFiles?: boolean;
}

/**
 * Full-size shapes with random weights, for measuring real CLIP work (`--preset vit-l-14`: CLIP ViT-L/14,
 * 428M parameters, vision 1024 wide x 24 layers on 14 px patches, text 768 x 12). Still a stand-in:
 * its embeddings carry no meaning.
 */
export const STAND_IN_PRESETS: Record<string, StandInOptions> = {
  'vit-l-14': { hidden: 1024, layers: 24, heads: 16, patch: 14, projectionDim: 768, text: { hidden: 768, layers: 12, heads: 12 } },
};

export interface StandInInfo {
  dir: string;
  files: string[];
  parameters: number;
}

const IMAGE_SIZE = 224;
const DEFAULT_PATCH = 32;
const CONTEXT = 77;

/** The merges file to use: explicit, V2L_CLIP_MERGES, or the shared folder beside the repository. */
export function defaultMergesPath(): string | null {
  const candidates = [
    process.env.V2L_CLIP_MERGES,
    new URL('../../../../shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz', import.meta.url).pathname,
  ].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** Seeded normal samples (../../util/random.ts + Box-Muller, both values of each pair). */
function gaussian(seed: number): (n: number, std: number) => Float32Array {
  const rng = new SeededRng((seed ^ 0x9e3779b9) >>> 0);
  const u = (): number => rng.uniformOpen();
  return (n, std) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(u()));
      const th = 2 * Math.PI * u();
      out[i] = r * Math.cos(th) * std;
      if (i + 1 < n) out[i + 1] = r * Math.sin(th) * std;
    }
    return out;
  };
}

interface Dims { hidden: number; heads: number; layers: number; proj: number }

/** Pre-LN transformer layers as CLIP has them: x + attn(ln1(x)), x + mlp(ln2(x)), quick_gelu MLP. */
function encoderLayers(g: GraphBuilder, x: string, d: Dims, rand: (n: number, std: number) => Float32Array, prefix: string, mask?: string): string {
  const H = d.hidden;
  const hd = H / d.heads;
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const zeros = (n: number): Float32Array => new Float32Array(n);
  const linear = (inp: string, name: string, fin: number, fout: number): string =>
    g.op('Add', [g.op('MatMul', [inp, g.weight(`${name}.weight`, [fin, fout], rand(fin * fout, 1 / Math.sqrt(fin)))]),
      g.weight(`${name}.bias`, [fout], rand(fout, 0.02))]);
  const ln = (inp: string, name: string): string =>
    g.op('LayerNormalization', [inp, g.weight(`${name}.weight`, [H], ones(H)), g.weight(`${name}.bias`, [H], zeros(H))], { axis: -1, epsilon: { float: 1e-5 } });
  const headsShape = g.ints(`${prefix}.heads_shape`, [0, 0, d.heads, hd]);
  const mergeShape = g.ints(`${prefix}.merge_shape`, [0, 0, H]);
  const scale = g.scalar(`${prefix}.attn_scale`, 1 / Math.sqrt(hd));
  const gelu = g.scalar(`${prefix}.quick_gelu`, 1.702);
  for (let l = 0; l < d.layers; l++) {
    const p = `${prefix}.layers.${l}`;
    const h = ln(x, `${p}.layer_norm1`);
    const q = g.op('Mul', [linear(h, `${p}.self_attn.q_proj`, H, H), scale]);
    const k = linear(h, `${p}.self_attn.k_proj`, H, H);
    const v = linear(h, `${p}.self_attn.v_proj`, H, H);
    const qh = g.op('Transpose', [g.op('Reshape', [q, headsShape])], { perm: [0, 2, 1, 3] });
    const kh = g.op('Transpose', [g.op('Reshape', [k, headsShape])], { perm: [0, 2, 3, 1] });
    const vh = g.op('Transpose', [g.op('Reshape', [v, headsShape])], { perm: [0, 2, 1, 3] });
    let scores = g.op('MatMul', [qh, kh]);
    if (mask) scores = g.op('Add', [scores, mask]);
    const att = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vh]);
    const merged = g.op('Reshape', [g.op('Transpose', [att], { perm: [0, 2, 1, 3] }), mergeShape]);
    x = g.op('Add', [x, linear(merged, `${p}.self_attn.out_proj`, H, H)]);
    const h2 = ln(x, `${p}.layer_norm2`);
    const f = linear(h2, `${p}.mlp.fc1`, H, 4 * H);
    const act = g.op('Mul', [f, g.op('Sigmoid', [g.op('Mul', [f, gelu])])]);
    x = g.op('Add', [x, linear(act, `${p}.mlp.fc2`, 4 * H, H)]);
  }
  return x;
}

/** pixel_values [B,3,224,224] -> image_embeds [B,proj] (not normalised, as HF's CLIPVisionModelWithProjection). */
function visionModel(d: Dims, seed: number, PATCH: number): { bytes: Uint8Array; parameters: number } {
  const g = new GraphBuilder();
  const rand = gaussian(seed * 2 + 1);
  const H = d.hidden;
  const grid = IMAGE_SIZE / PATCH;
  const conv = g.op('Conv', ['pixel_values', g.weight('vision.patch_embedding.weight', [H, 3, PATCH, PATCH], rand(H * 3 * PATCH * PATCH, 1 / Math.sqrt(3 * PATCH * PATCH)))],
    { kernel_shape: [PATCH, PATCH], strides: [PATCH, PATCH] });
  const patches = g.op('Transpose', [g.op('Reshape', [conv, g.ints('vision.flat_shape', [0, H, -1])])], { perm: [0, 2, 1] });
  const batch = g.op('Slice', [g.op('Shape', ['pixel_values']), g.ints('vision.b0', [0]), g.ints('vision.b1', [1])]);
  const clsShape = g.op('Concat', [batch, g.ints('vision.cls_rest', [1, H])], { axis: 0 });
  const cls = g.op('Expand', [g.weight('vision.class_embedding', [1, 1, H], rand(H, 1)), clsShape]);
  let x = g.op('Concat', [cls, patches], { axis: 1 });
  x = g.op('Add', [x, g.weight('vision.position_embedding', [grid * grid + 1, H], rand((grid * grid + 1) * H, 0.5))]);
  x = g.op('LayerNormalization', [x, g.weight('vision.pre_layrnorm.weight', [H], new Float32Array(H).fill(1)), g.weight('vision.pre_layrnorm.bias', [H], new Float32Array(H))], { axis: -1, epsilon: { float: 1e-5 } });
  x = encoderLayers(g, x, d, rand, 'vision.encoder');
  let pooled = g.op('Gather', [x, g.ints('vision.cls_index', [0], [])], { axis: 1 });
  pooled = g.op('LayerNormalization', [pooled, g.weight('vision.post_layernorm.weight', [H], new Float32Array(H).fill(1)), g.weight('vision.post_layernorm.bias', [H], new Float32Array(H))], { axis: -1, epsilon: { float: 1e-5 } });
  g.op('MatMul', [pooled, g.weight('visual_projection.weight', [H, d.proj], rand(H * d.proj, 1 / Math.sqrt(H)))], {}, 'image_embeds');
  const bytes = g.build('v2l_stand_in_clip_vision', [{ name: 'pixel_values', type: 'float32', shape: ['batch_size', 3, IMAGE_SIZE, IMAGE_SIZE] }],
    [{ name: 'image_embeds', type: 'float32', shape: ['batch_size', d.proj] }], 'v2l stand-in CLIP vision tower: random weights, no semantics');
  return { bytes, parameters: g.parameters };
}

/** input_ids [B,L] -> text_embeds [B,proj], pooled at the first end-of-text token (the highest id). */
function textModel(d: Dims, seed: number): { bytes: Uint8Array; parameters: number } {
  const g = new GraphBuilder();
  const rand = gaussian(seed * 2 + 2);
  const H = d.hidden;
  const tok = g.op('Gather', [g.weight('text.token_embedding.weight', [CLIP_VOCAB_SIZE, H], rand(CLIP_VOCAB_SIZE * H, 1)), 'input_ids'], { axis: 0 });
  const len = g.op('Slice', [g.op('Shape', ['input_ids']), g.ints('text.s1', [1]), g.ints('text.s2', [2])]);
  const pos = g.op('Slice', [g.weight('text.position_embedding.weight', [CONTEXT, H], rand(CONTEXT * H, 0.5)), g.ints('text.zero', [0]), len, g.ints('text.axis0', [0])]);
  let x = g.op('Add', [tok, pos]);
  const causal = new Float32Array(CONTEXT * CONTEXT);
  for (let i = 0; i < CONTEXT; i++) for (let j = i + 1; j < CONTEXT; j++) causal[i * CONTEXT + j] = -1e9;
  const mask = g.op('Slice', [g.weight('text.causal_mask', [CONTEXT, CONTEXT], causal), g.ints('text.zero2', [0, 0]),
    g.op('Concat', [len, len], { axis: 0 }), g.ints('text.axes01', [0, 1])]);
  g.parameters -= CONTEXT * CONTEXT; // a constant, not a parameter
  x = encoderLayers(g, x, d, rand, 'text.encoder', mask);
  x = g.op('LayerNormalization', [x, g.weight('text.final_layer_norm.weight', [H], new Float32Array(H).fill(1)), g.weight('text.final_layer_norm.bias', [H], new Float32Array(H))], { axis: -1, epsilon: { float: 1e-5 } });
  // CLIP pools at argmax(input_ids): <|endoftext|> has the highest id. ArgMax on float ids (exact below 2^24).
  const eos = g.op('ArgMax', [g.op('Cast', ['input_ids'], { to: 1 })], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [x, eos], { batch_dims: 1 });
  g.op('MatMul', [pooled, g.weight('text_projection.weight', [H, d.proj], rand(H * d.proj, 1 / Math.sqrt(H)))], {}, 'text_embeds');
  const bytes = g.build('v2l_stand_in_clip_text', [{ name: 'input_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] }],
    [{ name: 'text_embeds', type: 'float32', shape: ['batch_size', d.proj] }], 'v2l stand-in CLIP text tower: random weights, no semantics');
  return { bytes, parameters: g.parameters };
}

/**
 * Writes the stand-in CLIP into `dir` (config.json, preprocessor_config.json, tokenizer files,
 * onnx/vision_model.onnx, onnx/text_model.onnx). Each file is written atomically; config.json last, so a
 * folder with config.json is complete.
 */
export function writeStandInClip(dir: string, opts: StandInOptions = {}): StandInInfo {
  const seed = opts.seed ?? 0;
  const d: Dims = { hidden: opts.hidden ?? 64, heads: opts.heads ?? 4, layers: opts.layers ?? 2, proj: opts.projectionDim ?? 768 };
  const dt: Dims = opts.text ? { ...opts.text, proj: d.proj } : d;
  const patch = opts.patch ?? DEFAULT_PATCH;
  for (const x of [d, dt]) if (x.hidden % x.heads !== 0) throw new Error(`stand-in CLIP: hidden ${x.hidden} is not divisible by heads ${x.heads}`);
  if (IMAGE_SIZE % patch !== 0) throw new Error(`stand-in CLIP: patch ${patch} does not divide ${IMAGE_SIZE}`);
  const withTokenizer = opts.tokenizerFiles ?? true;
  const mergesPath = withTokenizer ? opts.mergesPath ?? defaultMergesPath() : null;
  if (withTokenizer && !mergesPath) {
    throw new Error('stand-in CLIP: CLIP\'s BPE merges file (bpe_simple_vocab_16e6.txt.gz, from github.com/openai/CLIP, clip/) was not found; ' +
      'pass its path (--merges) or set V2L_CLIP_MERGES');
  }
  const bpe = mergesPath ? loadClipBpe(mergesPath) : null;
  const root = resolve(dir);
  mkdirSync(join(root, 'onnx'), { recursive: true });
  const files: string[] = [];
  const put = (name: string, data: Uint8Array | string): void => {
    writeFileAtomic(join(root, name), data);
    files.push(name);
  };
  if (bpe) for (const [name, text] of Object.entries(clipTokenizerFiles(bpe))) put(name, text);
  const vision = visionModel(d, seed, patch);
  put('onnx/vision_model.onnx', vision.bytes);
  const text = textModel(dt, seed);
  put('onnx/text_model.onnx', text.bytes);
  writeJsonAtomic(join(root, 'preprocessor_config.json'), {
    image_processor_type: 'CLIPImageProcessor', processor_class: 'CLIPProcessor',
    do_convert_rgb: true, do_resize: true, size: { shortest_edge: IMAGE_SIZE }, resample: 3,
    do_center_crop: true, crop_size: { height: IMAGE_SIZE, width: IMAGE_SIZE },
    do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: CLIP_MEAN, image_std: CLIP_STD,
  });
  files.push('preprocessor_config.json');
  const tower = (t: Dims, extra: Record<string, unknown>) => ({
    hidden_size: t.hidden, intermediate_size: 4 * t.hidden, num_attention_heads: t.heads, num_hidden_layers: t.layers,
    hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, projection_dim: d.proj, ...extra,
  });
  writeJsonAtomic(join(root, 'config.json'), {
    _name_or_path: STAND_IN_NAME,
    v2l_stand_in: true,
    v2l_stand_in_note: 'STAND-IN: random weights generated by v2l for tests and demos; its embeddings carry no meaning.',
    v2l_stand_in_seed: seed,
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: d.proj,
    text_config: tower(dt, { model_type: 'clip_text_model', vocab_size: CLIP_VOCAB_SIZE, max_position_embeddings: CONTEXT, bos_token_id: SOT_ID, eos_token_id: EOT_ID, pad_token_id: EOT_ID }),
    vision_config: tower(d, { model_type: 'clip_vision_model', image_size: IMAGE_SIZE, patch_size: patch, num_channels: 3 }),
  });
  files.push('config.json');
  return { dir: root, files, parameters: vision.parameters + text.parameters };
}
