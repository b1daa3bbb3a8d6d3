// AlexNet as ONNX for LPIPS: reading the weights (initializers) of an ONNX export of torchvision's AlexNet,
// and writing one (the tests' stand-in). Node edge (onnx-proto).
import onnxProto from 'onnx-proto';
import type { HostTensor } from '../io/dtypes.js';
import { backboneLayers } from '../train/lpips.js';
import { GraphBuilder } from '../onnx/graph.js';
import { writeFileAtomic } from '../util/atomic.js';

const { onnx } = onnxProto;

/**
 * Float initializers of an ONNX model by name. torch.onnx.export keeps parameter names; an export of
 * `alexnet.features` alone names them `0.weight`, ..., which get the `features.` prefix here.
 */
export function readOnnxWeights(bytes: Uint8Array, what = 'ONNX model'): Map<string, HostTensor> {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`${what} is not an ONNX model: ${(e as Error).message}`);
  }
  const out = new Map<string, HostTensor>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== 1 || !t.name) continue; // FLOAT only: weights and biases
    const dims = (t.dims ?? []).map(Number);
    const n = dims.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (t.rawData && t.rawData.length) {
      const raw = t.rawData;
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      data = Float32Array.from({ length: n }, (_, i) => dv.getFloat32(i * 4, true));
    } else data = Float32Array.from(t.floatData ?? []);
    if (data.length !== n) throw new Error(`${what}: initializer ${t.name} has ${data.length} values for shape [${dims}]`);
    const name = /^\d+\.(weight|bias)$/.test(t.name) ? `features.${t.name}` : t.name;
    out.set(name, { dtype: 'F32', shape: dims, data });
  }
  return out;
}

/**
 * Writes torchvision AlexNet's `features` (to relu5) as ONNX with the given weights (torchvision names),
 * input [B,3,H,W] -> output relu5: the layout an ONNX export of torchvision's AlexNet has. Used to test
 * the ONNX reader with the STAND-IN weights.
 */
export function writeAlexnetOnnx(path: string, weights: Map<string, HostTensor>): void {
  const g = new GraphBuilder();
  let x = 'input';
  for (const l of backboneLayers('alex')) {
    if (l.kind === 'conv') {
      const w = weights.get(`features.${l.index}.weight`)!;
      const b = weights.get(`features.${l.index}.bias`)!;
      const wn = g.weight(`features.${l.index}.weight`, w.shape, w.data as Float32Array);
      const bn = g.weight(`features.${l.index}.bias`, b.shape, b.data as Float32Array);
      x = g.op('Conv', [x, wn, bn], { kernel_shape: [l.k, l.k], strides: [l.stride, l.stride], pads: [l.pad, l.pad, l.pad, l.pad] });
    } else if (l.kind === 'relu') x = g.op('Relu', [x]);
    else x = g.op('MaxPool', [x], { kernel_shape: [l.k, l.k], strides: [l.stride, l.stride] });
  }
  g.op('Identity', [x], {}, 'relu5');
  writeFileAtomic(path, g.build('alexnet_features', [{ name: 'input', type: 'float32', shape: ['batch', 3, 'height', 'width'] }],
    [{ name: 'relu5', type: 'float32', shape: ['batch', 256, 'h', 'w'] }]));
}
