// The encoder's and decoder's topology, written once: their blocks in order, with the reference's names
// and widths (taming's Encoder; the V2L Decoder with its mid-block cross-attention). The ONNX emitters
// (./encoder.onnx.ts, ./decoder.onnx.ts) emit these blocks; ./declare.ts declares their parameters.
// Portable.
import { blockIn as midWidth, hasCrossAttention, type V2LConfig } from './config.js';

export type Block =
  | { kind: 'resnet'; prefix: string; cin: number; cout: number }
  | { kind: 'attn'; prefix: string; c: number }
  | { kind: 'downsample'; prefix: string; c: number }
  | { kind: 'upsample'; prefix: string; c: number }
  /** The decoder's cross-attention to the global embeddings (its output REPLACES h). */
  | { kind: 'crossAttn'; prefix: string; c: number };

/** conv_in (3x3), the blocks, then GroupNorm, swish and conv_out (3x3). */
export interface Plan {
  convIn: { prefix: string; cin: number; cout: number };
  blocks: Block[];
  normOut: { prefix: string; c: number };
  convOut: { prefix: string; cin: number; cout: number };
}

/**
 * taming's Encoder: per level `numResBlocks` ResnetBlocks (each followed by an AttnBlock where the level's
 * resolution is in attnResolutions) and a Downsample except at the last level; mid Res-Attn-Res.
 */
export function encoderPlan(c: V2LConfig, prefix = 'encoder'): Plan {
  const blocks: Block[] = [];
  const inMult = [1, ...c.chMult];
  let res = c.resolution;
  let blockIn = c.ch;
  for (let level = 0; level < c.chMult.length; level++) {
    blockIn = c.ch * inMult[level];
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks; i++) {
      blocks.push({ kind: 'resnet', prefix: `${prefix}.down.${level}.block.${i}`, cin: blockIn, cout: blockOut });
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) blocks.push({ kind: 'attn', prefix: `${prefix}.down.${level}.attn.${i}`, c: blockIn });
    }
    if (level !== c.chMult.length - 1) {
      blocks.push({ kind: 'downsample', prefix: `${prefix}.down.${level}.downsample`, c: blockIn });
      res = Math.floor(res / 2);
    }
  }
  blocks.push({ kind: 'resnet', prefix: `${prefix}.mid.block_1`, cin: blockIn, cout: blockIn });
  blocks.push({ kind: 'attn', prefix: `${prefix}.mid.attn_1`, c: blockIn });
  blocks.push({ kind: 'resnet', prefix: `${prefix}.mid.block_2`, cin: blockIn, cout: blockIn });
  return {
    convIn: { prefix: `${prefix}.conv_in`, cin: c.inChannels, cout: c.ch }, blocks,
    normOut: { prefix: `${prefix}.norm_out`, c: blockIn }, convOut: { prefix: `${prefix}.conv_out`, cin: blockIn, cout: c.zChannels },
  };
}

/**
 * The V2L decoder: mid Res -> self-Attn -> CrossAttention over the global embeddings (skipped with
 * crossAttention: false) -> Res; up path with numResBlocks+1 ResnetBlocks per level (+ AttnBlocks at
 * attnResolutions) and a nearest-x2 Upsample except at level 0.
 */
export function decoderPlan(c: V2LConfig, prefix = 'decoder'): Plan {
  const levels = c.chMult.length;
  let blockIn = midWidth(c);
  let res = Math.floor(c.resolution / 2 ** (levels - 1));
  const blocks: Block[] = [
    { kind: 'resnet', prefix: `${prefix}.mid.block_1`, cin: blockIn, cout: blockIn },
    { kind: 'attn', prefix: `${prefix}.mid.attn_1`, c: blockIn },
  ];
  if (hasCrossAttention(c)) blocks.push({ kind: 'crossAttn', prefix: `${prefix}.mid.cross_attn_1`, c: blockIn });
  blocks.push({ kind: 'resnet', prefix: `${prefix}.mid.block_2`, cin: blockIn, cout: blockIn });
  for (let level = levels - 1; level >= 0; level--) {
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks + 1; i++) {
      blocks.push({ kind: 'resnet', prefix: `${prefix}.up.${level}.block.${i}`, cin: blockIn, cout: blockOut });
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) blocks.push({ kind: 'attn', prefix: `${prefix}.up.${level}.attn.${i}`, c: blockIn });
    }
    if (level !== 0) {
      blocks.push({ kind: 'upsample', prefix: `${prefix}.up.${level}.upsample`, c: blockIn });
      res *= 2;
    }
  }
  return {
    convIn: { prefix: `${prefix}.conv_in`, cin: c.zChannels, cout: midWidth(c) }, blocks,
    normOut: { prefix: `${prefix}.norm_out`, c: blockIn }, convOut: { prefix: `${prefix}.conv_out`, cin: blockIn, cout: c.outCh },
  };
}
