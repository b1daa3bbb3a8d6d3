// taming's ResnetBlock: x + conv2(swish(norm2(conv1(swish(norm1(x)))))), 1x1 nin_shortcut when
// the width changes.
import type { OnnxEmitter } from './onnx.js';
import { conv2dOnnx, groupNormOnnx } from './layers.onnx.js';
import { swishOnnx } from './ops.onnx.js';

export function resnetBlockOnnx(e: OnnxEmitter, prefix: string, x: string, cin: number, cout: number): string {
  let h = conv2dOnnx(e, `${prefix}.conv1`, swishOnnx(e, groupNormOnnx(e, `${prefix}.norm1`, x)), { pad: 1 });
  h = conv2dOnnx(e, `${prefix}.conv2`, swishOnnx(e, groupNormOnnx(e, `${prefix}.norm2`, h)), { pad: 1 });
  const skip = cin !== cout ? conv2dOnnx(e, `${prefix}.nin_shortcut`, x) : x;
  return e.op('Add', [skip, h]);
}
