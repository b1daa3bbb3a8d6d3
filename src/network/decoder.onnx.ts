// The V2L decoder (the reference's names; ./declare.ts declares the same in the same order): conv_in; mid Res -> self-Attn
// -> CrossAttention over the global embeddings (its output REPLACES h; skipped with crossAttention: false)
// -> Res; up path with numResBlocks+1 ResnetBlocks per level (+ AttnBlocks at attnResolutions) and
// nearest-x2 Upsample except at level 0; GroupNorm, swish, conv_out. NCHW in and out.
import { blockIn as midWidth, hasCrossAttention, type V2LConfig } from './config.js';
import type { OnnxEmitter } from './onnx.js';
import { conv2dOnnx, groupNormOnnx } from './layers.onnx.js';
import { swishOnnx } from './ops.onnx.js';
import { resnetBlockOnnx } from './resnet-block.onnx.js';
import { attnBlockOnnx } from './attn-block.onnx.js';
import { upsampleOnnx } from './sampling.onnx.js';
import { crossAttentionOnnx } from './cross-attention.onnx.js';

/** Whether the decoder has its mid-block cross-attention (the config flag; absent: true, the reference). */
export function decoderHasCrossAttention(c: V2LConfig): boolean {
  return hasCrossAttention(c);
}

/** `z`: post_quant_conv output [B, zChannels, h, w]; `g`: global embeddings [B, K, embedDim]. */
export function decoderOnnx(e: OnnxEmitter, c: V2LConfig, z: string, g: string | null, prefix = 'decoder'): string {
  const levels = c.chMult.length;
  let blockIn = midWidth(c);
  let res = Math.floor(c.resolution / 2 ** (levels - 1));
  let h = conv2dOnnx(e, `${prefix}.conv_in`, z, { pad: 1 });
  h = resnetBlockOnnx(e, `${prefix}.mid.block_1`, h, blockIn, blockIn);
  h = attnBlockOnnx(e, `${prefix}.mid.attn_1`, h, blockIn);
  if (decoderHasCrossAttention(c)) {
    if (!g) throw new Error('ONNX export: the decoder cross-attends to global embeddings, but none were given');
    // NCHW -> [B, h*w, C] queries, and back.
    const seq = e.op('Transpose', [e.op('Reshape', [h, e.ints([0, blockIn, -1])])], { perm: [0, 2, 1] });
    const out = crossAttentionOnnx(e, `${prefix}.mid.cross_attn_1`, seq, g, c.crossAttnHeads, c.crossAttnDimHead);
    h = e.op('Reshape', [e.op('Transpose', [out], { perm: [0, 2, 1] }), e.op('Shape', [h])]);
  }
  h = resnetBlockOnnx(e, `${prefix}.mid.block_2`, h, blockIn, blockIn);
  for (let level = levels - 1; level >= 0; level--) {
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks + 1; i++) {
      h = resnetBlockOnnx(e, `${prefix}.up.${level}.block.${i}`, h, blockIn, blockOut);
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) h = attnBlockOnnx(e, `${prefix}.up.${level}.attn.${i}`, h, blockIn);
    }
    if (level !== 0) {
      h = upsampleOnnx(e, `${prefix}.up.${level}.upsample`, h);
      res *= 2;
    }
  }
  return conv2dOnnx(e, `${prefix}.conv_out`, swishOnnx(e, groupNormOnnx(e, `${prefix}.norm_out`, h)), { pad: 1 });
}
