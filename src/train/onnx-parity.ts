// Reference parity through the ONNX training graph (`npm run parity -- <file> --engine onnx`): the
// generator step graph (./onnx-step.ts, its intermediates exposed) computes the reference's outputs, its
// loss l1 + vq and the gradients of grads/*; the discriminator's eval-mode logits come from its emitter.
// Tolerances of src/network/parity.ts. Node edge (onnxruntime-node).
import * as ort from 'onnxruntime-node';
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { configFromReference } from '../network/config.js';
import { compareHost, OUTPUT_TOL, RECONSTRUCTION_TOL, type HostValue, type ParityResult } from '../network/parity.js';
import { OnnxEmitter } from '../network/onnx.js';
import { discriminatorOnnx } from '../network/discriminator.onnx.js';
import { GraphBuilder } from '../onnx/graph.js';
import { GeneratorStepSession } from './onnx-session.js';

/** Eval-mode logits of the discriminator for `image`, and the reconstruction's. */
async function discriminatorLogits(sd: Map<string, HostTensor>, nLayers: number, inputs: [string, HostValue][]): Promise<Map<string, HostValue>> {
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, sd);
  const out = new Map<string, HostValue>();
  const shape = [...inputs[0][1].shape];
  const names = inputs.map(([n]) => { g.op('Identity', [discriminatorOnnx(e, n, shape, nLayers, false)], {}, `logits_${n}`); return `logits_${n}`; });
  const io = (n: string) => ({ name: n, type: 'float32' as const, shape: shape.map((_, i) => `d${i}`) });
  const session = await ort.InferenceSession.create(g.build('disc', inputs.map(([n]) => io(n)), names.map(io)));
  const feeds: Record<string, ort.Tensor> = {};
  for (const [n, v] of inputs) feeds[n] = new ort.Tensor('float32', Float32Array.from(v.data as ArrayLike<number>), [...v.shape]);
  const res = await session.run(feeds);
  await session.release();
  for (const n of names) out.set(n, { shape: res[n].dims, data: res[n].data as Float32Array });
  return out;
}

const scalarOf = (v: number): HostValue => ({ shape: [], data: [v] });

export async function runParityOnnx(file: SafetensorsFile, onResult: (r: ParityResult) => void = () => {}): Promise<ParityResult[]> {
  const { tensors, metadata } = file;
  if (!metadata.config) throw new Error('parity file: __metadata__.config is missing');
  const meta = JSON.parse(metadata.config) as Record<string, unknown>;
  const c = configFromReference(meta);
  const k = typeof meta.k_global === 'number' ? meta.k_global : 5;
  const sd = new Map<string, HostTensor>();
  for (const [name, t] of tensors) if (name.startsWith('weights/')) sd.set(name.slice('weights/'.length), t);
  c.nLocal = sd.get('tok_embeddings.weight')!.shape[0];
  c.nGlobal = sd.get('tok_embeddings_global.weight')!.shape[0];
  const image = tensors.get('inputs/image')!;
  const clip = tensors.get('inputs/clip_image_feature')!;
  const [b, , size] = image.shape;
  const trainable = [...sd.keys()].filter((n) => !n.startsWith('discriminator.') && !n.startsWith('tok_embeddings'));
  const step = await GeneratorStepSession.create(c, sd, trainable, { batch: b, imageSize: size, kGlobal: k, recLoss: 'l1', expose: true });
  const out = await step.run({
    params: new Map(trainable.map((n) => [n, toFloat32(sd.get(n)!)])), images: toFloat32(image), clip: toFloat32(clip),
    localCodebook: toFloat32(sd.get('tok_embeddings.weight')!), globalCodebook: toFloat32(sd.get('tok_embeddings_global.weight')!), vqWeight: 1, quantized: true,
  });
  await step.release();
  const raw = (n: string): HostValue => ({ shape: out.raw[n].dims, data: out.raw[n].data as ArrayLike<number> });
  const ids = raw('indices');
  const grid = Math.round(Math.sqrt(ids.shape[0] / b)); // square images: a grid x grid of local tokens
  const produced = new Map<string, [HostValue, number | 'relative']>([
    ['outputs/encoder_out', [raw('encoder_out'), OUTPUT_TOL]],
    ['outputs/z_normalized', [raw('z'), OUTPUT_TOL]],
    ['outputs/projected_local_codebook', [{ shape: [c.nLocal, c.embedDim], data: out.projected }, OUTPUT_TOL]],
    ['outputs/local_indices', [{ shape: [b, grid, grid], data: ids.data }, 0]],
    ['outputs/vq_loss', [scalarOf(out.terms.vq_loss), OUTPUT_TOL]],
    ['outputs/l1_loss', [scalarOf(out.terms.rec_loss), OUTPUT_TOL]],
    ['outputs/reconstruction', [raw('reconstruction'), RECONSTRUCTION_TOL]],
    ['grads/loss', [scalarOf(out.terms.loss), OUTPUT_TOL]],
  ]);
  if (out.raw.global_indices) {
    produced.set('outputs/global_indices', [raw('global_indices'), 0]);
    produced.set('outputs/global_embeddings', [raw('global_embeddings'), OUTPUT_TOL]);
  }
  for (const [n, g] of out.grads) produced.set(`grads/${n}`, [{ shape: sd.get(n)!.shape, data: g }, 'relative']);
  if ([...sd.keys()].some((n) => n.startsWith('discriminator.'))) {
    const logits = await discriminatorLogits(sd, c.discLayers, [['image', { shape: image.shape, data: toFloat32(image) }], ['reconstruction', raw('reconstruction')]]);
    const real = logits.get('logits_image')!;
    const fake = logits.get('logits_reconstruction')!;
    const mean = (v: HostValue, f: (x: number) => number) => { let s = 0; for (let i = 0; i < v.data.length; i++) s += f(Number(v.data[i])); return s / v.data.length; };
    produced.set('outputs/disc_logits_real', [real, OUTPUT_TOL]);
    produced.set('outputs/disc_logits_fake', [fake, OUTPUT_TOL]);
    produced.set('outputs/hinge_d_loss', [scalarOf(0.5 * (mean(real, (x) => Math.max(0, 1 - x)) + mean(fake, (x) => Math.max(0, 1 + x)))), OUTPUT_TOL]);
    produced.set('outputs/g_loss', [scalarOf(-mean(fake, (x) => x)), OUTPUT_TOL]);
  }
  const results: ParityResult[] = [];
  for (const name of [...tensors.keys()].filter((n) => n.startsWith('outputs/') || n.startsWith('grads/')).sort()) {
    const p = produced.get(name);
    const r = p ? compareHost(name, tensors.get(name)!, p[0], p[1]) : { name, max_abs_error: NaN, tolerance: NaN, ok: false, note: 'not produced by the ONNX training graph' };
    results.push(r);
    onResult(r);
  }
  return results;
}
