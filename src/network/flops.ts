// Floating-point operations of one image through the network (2 per multiply-add of the convolutions,
// linears, attention products and the codebook search; normalisations and element-wise ops, a few
// percent, are left out), for benchmark reports of achieved GFLOP/s. Walks the blocks of ./blocks.ts, as
// the emitters do.
import type { V2LConfig } from './config.js';
import { decoderPlan, encoderPlan, type Block } from './blocks.js';

const conv = (k: number, cin: number, cout: number, hw: number) => 2 * k * k * cin * cout * hw;
const resnet = (cin: number, cout: number, hw: number) => conv(3, cin, cout, hw) + conv(3, cout, cout, hw) + (cin !== cout ? conv(1, cin, cout, hw) : 0);
const attn = (c: number, hw: number) => 4 * conv(1, c, c, hw) + 2 * 2 * hw * hw * c;

/** A plan's blocks (./blocks.ts) at `hw` positions, the resolution changing at each down/upsampling. */
function blocksFlops(c: V2LConfig, blocks: Block[], hw: number, k: number): { f: number; hw: number } {
  let f = 0;
  for (const b of blocks) {
    if (b.kind === 'resnet') f += resnet(b.cin, b.cout, hw);
    else if (b.kind === 'attn') f += attn(b.c, hw);
    else if (b.kind === 'downsample') { hw /= 4; f += conv(3, b.c, b.c, hw); }
    else if (b.kind === 'upsample') { hw *= 4; f += conv(3, b.c, b.c, hw); }
    else {
      const inner = c.crossAttnHeads * c.crossAttnDimHead;
      f += 2 * hw * b.c * inner + 2 * 2 * k * c.embedDim * inner + 2 * 2 * hw * k * inner + 2 * hw * inner * b.c;
    }
  }
  return { f, hw };
}

/** Encoder + quant_conv at `size` x `size`. */
export function encoderFlops(c: V2LConfig, size: number): number {
  const plan = encoderPlan(c);
  const hw0 = size * size;
  const { f, hw } = blocksFlops(c, plan.blocks, hw0, 0);
  return conv(3, plan.convIn.cin, plan.convIn.cout, hw0) + f + conv(3, plan.convOut.cin, plan.convOut.cout, hw) + conv(1, c.zChannels, c.embedDim, hw);
}

/** Nearest-row search of every local position over `rows` codebook rows. */
export function searchFlops(c: V2LConfig, size: number, rows = c.nLocal): number {
  const f = 2 ** (c.chMult.length - 1);
  return 2 * (size / f) ** 2 * rows * c.embedDim;
}

/** post_quant_conv + decoder at `size` x `size` with `k` global tokens. */
export function decoderFlops(c: V2LConfig, size: number, k = 5): number {
  const plan = decoderPlan(c);
  const hw0 = (size / 2 ** (c.chMult.length - 1)) ** 2;
  const { f, hw } = blocksFlops(c, plan.blocks, hw0, k);
  return conv(1, c.embedDim, c.zChannels, hw0) + conv(3, plan.convIn.cin, plan.convIn.cout, hw0) + f + conv(3, plan.convOut.cin, plan.convOut.cout, hw);
}
