// taming-transformers' Encoder (NHWC inside): conv_in, per level `numResBlocks` ResnetBlocks (each followed
// by an AttnBlock where the level's resolution is in attnResolutions) and a Downsample except at the last
// level; mid block Res-Attn-Res; GroupNorm, swish, conv_out to z_channels (double_z = false).
import type { ParamStore } from './params.js';
import type { V2LConfig } from './config.js';
import { conv2d, groupNorm } from './layers.js';
import { sequential, swish } from './ops.js';
import { resnetBlock, type Block } from './resnet-block.js';
import { attnBlock } from './attn-block.js';
import { downsample } from './sampling.js';
import { checkpointed, type CheckpointSwitch } from './checkpoint.js';

/** `ckpt`: when enabled, every block between conv_in and norm_out is checkpointed (see ./checkpoint.ts). */
export function encoder(p: ParamStore, c: V2LConfig, prefix = 'encoder', ckpt: CheckpointSwitch = { enabled: false }): Block {
  const steps: Block[] = [];
  const push = (name: string, b: Block) => steps.push(checkpointed(p, name, b, ckpt));
  p.conv(`${prefix}.conv_in`, c.inChannels, c.ch, 3);
  const inMult = [1, ...c.chMult];
  let res = c.resolution;
  let blockIn = c.ch;
  for (let level = 0; level < c.chMult.length; level++) {
    blockIn = c.ch * inMult[level];
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks; i++) {
      push(`${prefix}.down.${level}.block.${i}`, resnetBlock(p, `${prefix}.down.${level}.block.${i}`, blockIn, blockOut));
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) push(`${prefix}.down.${level}.attn.${i}`, attnBlock(p, `${prefix}.down.${level}.attn.${i}`, blockIn));
    }
    if (level !== c.chMult.length - 1) {
      push(`${prefix}.down.${level}.downsample`, downsample(p, `${prefix}.down.${level}.downsample`, blockIn));
      res = Math.floor(res / 2);
    }
  }
  push(`${prefix}.mid.block_1`, resnetBlock(p, `${prefix}.mid.block_1`, blockIn, blockIn));
  push(`${prefix}.mid.attn_1`, attnBlock(p, `${prefix}.mid.attn_1`, blockIn));
  push(`${prefix}.mid.block_2`, resnetBlock(p, `${prefix}.mid.block_2`, blockIn, blockIn));
  p.norm(`${prefix}.norm_out`, blockIn);
  p.conv(`${prefix}.conv_out`, blockIn, c.zChannels, 3);
  return (x) => {
    const h = sequential(conv2d(p, `${prefix}.conv_in`, x, { pad: 1 }), steps);
    return conv2d(p, `${prefix}.conv_out`, swish(groupNorm(p, `${prefix}.norm_out`, h)), { pad: 1 });
  };
}
