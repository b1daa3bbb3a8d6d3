// The V2L decoder (./blocks.ts' decoderPlan: conv_in; mid Res -> self-Attn
// -> CrossAttention over the global embeddings (its output REPLACES h; skipped with crossAttention: false)
// -> Res; up path with numResBlocks+1 ResnetBlocks per level (+ AttnBlocks at attnResolutions) and
// nearest-x2 Upsample except at level 0; GroupNorm, swish, conv_out. NCHW in and out.
import { hasCrossAttention, type V2LConfig } from './config.js';
import { decoderPlan } from './blocks.js';
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
  const plan = decoderPlan(c, prefix);
  let h = conv2dOnnx(e, plan.convIn.prefix, z, { pad: 1 });
  for (const b of plan.blocks) {
    if (b.kind === 'resnet') h = resnetBlockOnnx(e, b.prefix, h, b.cin, b.cout);
    else if (b.kind === 'attn') h = attnBlockOnnx(e, b.prefix, h, b.c);
    else if (b.kind === 'upsample') h = upsampleOnnx(e, b.prefix, h);
    else if (b.kind === 'crossAttn') {
      if (!g) throw new Error('ONNX export: the decoder cross-attends to global embeddings, but none were given');
      // NCHW -> [B, h*w, C] queries, and back.
      const seq = e.op('Transpose', [e.op('Reshape', [h, e.ints([0, b.c, -1])])], { perm: [0, 2, 1] });
      const out = crossAttentionOnnx(e, b.prefix, seq, g, c.crossAttnHeads, c.crossAttnDimHead);
      h = e.op('Reshape', [e.op('Transpose', [out], { perm: [0, 2, 1] }), e.op('Shape', [h])]);
    } else throw new Error(`internal: a decoder has no ${b.kind} block`);
  }
  return conv2dOnnx(e, plan.convOut.prefix, swishOnnx(e, groupNormOnnx(e, plan.normOut.prefix, h)), { pad: 1 });
}
