// The V2L reference Decoder (taming-transformers' Decoder with a cross-attention in the mid block):
// conv_in; mid Res -> self-Attn -> CrossAttention over the global embeddings (its output REPLACES h, as in
// the reference) -> Res; up path from the lowest level with numResBlocks+1 ResnetBlocks per level (plus
// AttnBlocks at attnResolutions) and nearest-x2 Upsample except at level 0; GroupNorm, swish, conv_out.
// With `crossAttention: false` (what the reference's use_crossatt_dec=0 intends) the mid block is
// Res -> self-Attn -> Res and the global embeddings are not used.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import { blockIn as midWidth, hasCrossAttention, type V2LConfig } from './config.js';
import { conv2d, groupNorm } from './layers.js';
import { sequential, swish } from './ops.js';
import { resnetBlock, type Block } from './resnet-block.js';
import { attnBlock } from './attn-block.js';
import { upsample } from './sampling.js';
import { crossAttention } from './cross-attention.js';
import { checkpointed, type CheckpointSwitch } from './checkpoint.js';

/**
 * Returns f(z [B,h,w,zChannels] NHWC, global embeddings [B,Kg,embedDim]) -> NHWC image. `ckpt`: when
 * enabled, the mid and up blocks are checkpointed (see ./checkpoint.ts); the cross-attention (two inputs,
 * small at the lowest resolution) and norm_out/conv_out (the adaptive GAN weight differentiates
 * conv_out.weight on its own) are not.
 */
export function decoder(p: ParamStore, c: V2LConfig, prefix = 'decoder', ckpt: CheckpointSwitch = { enabled: false }): (z: tf.Tensor4D, g: tf.Tensor3D) => tf.Tensor4D {
  const wrap = (name: string, b: Block) => checkpointed(p, name, b, ckpt);
  const levels = c.chMult.length;
  let blockIn = midWidth(c);
  let res = Math.floor(c.resolution / 2 ** (levels - 1));
  p.conv(`${prefix}.conv_in`, c.zChannels, blockIn, 3);
  const mid1 = wrap(`${prefix}.mid.block_1`, resnetBlock(p, `${prefix}.mid.block_1`, blockIn, blockIn));
  const midAttn = wrap(`${prefix}.mid.attn_1`, attnBlock(p, `${prefix}.mid.attn_1`, blockIn));
  const cross = hasCrossAttention(c) ? crossAttention(p, `${prefix}.mid.cross_attn_1`, blockIn, c.embedDim, c.crossAttnHeads, c.crossAttnDimHead) : null;
  const mid2 = wrap(`${prefix}.mid.block_2`, resnetBlock(p, `${prefix}.mid.block_2`, blockIn, blockIn));
  const up: Block[] = [];
  for (let level = levels - 1; level >= 0; level--) {
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks + 1; i++) {
      up.push(wrap(`${prefix}.up.${level}.block.${i}`, resnetBlock(p, `${prefix}.up.${level}.block.${i}`, blockIn, blockOut)));
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) up.push(wrap(`${prefix}.up.${level}.attn.${i}`, attnBlock(p, `${prefix}.up.${level}.attn.${i}`, blockIn)));
    }
    if (level !== 0) {
      up.push(wrap(`${prefix}.up.${level}.upsample`, upsample(p, `${prefix}.up.${level}.upsample`, blockIn)));
      res *= 2;
    }
  }
  p.norm(`${prefix}.norm_out`, blockIn);
  p.conv(`${prefix}.conv_out`, blockIn, c.outCh, 3);
  return (z, g) => {
    let h = conv2d(p, `${prefix}.conv_in`, z, { pad: 1 });
    h = midAttn(mid1(h));
    if (cross) {
      const [b, hh, ww, ch] = h.shape;
      h = tf.reshape(cross(tf.reshape(h, [b, hh * ww, ch]), g), [b, hh, ww, ch]);
    }
    h = sequential(h, [mid2, ...up]);
    return conv2d(p, `${prefix}.conv_out`, swish(groupNorm(p, `${prefix}.norm_out`, h)), { pad: 1 });
  };
}
