// taming-transformers' ResnetBlock without time embedding (temb_channels = 0) and dropout 0:
// x + conv2(swish(norm2(conv1(swish(norm1(x)))))), with a 1x1 `nin_shortcut` when the width changes.
import type * as tf from '@tensorflow/tfjs-core';
import { add } from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import { conv2d, groupNorm } from './layers.js';
import { swish } from './ops.js';

export type Block = (x: tf.Tensor4D) => tf.Tensor4D;

export function resnetBlock(p: ParamStore, prefix: string, cin: number, cout: number): Block {
  p.norm(`${prefix}.norm1`, cin);
  p.conv(`${prefix}.conv1`, cin, cout, 3);
  p.norm(`${prefix}.norm2`, cout);
  p.conv(`${prefix}.conv2`, cout, cout, 3);
  if (cin !== cout) p.conv(`${prefix}.nin_shortcut`, cin, cout, 1);
  return (x) => {
    let h = conv2d(p, `${prefix}.conv1`, swish(groupNorm(p, `${prefix}.norm1`, x)), { pad: 1 });
    h = conv2d(p, `${prefix}.conv2`, swish(groupNorm(p, `${prefix}.norm2`, h)), { pad: 1 });
    const skip = cin !== cout ? conv2d(p, `${prefix}.nin_shortcut`, x) : x;
    return add(skip, h);
  };
}
