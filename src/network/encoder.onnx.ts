// taming-transformers' Encoder (./blocks.ts' encoderPlan: conv_in, per level ResnetBlocks, AttnBlocks and a
// Downsample, mid Res-Attn-Res; GroupNorm, swish, conv_out). NCHW in and out.
import type { V2LConfig } from './config.js';
import type { OnnxEmitter } from './onnx.js';
import { conv2dOnnx, groupNormOnnx } from './layers.onnx.js';
import { swishOnnx } from './ops.onnx.js';
import { resnetBlockOnnx } from './resnet-block.onnx.js';
import { attnBlockOnnx } from './attn-block.onnx.js';
import { downsampleOnnx } from './sampling.onnx.js';
import { encoderPlan } from './blocks.js';

export function encoderOnnx(e: OnnxEmitter, c: V2LConfig, x: string, prefix = 'encoder'): string {
  const plan = encoderPlan(c, prefix);
  let h = conv2dOnnx(e, plan.convIn.prefix, x, { pad: 1 });
  for (const b of plan.blocks) {
    if (b.kind === 'resnet') h = resnetBlockOnnx(e, b.prefix, h, b.cin, b.cout);
    else if (b.kind === 'attn') h = attnBlockOnnx(e, b.prefix, h, b.c);
    else if (b.kind === 'downsample') h = downsampleOnnx(e, b.prefix, h);
    else throw new Error(`internal: an encoder has no ${b.kind} block`);
  }
  return conv2dOnnx(e, plan.convOut.prefix, swishOnnx(e, groupNormOnnx(e, plan.normOut.prefix, h)), { pad: 1 });
}
