// The stand-in's ONNX graphs compute CLIP's architecture: each tower is run in onnxruntime and, from the
// same weights read back out of the ONNX file, by a plain JS forward pass written from the CLIP
// definition (pre-LN transformer, quick_gelu, class-token / end-of-text pooling, projection).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { writeStandInClip } from './stand-in.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const merges = new URL('../../../../shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz', import.meta.url).pathname;
const skip = skipUnless(merges, "CLIP's BPE merges");
const H = 16, HEADS = 2, LAYERS = 2, PROJ = 24;
let dir = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-standin-'));
  writeStandInClip(dir, { seed: 3, mergesPath: merges, hidden: H, heads: HEADS, layers: LAYERS, projectionDim: PROJ });
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function weights(file: string): Map<string, Float32Array> {
  const m = onnxProto.onnx.ModelProto.decode(readFileSync(file));
  const out = new Map<string, Float32Array>();
  for (const t of m.graph!.initializer!) {
    if (t.dataType !== 1) continue;
    const raw = t.rawData!;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    out.set(t.name!, Float32Array.from({ length: raw.byteLength / 4 }, (_, i) => dv.getFloat32(i * 4, true)));
  }
  return out;
}

type Mat = Float64Array; // [rows, cols] row-major
function linear(x: Mat, rows: number, w: Float32Array, fin: number, fout: number, b?: Float32Array): Mat {
  const y = new Float64Array(rows * fout);
  for (let r = 0; r < rows; r++) for (let o = 0; o < fout; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < fin; i++) s += x[r * fin + i] * w[i * fout + o];
    y[r * fout + o] = s;
  }
  return y;
}
function layerNorm(x: Mat, rows: number, g: Float32Array, b: Float32Array): Mat {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mu = 0, v = 0;
    for (let i = 0; i < H; i++) mu += x[r * H + i] / H;
    for (let i = 0; i < H; i++) v += (x[r * H + i] - mu) ** 2 / H;
    for (let i = 0; i < H; i++) y[r * H + i] = ((x[r * H + i] - mu) / Math.sqrt(v + 1e-5)) * g[i] + b[i];
  }
  return y;
}
function encoder(x: Mat, T: number, w: Map<string, Float32Array>, prefix: string, causal: boolean): Mat {
  const hd = H / HEADS;
  const W = (n: string) => w.get(`${prefix}.${n}`)!;
  for (let l = 0; l < LAYERS; l++) {
    const p = `layers.${l}`;
    const h = layerNorm(x, T, W(`${p}.layer_norm1.weight`), W(`${p}.layer_norm1.bias`));
    const q = linear(h, T, W(`${p}.self_attn.q_proj.weight`), H, H, W(`${p}.self_attn.q_proj.bias`));
    const k = linear(h, T, W(`${p}.self_attn.k_proj.weight`), H, H, W(`${p}.self_attn.k_proj.bias`));
    const v = linear(h, T, W(`${p}.self_attn.v_proj.weight`), H, H, W(`${p}.self_attn.v_proj.bias`));
    const att = new Float64Array(T * H);
    for (let hh = 0; hh < HEADS; hh++) for (let i = 0; i < T; i++) {
      const s: number[] = [];
      for (let j = 0; j < T; j++) {
        if (causal && j > i) { s.push(-Infinity); continue; }
        let d = 0;
        for (let c = 0; c < hd; c++) d += q[i * H + hh * hd + c] * k[j * H + hh * hd + c];
        s.push(d / Math.sqrt(hd));
      }
      const mx = Math.max(...s);
      const e = s.map((z) => Math.exp(z - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < T; j++) for (let c = 0; c < hd; c++) att[i * H + hh * hd + c] += (e[j] / sum) * v[j * H + hh * hd + c];
    }
    const o = linear(att, T, W(`${p}.self_attn.out_proj.weight`), H, H, W(`${p}.self_attn.out_proj.bias`));
    x = x.map((z, i) => z + o[i]);
    const h2 = layerNorm(x, T, W(`${p}.layer_norm2.weight`), W(`${p}.layer_norm2.bias`));
    const f = linear(h2, T, W(`${p}.mlp.fc1.weight`), H, 4 * H, W(`${p}.mlp.fc1.bias`)).map((z) => z / (1 + Math.exp(-1.702 * z)));
    const f2 = linear(f, T, W(`${p}.mlp.fc2.weight`), 4 * H, H, W(`${p}.mlp.fc2.bias`));
    x = x.map((z, i) => z + f2[i]);
  }
  return x;
}
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  assert.equal(a.length, b.length);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * scale, `[${i}] ${a[i]} vs ${b[i]}`);
}

test('text tower: token + position embeddings, causal layers, final LN, pooled at the first <|endoftext|>, projected', { skip }, async () => {
  const file = join(dir, 'onnx/text_model.onnx');
  const w = weights(file);
  const ids = [49406, 320, 1125, 539, 320, 2368, 49407, 49407, 49407];
  const T = ids.length;
  const sess = await ort.InferenceSession.create(file);
  const res = await sess.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]) });
  const tok = w.get('text.token_embedding.weight')!, pos = w.get('text.position_embedding.weight')!;
  let x: Mat = new Float64Array(T * H).map((_, i) => tok[ids[Math.floor(i / H)] * H + (i % H)] + pos[i]);
  x = encoder(x, T, w, 'text.encoder', true);
  x = layerNorm(x, T, w.get('text.final_layer_norm.weight')!, w.get('text.final_layer_norm.bias')!);
  const eos = ids.indexOf(49407);
  const ref = linear(x.subarray(eos * H, (eos + 1) * H), 1, w.get('text_projection.weight')!, H, PROJ);
  close(res.text_embeds.data as Float32Array, ref, 1e-4);
  await sess.release();
});

test('vision tower: 32 px patches, class token, positions, pre-LN, layers, post-LN of the class token, projected', { skip }, async () => {
  const file = join(dir, 'onnx/vision_model.onnx');
  const w = weights(file);
  const S = 224, P = 32, G = 7, T = 50;
  const px = new Float32Array(3 * S * S).map((_, i) => Math.sin(i * 0.001) * 2);
  const sess = await ort.InferenceSession.create(file);
  const res = await sess.run({ pixel_values: new ort.Tensor('float32', px, [1, 3, S, S]) });
  const conv = w.get('vision.patch_embedding.weight')!, cls = w.get('vision.class_embedding')!, pos = w.get('vision.position_embedding')!;
  let x: Mat = new Float64Array(T * H);
  for (let o = 0; o < H; o++) x[o] = cls[o] + pos[o];
  for (let gy = 0; gy < G; gy++) for (let gx = 0; gx < G; gx++) {
    const t = 1 + gy * G + gx;
    for (let o = 0; o < H; o++) {
      let s = 0;
      for (let c = 0; c < 3; c++) for (let ky = 0; ky < P; ky++) for (let kx = 0; kx < P; kx++) {
        s += conv[((o * 3 + c) * P + ky) * P + kx] * px[(c * S + gy * P + ky) * S + gx * P + kx];
      }
      x[t * H + o] = s + pos[t * H + o];
    }
  }
  x = layerNorm(x, T, w.get('vision.pre_layrnorm.weight')!, w.get('vision.pre_layrnorm.bias')!);
  x = encoder(x, T, w, 'vision.encoder', false);
  const pooled = layerNorm(x.subarray(0, H), 1, w.get('vision.post_layernorm.weight')!, w.get('vision.post_layernorm.bias')!);
  const ref = linear(pooled, 1, w.get('visual_projection.weight')!, H, PROJ);
  close(res.image_embeds.data as Float32Array, ref, 1e-4);
  await sess.release();
});

test('without its tokenizer files (no merges file needed) the stand-in has the same fingerprint, and loads its vision tower', { skip }, async () => {
  const { fingerprintClip, loadClip } = await import('./transformers-clip.js');
  const bare = mkdtempSync(join(tmpdir(), 'v2l-standin-bare-'));
  try {
    const info = writeStandInClip(bare, { seed: 3, hidden: H, heads: HEADS, layers: LAYERS, projectionDim: PROJ, tokenizerFiles: false, mergesPath: '/nonexistent' });
    assert.ok(!info.files.some((f) => f.startsWith('tokenizer') || f === 'vocab.json' || f === 'merges.txt'), info.files.join(', '));
    const full = writeStandInClip(dir, { seed: 3, mergesPath: merges, hidden: H, heads: HEADS, layers: LAYERS, projectionDim: PROJ });
    assert.equal(await fingerprintClip(bare, info.files), await fingerprintClip(dir, full.files));
    const clip = await loadClip(bare, { towers: { vision: true, text: false }, cacheDir: bare });
    try {
      const e = await clip.embedImages([{ width: 8, height: 8, channels: 3, data: new Uint8Array(192).fill(90) }]);
      assert.equal(e.length, PROJ);
      assert.ok(e.every(Number.isFinite));
    } finally {
      await clip.dispose();
    }
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
});
