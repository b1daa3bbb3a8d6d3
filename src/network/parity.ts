// Reference parity: the tolerances and the comparison of produced values with the `outputs/*` and `grads/*`
// entries of the reference parity file (weights, inputs, outputs and gradients written by the PyTorch
// reference; see ../shared/parity/README.md). The network runs in ../train/onnx-parity.ts (the training
// graph) and ../tokenizer/onnx-engine.test.ts (the inference models). Portable: takes the parsed file.
import { toFloat32, type HostTensor } from '../io/dtypes.js';
import type { SafetensorsFile } from '../io/safetensors.js';

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
