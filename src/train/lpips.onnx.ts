// ONNX form of ./lpips.ts' distance, for the training graphs: the scaling layer, the backbone's `features`
// (torchvision names; its weights and the v0.1 heads are initializers: frozen), channel normalisation at
// the five taps, squared differences, the 1x1 heads, spatial mean, sum over the taps. NCHW.
import type { OnnxEmitter } from '../network/onnx.js';
import { conv2dOnnx } from '../network/layers.onnx.js';
import { backboneLayers, SCALE, SHIFT, type LpipsBackbone } from './lpips.js';

/** Channel-normalised features of NCHW images `x` at the five taps. */
function featuresOnnx(e: OnnxEmitter, backbone: LpipsBackbone, x: string): string[] {
  const taps: string[] = [];
  const perChannel = (key: string, v: number[]) => e.floats(`lpips.${key}`, [1, 3, 1, 1], Float32Array.from(v));
  let h = e.op('Div', [e.op('Sub', [x, perChannel('shift', SHIFT)]), perChannel('scale', SCALE)]);
  for (const l of backboneLayers(backbone)) {
    if (l.kind === 'conv') h = conv2dOnnx(e, `features.${l.index}`, h, { stride: l.stride, pad: l.pad });
    else if (l.kind === 'maxpool') h = e.op('MaxPool', [h], { kernel_shape: [l.k, l.k], strides: [l.stride, l.stride] });
    else {
      h = e.op('Relu', [h]);
      if (l.tap) {
        const norm = e.op('Sqrt', [e.op('ReduceSum', [e.op('Mul', [h, h]), e.ints([1])], { keepdims: 1 })]);
        taps.push(e.op('Div', [h, e.op('Add', [norm, e.scalar(1e-10)])]));
      }
    }
  }
  return taps;
}

/** LPIPS distance per image [N] between NCHW images `x0` and `x1` (N each), both differentiable. */
export function lpipsOnnx(e: OnnxEmitter, backbone: LpipsBackbone, x0: string, x1: string, n: number): string {
  const feats = featuresOnnx(e, backbone, e.op('Concat', [x0, x1], { axis: 0 }));
  const per = feats.map((f, k) => {
    const a = e.op('Slice', [f, e.ints([0]), e.ints([n]), e.ints([0])]);
    const b = e.op('Slice', [f, e.ints([n]), e.ints([2 * n]), e.ints([0])]);
    const d = e.op('Sub', [a, b]);
    const head = conv2dOnnx(e, `lin${k}.model.1`, e.op('Mul', [d, d]));
    return e.op('ReduceMean', [head], { axes: [1, 2, 3], keepdims: 0 });
  });
  return per.length === 1 ? per[0] : e.op('Sum', per);
}
