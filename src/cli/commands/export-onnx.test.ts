// `v2l export-onnx` end to end: the exported files, run by plain onnxruntime (no v2l code in between),
// reproduce the PyTorch reference's parity outputs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildProgram } from '../main.js';
import { readSafetensors, writeSafetensors } from '../../io/files.js';
import { toFloat32, type HostTensor } from '../../io/dtypes.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';
import { LOCAL_SEARCH_INT8_FILE, LOCAL_SEARCH_INT8_WASM_FILE, ONNX_FILES } from '../../tokenizer/onnx-engine.js';

const PARITY = sharedPath('parity/v2l_reference_parity.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'v2l-cli-onnx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('export-onnx writes models that any onnxruntime runs to the reference outputs', { skip: skipUnless(PARITY, 'the reference parity vectors') }, async () => {
  const f = readSafetensors(PARITY);
  const weights = new Map<string, HostTensor>();
  for (const [k, t] of f.tensors) if (k.startsWith('weights/')) weights.set(k.slice('weights/'.length), t);
  const ckpt = join(tmp, 'tokenizer.safetensors');
  writeSafetensors(ckpt, weights, { config: f.metadata.config });
  const out = join(tmp, 'onnx');
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    await (await buildProgram()).exitOverride().parseAsync(['node', 'v2l', 'export-onnx', '--checkpoint', ckpt, '--out', out]);
  } finally {
    console.log = log;
  }
  const report = JSON.parse(lines.at(-1)!) as { fingerprint: string; files: { name: string; bytes: number }[] };
  // The six files of ONNX_FILES, the Node int8 first pass and the page's (wasm) int8 first pass.
  assert.deepEqual(report.files.map((x) => x.name).sort(), [...Object.values(ONNX_FILES), LOCAL_SEARCH_INT8_FILE, LOCAL_SEARCH_INT8_WASM_FILE].sort());
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { fingerprint: string };
  assert.equal(manifest.fingerprint, report.fingerprint);

  const get = (k: string) => f.tensors.get(k)!;
  const img = get('inputs/image');
  const [n, , H, W] = img.shape;
  const enc = await ort.InferenceSession.create(join(out, 'encoder.onnx'));
  const z = (await enc.run({ image: new ort.Tensor('float32', toFloat32(img), img.shape) })).z;
  const [, h, w, d] = z.dims;
  const zRef = toFloat32(get('outputs/z_normalized')); // NCHW
  const zNchw = new Float32Array(zRef.length);
  const zd = z.data as Float32Array;
  for (let b = 0; b < n; b++) for (let p = 0; p < h * w; p++) for (let c = 0; c < d; c++) zNchw[(b * d + c) * h * w + p] = zd[(b * h * w + p) * d + c];
  assert.ok(maxAbs(zNchw, zRef) <= 1e-4, 'z');

  const projBytes = readFileSync(join(out, 'projected_local_codebook.f32'));
  const projected = new Float32Array(projBytes.buffer.slice(projBytes.byteOffset, projBytes.byteOffset + projBytes.byteLength));
  assert.ok(maxAbs(projected, toFloat32(get('outputs/projected_local_codebook'))) <= 1e-4, 'projected codebook');

  // The search model is fed the codebook and its squared row norms.
  const rows = projected.length / d;
  const sq = Float32Array.from({ length: rows }, (_, r) => projected.subarray(r * d, (r + 1) * d).reduce((a, v) => a + v * v, 0));
  const search = await ort.InferenceSession.create(join(out, 'local_search.onnx'));
  const s = await search.run({ z: new ort.Tensor('float32', zd, [n * h * w, d]), codebook: new ort.Tensor('float32', projected, [rows, d]),
    codebook_sq: new ort.Tensor('float32', sq, [rows]), k: new ort.Tensor('int64', BigInt64Array.of(1n), [1]) });
  assert.deepEqual([...(s.indices.data as BigInt64Array)], [...(get('outputs/local_indices').data as BigInt64Array)], 'local ids');

  // Decoder input: the projected rows at the reference's ids, NCHW; the reference's global embeddings.
  const ids = get('outputs/local_indices').data as BigInt64Array;
  const zq = new Float32Array(n * d * h * w);
  for (let b = 0; b < n; b++) for (let p = 0; p < h * w; p++) for (let c = 0; c < d; c++) zq[(b * d + c) * h * w + p] = projected[Number(ids[b * h * w + p]) * d + c];
  const dec = await ort.InferenceSession.create(join(out, 'decoder.onnx'));
  const g = get('outputs/global_embeddings');
  const rec = (await dec.run({ zq: new ort.Tensor('float32', zq, [n, d, h, w]), global_embeddings: new ort.Tensor('float32', toFloat32(g), g.shape) })).image;
  assert.deepEqual(rec.dims, [n, 3, H, W]);
  assert.ok(maxAbs(rec.data as Float32Array, toFloat32(get('outputs/reconstruction'))) <= 1e-3, 'reconstruction');
  await Promise.all([enc.release(), search.release(), dec.release()]);
});
