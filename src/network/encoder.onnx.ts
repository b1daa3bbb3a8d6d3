// taming-transformers' Encoder (the reference's names; ./declare.ts declares the same in the same order): conv_in, per level
// numResBlocks ResnetBlocks (+ AttnBlocks at attnResolutions) and a Downsample except at the last level;
// mid Res-Attn-Res; GroupNorm, swish, conv_out. NCHW in and out.
import type { V2LConfig } from './config.js';
import type { OnnxEmitter } from './onnx.js';
import { conv2dOnnx, groupNormOnnx } from './layers.onnx.js';
import { swishOnnx } from './ops.onnx.js';
import { resnetBlockOnnx } from './resnet-block.onnx.js';
import { attnBlockOnnx } from './attn-block.onnx.js';
import { downsampleOnnx } from './sampling.onnx.js';

export function encoderOnnx(e: OnnxEmitter, c: V2LConfig, x: string, prefix = 'encoder'): string {
  let h = conv2dOnnx(e, `${prefix}.conv_in`, x, { pad: 1 });
  const inMult = [1, ...c.chMult];
  let res = c.resolution;
  let blockIn = c.ch;
  for (let level = 0; level < c.chMult.length; level++) {
    blockIn = c.ch * inMult[level];
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks; i++) {
      h = resnetBlockOnnx(e, `${prefix}.down.${level}.block.${i}`, h, blockIn, blockOut);
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) h = attnBlockOnnx(e, `${prefix}.down.${level}.attn.${i}`, h, blockIn);
    }
    if (level !== c.chMult.length - 1) {
      h = downsampleOnnx(e, `${prefix}.down.${level}.downsample`, h);
      res = Math.floor(res / 2);
    }
  }
  h = resnetBlockOnnx(e, `${prefix}.mid.block_1`, h, blockIn, blockIn);
  h = attnBlockOnnx(e, `${prefix}.mid.attn_1`, h, blockIn);
  h = resnetBlockOnnx(e, `${prefix}.mid.block_2`, h, blockIn, blockIn);
  return conv2dOnnx(e, `${prefix}.conv_out`, swishOnnx(e, groupNormOnnx(e, `${prefix}.norm_out`, h)), { pad: 1 });
}
