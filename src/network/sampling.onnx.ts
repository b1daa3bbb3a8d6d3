// Down/up-sampling: Downsample (pad right/bottom by one, 3x3 stride-2 conv) and Upsample
// (nearest x2 as PyTorch's interpolate: asymmetric coordinates, floor; then 3x3 conv).
import type { OnnxEmitter } from './onnx.js';
import { conv2dOnnx } from './layers.onnx.js';

export function downsampleOnnx(e: OnnxEmitter, prefix: string, x: string): string {
  return conv2dOnnx(e, `${prefix}.conv`, x, { stride: 2, pads: [0, 0, 1, 1] });
}

export function upsampleNearest2xOnnx(e: OnnxEmitter, x: string): string {
  const scales = e.floats('resize.x2', [4], Float32Array.of(1, 1, 2, 2));
  return e.op('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
}

export function upsampleOnnx(e: OnnxEmitter, prefix: string, x: string): string {
  return conv2dOnnx(e, `${prefix}.conv`, upsampleNearest2xOnnx(e, x), { pad: 1 });
}
