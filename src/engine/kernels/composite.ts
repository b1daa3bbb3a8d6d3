// Helpers for kernels written as compositions of existing tfjs ops.
//
// A kernelFunc may return a Tensor: the engine then uses it as the kernel's output as it is
// (engine.runKernelFunc keeps outputs that carry a `rank`). So a composite kernel runs its ops inside
// `tidy`, which disposes every intermediate and hands the single result to the caller's scope.
// Ops called inside a kernel are not recorded on the gradient tape (the engine stops recording while
// `kernelDepth > 0`), so the gradient of a composite kernel is still the kernel's registered gradient.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

/** Inputs as Tensors, attributes as the kernel's typed attribute record. */
export type CompositeBody<A> = (inputs: Record<string, tf.Tensor>, attrs: A) => tf.Tensor;

/**
 * Turns a kernel input into a Tensor. Ops always pass Tensors; a bare TensorInfo (possible only when
 * another backend kernel calls through the registry) is wrapped with its own reference so that
 * disposing the wrapper inside `tidy` leaves the caller's data alone.
 */
function asTensor(info: TensorInfo): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  const engine = tf.engine();
  engine.backend.incRef(info.dataId);
  return engine.makeTensorFromTensorInfo(info);
}

/** Wraps a body of tfjs ops as a KernelFunc that leaks no intermediate tensor. */
export function compositeKernel<A>(kernelName: string, body: CompositeBody<A>): KernelFunc {
  return ({ inputs, attrs }) =>
    tf.tidy(() => {
      const ts: Record<string, tf.Tensor> = {};
      for (const [k, v] of Object.entries(inputs as NamedTensorInfoMap)) {
        if (v == null) continue;
        ts[k] = asTensor(v);
      }
      try {
        return body(ts, (attrs ?? {}) as unknown as A);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`v2l engine kernel '${kernelName}': ${msg}`);
      }
    });
}

/**
 * Runs a kernel implementation directly (not through the registry), e.g. the backend's original
 * kernel that an override replaced, and returns its output as a tracked Tensor.
 */
export function runKernelConfig(config: KernelConfig, inputs: Record<string, tf.Tensor>, attrs: NamedAttrMap): tf.Tensor {
  const engine = tf.engine();
  const out = config.kernelFunc({ inputs, attrs, backend: engine.backend });
  if (Array.isArray(out)) throw new Error(`kernel '${config.kernelName}' returned ${out.length} outputs, expected 1`);
  if (out instanceof tf.Tensor) return out;
  return engine.makeTensorFromTensorInfo(out);
}

/** Normalises a stride/dilation attribute to [h, w]. */
export function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}
