// Floating-point operations of one image through the network (2 per multiply-add of the convolutions,
// linears, attention products and the codebook search; normalisations and element-wise ops, a few
// percent, are left out), for benchmark reports of achieved GFLOP/s. Walks the same levels and blocks
// as ./encoder.onnx.ts and ./decoder.onnx.ts.
import { blockIn as midWidth, hasCrossAttention, type V2LConfig } from './config.js';

const conv = (k: number, cin: number, cout: number, hw: number) => 2 * k * k * cin * cout * hw;
const resnet = (cin: number, cout: number, hw: number) => conv(3, cin, cout, hw) + conv(3, cout, cout, hw) + (cin !== cout ? conv(1, cin, cout, hw) : 0);
const attn = (c: number, hw: number) => 4 * conv(1, c, c, hw) + 2 * 2 * hw * hw * c;

/** Encoder + quant_conv at `size` x `size`. */
export function encoderFlops(c: V2LConfig, size: number): number {
  let hw = size * size;
  let f = conv(3, c.inChannels, c.ch, hw);
  const inMult = [1, ...c.chMult];
  let res = c.resolution;
  let ch = c.ch;
  for (let level = 0; level < c.chMult.length; level++) {
    ch = c.ch * inMult[level];
    const out = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks; i++) {
      f += resnet(ch, out, hw);
      ch = out;
      if (c.attnResolutions.includes(res)) f += attn(ch, hw);
    }
    if (level !== c.chMult.length - 1) {
      hw /= 4;
      f += conv(3, ch, ch, hw);
      res = Math.floor(res / 2);
    }
  }
  f += 2 * resnet(ch, ch, hw) + attn(ch, hw);
  return f + conv(3, ch, c.zChannels, hw) + conv(1, c.zChannels, c.embedDim, hw);
}

/** Nearest-row search of every local position over `rows` codebook rows. */
export function searchFlops(c: V2LConfig, size: number, rows = c.nLocal): number {
  const f = 2 ** (c.chMult.length - 1);
  return 2 * (size / f) ** 2 * rows * c.embedDim;
}

/** post_quant_conv + decoder at `size` x `size` with `k` global tokens. */
export function decoderFlops(c: V2LConfig, size: number, k = 5): number {
  const levels = c.chMult.length;
  let hw = (size / 2 ** (levels - 1)) ** 2;
  let ch = midWidth(c);
  let res = Math.floor(c.resolution / 2 ** (levels - 1));
  let f = conv(1, c.embedDim, c.zChannels, hw) + conv(3, c.zChannels, ch, hw) + 2 * resnet(ch, ch, hw) + attn(ch, hw);
  if (hasCrossAttention(c)) {
    const inner = c.crossAttnHeads * c.crossAttnDimHead;
    f += 2 * hw * ch * inner + 2 * 2 * k * c.embedDim * inner + 2 * 2 * hw * k * inner + 2 * hw * inner * ch;
  }
  for (let level = levels - 1; level >= 0; level--) {
    const out = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks + 1; i++) {
      f += resnet(ch, out, hw);
      ch = out;
      if (c.attnResolutions.includes(res)) f += attn(ch, hw);
    }
    if (level !== 0) {
      hw *= 4;
      f += conv(3, ch, ch, hw);
      res *= 2;
    }
  }
  return f + conv(3, ch, c.outCh, hw);
}
