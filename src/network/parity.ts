// Reference parity: runs every stage of the network on the inputs of the reference parity file (weights,
// inputs, outputs and gradients written by the PyTorch reference; see ../shared/parity/README.md) and
// compares each `outputs/*` and `grads/*` entry. Portable: takes the parsed file, not a path.
import * as tf from '@tensorflow/tfjs-core';
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { configFromReference } from './config.js';
import { V2LNetwork } from './v2l-model.js';

export interface ParityResult {
  name: string;
  max_abs_error: number;
  tolerance: number;
  ok: boolean;
  note?: string;
}

/** Tolerances from the parity README: outputs 1e-4 absolute (reconstruction 1e-3), indices exact, gradients 1e-3 of their max magnitude. */
export const OUTPUT_TOL = 1e-4;
export const RECONSTRUCTION_TOL = 1e-3;
export const GRAD_REL_TOL = 1e-3;

/** A produced value on the host: shape and numbers (float or int64 indices). */
export interface HostValue { shape: readonly number[]; data: ArrayLike<number | bigint> }

function compare(name: string, ref: HostTensor, got: tf.Tensor | null, tolerance: number | 'relative'): ParityResult {
  return compareHost(name, ref, got ? { shape: got.shape, data: got.dataSync() } : null, tolerance);
}

/** Compares one produced value with the reference entry (any engine's output, on the host). */
export function compareHost(name: string, ref: HostTensor, got: HostValue | null, tolerance: number | 'relative'): ParityResult {
  if (!got) return { name, max_abs_error: NaN, tolerance: NaN, ok: false, note: 'not produced' };
  const refShape = ref.shape.length === 1 && ref.shape[0] === 1 ? [] : ref.shape;
  const gotShape = got.shape;
  if (refShape.length !== gotShape.length || refShape.some((d, i) => d !== gotShape[i])) {
    return { name, max_abs_error: NaN, tolerance: NaN, ok: false, note: `shape [${gotShape}] differs from reference [${ref.shape}]` };
  }
  const r = toFloat32(ref);
  let err = 0;
  let mag = 0;
  for (let i = 0; i < r.length; i++) {
    const e = Math.abs(r[i] - Number(got.data[i]));
    if (!(e <= err)) err = Number.isNaN(e) ? Infinity : Math.max(err, e);
    mag = Math.max(mag, Math.abs(r[i]));
  }
  const tol = tolerance === 'relative' ? GRAD_REL_TOL * mag : tolerance;
  return { name, max_abs_error: err, tolerance: tol, ok: err <= tol };
}

/** What a parity file holds, in words: "12 outputs, 98 gradients, 180 weights". */
export function parityContents(file: SafetensorsFile): { outputs: number; grads: number; weights: number; inputs: string[] } {
  const keys = [...file.tensors.keys()];
  const count = (p: string) => keys.filter((k) => k.startsWith(p)).length;
  return { outputs: count('outputs/'), grads: count('grads/'), weights: count('weights/'), inputs: keys.filter((k) => k.startsWith('inputs/')) };
}

/**
 * Runs the parity check; `onResult` sees each result as it is produced. `gradientCheckpointing` runs the
 * network with its blocks checkpointed (the gradients must not change).
 */
export function runParity(file: SafetensorsFile, onResult: (r: ParityResult) => void = () => {}, opts: { gradientCheckpointing?: boolean } = {}): ParityResult[] {
  const { tensors, metadata } = file;
  if (!metadata.config) throw new Error('parity file: __metadata__.config is missing');
  const meta = JSON.parse(metadata.config) as Record<string, unknown>;
  const config = configFromReference(meta);
  const k = typeof meta.k_global === 'number' ? meta.k_global : 5;
  const weights = new Map<string, HostTensor>();
  for (const [name, t] of tensors) if (name.startsWith('weights/')) weights.set(name.slice('weights/'.length), t);
  const need = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`parity file: ${name} is missing`);
    return t;
  };
  const net = new V2LNetwork(config, { gradientCheckpointing: opts.gradientCheckpointing ?? false });
  const results: ParityResult[] = [];
  const report = (r: ParityResult) => {
    results.push(r);
    onResult(r);
  };
  try {
    if (!weights.size) throw new Error('parity file: no weights/* tensors (the network weights the outputs were computed with)');
    // A file may hold outputs only (no grads/*) or no discriminator: check what is there.
    net.loadStateDict(weights, { optionalPrefixes: [...weights.keys()].some((n) => n.startsWith('discriminator.')) ? [] : ['discriminator.'] });
    const hasDisc = [...weights.keys()].some((n) => n.startsWith('discriminator.'));
    tf.tidy(() => {
      const img = need('inputs/image');
      const clip = need('inputs/clip_image_feature');
      const image = tf.tensor4d(toFloat32(img), img.shape as [number, number, number, number]);
      const clipFeat = tf.tensor2d(toFloat32(clip), clip.shape as [number, number]);
      const gradNames = [...tensors.keys()].filter((n) => n.startsWith('grads/') && n !== 'grads/loss').map((n) => n.slice('grads/'.length));
      const vars = gradNames.map((n) => {
        const v = net.params.get(n);
        if (!v) throw new Error(`parity file: grads/${n} names no parameter of the network`);
        return v;
      });
      let out: ReturnType<V2LNetwork['forward']> | null = null;
      const kept: { l1?: tf.Scalar } = {};
      // One backward pass of loss = l1 + vq with the straight-through estimator, as the reference.
      const lossFn = () => {
        const o = net.forward(image, clipFeat, k);
        const l = tf.mean(tf.abs(tf.sub(image, o.reconstruction))) as tf.Scalar;
        out = { ...o };
        for (const t of Object.values(o)) tf.keep(t);
        kept.l1 = tf.keep(l);
        return tf.add(l, o.vqLoss) as tf.Scalar;
      };
      // Without grads/* entries there is nothing to differentiate: a forward pass only.
      const { value: loss, grads } = vars.length ? tf.variableGrads(lossFn, vars) : { value: lossFn(), grads: {} as tf.NamedTensorMap };
      const o = out as unknown as ReturnType<V2LNetwork['forward']>;
      const logitsReal = hasDisc ? net.discriminator(image, { training: false }) : null;
      const logitsFake = hasDisc ? net.discriminator(o.reconstruction, { training: false }) : null;
      const hinge = logitsReal && logitsFake ? tf.mul(0.5, tf.add(tf.mean(tf.relu(tf.sub(1, logitsReal))), tf.mean(tf.relu(tf.add(1, logitsFake))))) : null;
      const gLoss = logitsFake ? tf.neg(tf.mean(logitsFake)) : null;
      const produced: Record<string, [tf.Tensor | null, number | 'relative']> = {
        'outputs/encoder_out': [o.encoderOut, OUTPUT_TOL],
        'outputs/z_normalized': [o.z, OUTPUT_TOL],
        'outputs/projected_local_codebook': [net.projectedCodebook(), OUTPUT_TOL],
        'outputs/local_indices': [o.localIndices, 0],
        'outputs/vq_loss': [o.vqLoss, OUTPUT_TOL],
        'outputs/global_indices': [o.globalIndices, 0],
        'outputs/global_embeddings': [o.globalEmbeddings, OUTPUT_TOL],
        'outputs/reconstruction': [o.reconstruction, RECONSTRUCTION_TOL],
        'outputs/l1_loss': [kept.l1 ?? null, OUTPUT_TOL],
        'outputs/disc_logits_real': [logitsReal, OUTPUT_TOL],
        'outputs/disc_logits_fake': [logitsFake, OUTPUT_TOL],
        'outputs/hinge_d_loss': [hinge, OUTPUT_TOL],
        'outputs/g_loss': [gLoss, OUTPUT_TOL],
        'grads/loss': [loss, OUTPUT_TOL],
      };
      gradNames.forEach((n, i) => {
        const g = grads[vars[i].name];
        produced[`grads/${n}`] = [g ? net.toReferenceLayout(n, g) : null, 'relative'];
      });
      for (const name of [...tensors.keys()].filter((n) => n.startsWith('outputs/') || n.startsWith('grads/')).sort()) {
        const [got, tol] = produced[name] ?? [null, NaN];
        report(produced[name] ? compare(name, tensors.get(name) as HostTensor, got, tol) : { name, max_abs_error: NaN, tolerance: NaN, ok: false, note: 'no stage of the network produces this entry' });
      }
      for (const t of Object.values(o)) t.dispose();
      kept.l1?.dispose();
    });
  } finally {
    net.dispose();
  }
  return results;
}
