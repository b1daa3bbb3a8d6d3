// The backward rule of every ONNX op the network, quantizer and losses emit, written in standard ONNX ops
// (opset 17, run by onnxruntime's CPU and CUDA providers). A rule gets the node, its outputs' adjoints
// (null where an output has none) and which inputs want one; it returns the inputs' adjoints, reduced to
// each input's own shape. Each rule is checked against float64 finite differences (rules.test.ts).
import type { TapeNode } from './tape.js';
import type { GradContext } from './backward.js';
import { reduceAxes } from './shapes.js';

export type Rule = (g: GradContext, n: TapeNode, dy: (string | null)[], want: boolean[]) => (string | null)[];

/**
 * How a convolution's gradients are computed. `inputGrad`: 'conv' (a Conv of dy, zero-inserted where the
 * forward was strided, by the flipped, in/out-transposed kernel: onnxruntime runs it on its blocked NCHWc
 * kernels) or 'convTranspose' (onnxruntime's CPU ConvTranspose is a Gemm plus col2im). `weightGrad`: see
 * convWeightGradIm2col / convWeightGradConv. Measured by whole training steps (scripts/profile-train-step.ts).
 */
export const convOptions = {
  weightGrad: 'shifts' as 'shifts' | 'im2col' | 'taps' | 'conv' | 'folded',
  inputGrad: 'conv' as 'conv' | 'convTranspose',
  /**
   * A strided conv's input gradient: ConvTranspose (a Gemm plus col2im: slower per FLOP than Conv, but 1/s^2
   * of the zero-inserted Conv's products), 'polyphase' (one Conv of dy by the s*s sub-kernels, then the
   * phases interleaved), or dy zero-inserted then convolved ('zeros').
   */
  stridedInputGrad: 'convTranspose' as 'polyphase' | 'zeros' | 'convTranspose',
  /** How the polyphase form interleaves its s*s phases: a depthwise ConvTranspose by one-hot kernels, DepthToSpace (equal strides), or Reshape/Transpose. */
  interleave: 'convTranspose' as 'depthToSpace' | 'convTranspose' | 'transpose',
  /** The shifts form's kh row shifts of dy: one Pad each, then a Concat ('pad'), or one Concat of dy with zero gaps ('concat'). */
  shiftRows: 'concat' as 'concat' | 'pad',
  /** The shifts form's kw column shifts of x: Slices of the padded x ('slice'), or each one Pad of x with negative pads cropping ('pad': one pass fewer). */
  shiftCols: 'pad' as 'pad' | 'slice',
};

const ints = (v: unknown): number[] | undefined => (Array.isArray(v) ? (v as number[]) : undefined);
const lastTwo = (rank: number) => [...Array(rank).keys()].map((i) => (i < rank - 2 ? i : rank === i + 2 ? rank - 1 : rank - 2));

interface ConvGeometry { k: number[]; s: number[]; p: number[]; out: number[]; x: number[]; w: number[] }

function convGeometry(g: GradContext, n: TapeNode): ConvGeometry {
  const w = g.shape(n.inputs[1]);
  const k = ints(n.attrs.kernel_shape) ?? w.slice(2);
  if ((n.attrs.group as number ?? 1) !== 1 || (ints(n.attrs.dilations) ?? []).some((d) => d !== 1)) throw new Error('Conv backward: groups and dilations are not supported');
  return { k, s: ints(n.attrs.strides) ?? [1, 1], p: ints(n.attrs.pads) ?? [0, 0, 0, 0], out: g.shape(n.outputs[0]), x: g.shape(n.inputs[0]), w };
}

/** dL/dx of a convolution by ConvTranspose of dy with the same weight. */
function convInputGradTransposed(g: GradContext, c: ConvGeometry, dy: string, w: string): string {
  const outputPadding = [0, 1].map((i) => c.x[2 + i] - ((c.out[2 + i] - 1) * c.s[i] + c.k[i] - c.p[i] - c.p[i + 2]));
  return g.op('ConvTranspose', [dy, w], { kernel_shape: c.k, strides: c.s, pads: c.p, output_padding: outputPadding });
}

/** The kernel of the input gradient's convolution: W [M, C, kh, kw] -> [C, M, kh, kw], both spatial axes reversed. */
function flippedKernel(g: GradContext, c: ConvGeometry, w: string): string {
  const [m, ch, kh, kw] = c.w;
  const kk = kh * kw;
  // Reversing the flattened kh*kw index reverses both spatial axes at once: a MatMul by the kk x kk
  // anti-identity (exact: one product by 1 per element; a Gather on the last axis copies element by element).
  const reverse = new Float32Array(kk * kk);
  for (let i = 0; i < kk; i++) reverse[i * kk + kk - 1 - i] = 1;
  const flipped = kk === 1 ? w : g.op('MatMul', [g.reshape(w, [m * ch, kk]), g.t.weight('g.reverse', [kk, kk], reverse)]);
  return g.op('Transpose', [g.reshape(flipped, [m, ch, kh, kw])], { perm: [1, 0, 2, 3] });
}

/**
 * dL/dx of a convolution as a plain convolution: dy (with s-1 zeros inserted after each element where the
 * forward had stride s) convolved with the flipped kernel, padded k-1-p (the trailing inserted zeros count
 * as end padding; what the forward's floor dropped at the end comes back as padding too).
 */
function convInputGradConv(g: GradContext, c: ConvGeometry, dy: string, w: string): string {
  const [b, m, oh, ow] = c.out;
  let y = dy;
  if (c.s.some((s) => s !== 1)) {
    if (convOptions.stridedInputGrad === 'convTranspose') return convInputGradTransposed(g, c, dy, w);
    if (convOptions.stridedInputGrad === 'polyphase') return convInputGradPolyphase(g, c, dy, w);
    const spread = g.op('Pad', [g.reshape(dy, [b, m, oh, 1, ow, 1]), g.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, c.s[0] - 1, 0, c.s[1] - 1])]);
    y = g.reshape(spread, [b, m, oh * c.s[0], ow * c.s[1]]);
  }
  const len = [oh * c.s[0], ow * c.s[1]];
  const begin = [0, 1].map((i) => c.k[i] - 1 - c.p[i]);
  const end = [0, 1].map((i) => c.x[2 + i] - len[i] - begin[i] + c.k[i] - 1);
  if (end.some((e) => e < 0)) {
    y = g.op('Slice', [y, g.ints([0, 0]), g.ints(end.map((e, i) => len[i] + Math.min(e, 0))), g.ints([2, 3])]);
  }
  const pads = [...begin, ...end.map((e) => Math.max(e, 0))];
  if (pads.some((p) => p < 0)) return convInputGradTransposed(g, c, dy, w); // padding wider than the kernel
  const k = flippedKernel(g, c, w);
  return g.op('Conv', [y, k], { kernel_shape: c.k, pads });
}

/**
 * dL/dx of a strided convolution by phases, without zero insertion. Along an axis with stride s, kernel k
 * and leading pad p, x[s q + r] = sum over the taps i = r + p - s e (0 <= i < k) of w[i] dy[q + e]: for each
 * phase r a correlation of dy with at most ceil(k / s) taps. All s*s phases are one Conv of dy whose
 * [C*s*s, M, Kh, Kw] kernel holds each phase's taps (zeros where a phase has fewer), over the offsets e the
 * phases share; the phases are interleaved into [B, C, s*Lh, s*Lw] (`convOptions.interleave`), cut to x's sides. The
 * same products as the zero-inserted Conv minus the ones by inserted zeros (for 3x3 stride 2: 16 per 4
 * outputs instead of 36), and no pass over the s*s times larger dy.
 */
function convInputGradPolyphase(g: GradContext, c: ConvGeometry, dy: string, w: string): string {
  const [b, m, oh, ow] = c.out;
  const [, ch] = c.w;
  const axis = (a: number) => {
    const [s, k, p] = [c.s[a], c.k[a], c.p[a]];
    // Offsets e of tap i for phase r: e = (r + p - i) / s where integral; the window starts at min(e, 0).
    let lo = 0;
    let hi = 0;
    for (let r = 0; r < s; r++) for (let i = 0; i < k; i++) if ((r + p - i) % s === 0) { lo = Math.min(lo, (r + p - i) / s); hi = Math.max(hi, (r + p - i) / s); }
    const size = hi - lo + 1;
    const n = Math.ceil(c.x[2 + a] / s); // rows of each phase that x needs
    const out = [oh, ow][a];
    const end = Math.max(n - out + lo + size - 1, 0); // Conv output length out + (-lo) + end - size + 1 >= n
    const tap = (r: number, t: number) => { const i = r + p - s * (lo + t); return i >= 0 && i < k ? i : -1; };
    return { s, size, begin: -lo, end, tap, len: out - lo + end - size + 1 };
  };
  const [ah, aw] = [axis(0), axis(1)];
  const [kh, kw] = c.k;
  const kk = kh * kw;
  const cols = ah.s * aw.s * ah.size * aw.size;
  // The phases' kernels from W by a 0/1 selection matrix (exact: one product by 1 per element).
  const select = new Float32Array(kk * cols);
  let col = 0;
  for (let rh = 0; rh < ah.s; rh++) {
    for (let rw = 0; rw < aw.s; rw++) {
      for (let th = 0; th < ah.size; th++) {
        for (let tw = 0; tw < aw.size; tw++, col++) {
          const [i, j] = [ah.tap(rh, th), aw.tap(rw, tw)];
          if (i >= 0 && j >= 0) select[(i * kw + j) * cols + col] = 1;
        }
      }
    }
  }
  const key = `g.polyphase.${kh}x${kw}.s${ah.s}x${aw.s}.p${c.p[0]}x${c.p[1]}`;
  const picked = g.op('MatMul', [g.reshape(w, [m * ch, kk]), g.t.weight(key, [kk, cols], select)]); // [M*C, s*s*Kh*Kw]
  const kernel = g.reshape(g.op('Transpose', [g.reshape(picked, [m, ch, ah.s, aw.s, ah.size, aw.size])], { perm: [1, 2, 3, 0, 4, 5] }), [ch * ah.s * aw.s, m, ah.size, aw.size]);
  const phases = g.op('Conv', [dy, kernel], { kernel_shape: [ah.size, aw.size], pads: [ah.begin, aw.begin, ah.end, aw.end] }); // [B, C*s*s, Lh, Lw]
  let full: string;
  if (convOptions.interleave === 'depthToSpace' && ah.s === aw.s) full = g.op('DepthToSpace', [phases], { blocksize: ah.s, mode: 'CRD' });
  else if (convOptions.interleave === 'convTranspose') {
    // A depthwise ConvTranspose with stride s whose s*s one-hot kernels put phase (rh, rw) at (rh, rw) of each s x s block.
    const ss = ah.s * aw.s;
    const oneHot = new Float32Array(ch * ss * ss);
    for (let k = 0; k < ch * ss; k++) oneHot[k * ss + (k % ss)] = 1;
    full = g.op('ConvTranspose', [phases, g.t.weight(`g.interleave.${ch}.${ah.s}x${aw.s}`, [ch * ss, 1, ah.s, aw.s], oneHot)], { kernel_shape: [ah.s, aw.s], strides: [ah.s, aw.s], group: ch });
  } else full = g.reshape(g.op('Transpose', [g.reshape(phases, [b, ch, ah.s, aw.s, ah.len, aw.len])], { perm: [0, 1, 4, 2, 5, 3] }), [b, ch, ah.s * ah.len, aw.s * aw.len]);
  const [hx, wx] = c.x.slice(2);
  return ah.s * ah.len === hx && aw.s * aw.len === wx ? full : g.op('Slice', [full, g.ints([0, 0]), g.ints([hx, wx]), g.ints([2, 3])]);
}

/** The kh*kw strided taps of the padded input, each [B, C, oh, ow] (tap (i, j) is what W[:, :, i, j] multiplies). */
function convTaps(g: GradContext, c: ConvGeometry, x: string): string[] {
  const [oh, ow] = c.out.slice(2);
  const [kh, kw] = c.k;
  const pads = [0, 0, c.p[0], c.p[1], 0, 0, c.p[2], c.p[3]];
  const xp = pads.some(Boolean) ? g.op('Pad', [x, g.ints(pads)]) : x;
  const taps: string[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const whole = i === 0 && j === 0 && c.s.every((s) => s === 1) && g.shape(xp)[2] === oh && g.shape(xp)[3] === ow;
      taps.push(whole ? xp : g.op('Slice', [xp, g.ints([i, j]), g.ints([i + (oh - 1) * c.s[0] + 1, j + (ow - 1) * c.s[1] + 1]), g.ints([2, 3]), g.ints(c.s)]));
    }
  }
  return taps;
}

/**
 * dL/dW by im2col: the taps stacked as [B, kk*C, P], times dy^T [B, P, M], summed over the batch. One
 * batched MatMul; no transpose of the large column matrix.
 */
function convWeightGradIm2col(g: GradContext, c: ConvGeometry, x: string, dy: string): string {
  const [b, ch] = c.x;
  const [m, , kh, kw] = c.w;
  const [oh, ow] = c.out.slice(2);
  const taps = convTaps(g, c, x);
  const col = g.reshape(taps.length === 1 ? taps[0] : g.op('Concat', taps, { axis: 1 }), [b, kh * kw * ch, oh * ow]);
  const dyT = g.op('Transpose', [g.reshape(dy, [b, m, oh * ow])], { perm: [0, 2, 1] });
  const dwT = g.op('ReduceSum', [g.op('MatMul', [col, dyT]), g.ints([0])], { keepdims: 0 }); // [kh*kw*C, M]
  return g.op('Transpose', [g.reshape(dwT, [kh, kw, ch, m])], { perm: [3, 2, 0, 1] });
}

/**
 * dL/dW tap by tap: dy [B, M, P] times each tap^T [B, P, C], stacked [kk, B, M, C] (small) and summed over
 * the batch. No column matrix: the kh*kw-times copy of the input is never concatenated (nor held at once).
 */
function convWeightGradTaps(g: GradContext, c: ConvGeometry, x: string, dy: string): string {
  const [b, ch] = c.x;
  const [m, , kh, kw] = c.w;
  const p = c.out[2] * c.out[3];
  const dyr = g.reshape(dy, [b, m, p]);
  const parts = convTaps(g, c, x).map((tap) => {
    const tapT = g.op('Transpose', [g.reshape(tap, [b, ch, p])], { perm: [0, 2, 1] });
    return g.reshape(g.op('MatMul', [dyr, tapT]), [1, b, m, ch]);
  });
  const stacked = parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: 0 }); // [kk, B, M, C]
  const dw = g.op('ReduceSum', [stacked, g.ints([1])], { keepdims: 0 }); // [kk, M, C]
  return g.op('Transpose', [g.reshape(dw, [kh, kw, m, ch])], { perm: [2, 3, 0, 1] });
}

/**
 * dL/dW of a stride-1 convolution from kw column shifts of the padded input and kh row shifts of dy:
 *   dW[m, c, i, j] = sum_{b, y, x} dy[b, m, y, x] xp[b, c, y + i, x + j]
 *                  = sum_{b, Y, x} dy_i[b, m, Y, x] xs_j[b, c, Y, x],
 * with xs_j = xp[:, :, :, j : j + ow] (every padded row kept) and dy_i = dy moved down i rows and padded to
 * those rows. The kh row shifts are stacked [B, kh*M, Hp*ow], so each of the kw MatMuls gives a whole
 * column of taps. About kw copies of x and kh of dy instead of im2col's kh*kw copies of x and their
 * concatenation. Other strides: im2col.
 */
function convWeightGradShifts(g: GradContext, c: ConvGeometry, x: string, dy: string): string {
  if (c.s.some((s) => s !== 1)) return convWeightGradIm2col(g, c, x, dy);
  const [b, ch] = c.x;
  const [m, , kh, kw] = c.w;
  const [oh, ow] = c.out.slice(2);
  const hp = oh + kh - 1;
  const pads = [0, 0, c.p[0], c.p[1], 0, 0, c.p[2], c.p[3]];
  const xp = pads.some(Boolean) && convOptions.shiftCols === 'slice' ? g.op('Pad', [x, g.ints(pads)]) : x; // [B, C, hp, ow + kw - 1]
  const gapped = convOptions.shiftRows === 'concat' && kh > 1;
  let dyRows: string;
  if (gapped) {
    // Per (b, m), row shift i is dy at offset i*hp*ow + i*ow of kh frames of hp*ow: dy, then kh*ow zeros,
    // then dy again, ... (each gap is one shift's tail and the next one's head). One Concat writes them all.
    const flat = g.reshape(dy, [b, m, oh * ow]);
    const gap = g.expand(g.scalar(0), [b, m, kh * ow]);
    const parts = [flat];
    for (let i = 1; i < kh; i++) parts.push(gap, flat);
    dyRows = g.reshape(g.op('Concat', parts, { axis: 2 }), [b, m * kh, hp * ow]); // rows (m, i)
  } else {
    const rows: string[] = [];
    for (let i = 0; i < kh; i++) rows.push(kh === 1 ? dy : g.op('Pad', [dy, g.ints([0, 0, i, 0, 0, 0, kh - 1 - i, 0])]));
    dyRows = g.reshape(rows.length === 1 ? rows[0] : g.op('Concat', rows, { axis: 1 }), [b, kh * m, hp * ow]); // rows (i, m)
  }
  const cols: string[] = [];
  for (let j = 0; j < kw; j++) {
    // Column shift j of the padded input: a Slice of it, or x padded (negative pads crop) straight to it.
    const colPads = [c.p[1] - j, c.p[3] - (kw - 1 - j)];
    const direct = convOptions.shiftCols === 'pad';
    const xs = direct ? (c.p[0] || c.p[2] || colPads.some(Boolean) ? g.op('Pad', [x, g.ints([0, 0, c.p[0], colPads[0], 0, 0, c.p[2], colPads[1]])]) : x)
      : g.shape(xp)[3] === ow ? xp : g.op('Slice', [xp, g.ints([j]), g.ints([j + ow]), g.ints([3])]);
    const xsT = g.op('Transpose', [g.reshape(xs, [b, ch, hp * ow])], { perm: [0, 2, 1] });
    cols.push(g.reshape(g.op('MatMul', [dyRows, xsT]), gapped ? [1, b, m, kh, ch] : [1, b, kh, m, ch]));
  }
  const stacked = cols.length === 1 ? cols[0] : g.op('Concat', cols, { axis: 0 }); // [kw, B, kh, M, C] or [kw, B, M, kh, C]
  const dw = g.op('ReduceSum', [stacked, g.ints([1])], { keepdims: 0 });
  return g.op('Transpose', [dw], { perm: gapped ? [1, 3, 2, 0] : [2, 3, 1, 0] });
}

/**
 * dL/dW with the batch folded into the GEMMs' K: x and dy transposed once to channels-first [C, B, H, W] and
 * [M, B, oh, ow], so each product is one [rows, B*P] x [B*P, C] MatMul (large K, no per-image products and
 * no sum over the batch). Stride 1: the shifts form (kh row shifts of dy stacked, one MatMul per kernel
 * column); other strides: im2col over the channels-first input, the taps stacked [kk*C, B*P].
 */
function convWeightGradFolded(g: GradContext, c: ConvGeometry, x: string, dy: string): string {
  const [b, ch] = c.x;
  const [m, , kh, kw] = c.w;
  const [oh, ow] = c.out.slice(2);
  const pads = [0, 0, c.p[0], c.p[1], 0, 0, c.p[2], c.p[3]];
  const xt = g.op('Transpose', [x], { perm: [1, 0, 2, 3] });
  const xp = pads.some(Boolean) ? g.op('Pad', [xt, g.ints(pads)]) : xt; // [C, B, Hp, Wp]
  const dyt = g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }); // [M, B, oh, ow]
  const tr = (v: string) => g.op('Transpose', [v], { perm: [1, 0] }); // fused into the MatMul (transB) by onnxruntime
  if (c.s.some((s) => s !== 1)) {
    const taps: string[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        taps.push(g.op('Slice', [xp, g.ints([i, j]), g.ints([i + (oh - 1) * c.s[0] + 1, j + (ow - 1) * c.s[1] + 1]), g.ints([2, 3]), g.ints(c.s)]));
      }
    }
    const col = g.reshape(taps.length === 1 ? taps[0] : g.op('Concat', taps, { axis: 0 }), [kh * kw * ch, b * oh * ow]);
    const dwT = g.op('MatMul', [col, tr(g.reshape(dyt, [m, b * oh * ow]))]); // [kh*kw*C, M]
    return g.op('Transpose', [g.reshape(dwT, [kh, kw, ch, m])], { perm: [3, 2, 0, 1] });
  }
  const hp = oh + kh - 1;
  const rows: string[] = [];
  for (let i = 0; i < kh; i++) rows.push(kh === 1 ? dyt : g.op('Pad', [dyt, g.ints([0, 0, i, 0, 0, 0, kh - 1 - i, 0])]));
  const dyRows = g.reshape(rows.length === 1 ? rows[0] : g.op('Concat', rows, { axis: 0 }), [kh * m, b * hp * ow]);
  const cols: string[] = [];
  for (let j = 0; j < kw; j++) {
    const xs = g.shape(xp)[3] === ow ? xp : g.op('Slice', [xp, g.ints([j]), g.ints([j + ow]), g.ints([3])]);
    cols.push(g.reshape(g.op('MatMul', [dyRows, tr(g.reshape(xs, [ch, b * hp * ow]))]), [1, kh, m, ch]));
  }
  const dw = cols.length === 1 ? cols[0] : g.op('Concat', cols, { axis: 0 }); // [kw, kh, M, C]
  return g.op('Transpose', [dw], { perm: [2, 3, 1, 0] });
}

/** dL/dW as a convolution of the batch-transposed input by dy dilated by the stride (then cropped). */
function convWeightGradConv(g: GradContext, c: ConvGeometry, x: string, dy: string): string {
  const xt = g.op('Transpose', [x], { perm: [1, 0, 2, 3] });
  const dyt = g.op('Transpose', [dy], { perm: [1, 0, 2, 3] });
  const full = g.op('Conv', [xt, dyt], { kernel_shape: c.out.slice(2), dilations: c.s, pads: c.p }); // [C, M, kh', kw']
  const fs = g.shape(full);
  const cropped = fs[2] === c.k[0] && fs[3] === c.k[1] ? full : g.op('Slice', [full, g.ints([0, 0]), g.ints(c.k), g.ints([2, 3])]);
  return g.op('Transpose', [cropped], { perm: [1, 0, 2, 3] });
}

const conv: Rule = (g, n, [dy], want) => {
  const c = convGeometry(g, n);
  const dx = want[0] ? (convOptions.inputGrad === 'conv' ? convInputGradConv : convInputGradTransposed)(g, c, dy!, n.inputs[1]) : null;
  const dw = want[1] ? { conv: convWeightGradConv, im2col: convWeightGradIm2col, taps: convWeightGradTaps, shifts: convWeightGradShifts, folded: convWeightGradFolded }[convOptions.weightGrad](g, c, n.inputs[0], dy!) : null;
  const db = want[2] ? g.op('ReduceSum', [dy!, g.ints([0, 2, 3])], { keepdims: 0 }) : null;
  return [dx, dw, db];
};

const matmul: Rule = (g, n, [dy], want) => {
  const [a, b] = n.inputs;
  const t = (v: string) => g.op('Transpose', [v], { perm: lastTwo(g.shape(v).length) });
  return [
    want[0] ? g.unbroadcast(g.op('MatMul', [dy!, t(g.saved(b))]), g.shape(a)) : null,
    want[1] ? g.unbroadcast(g.op('MatMul', [t(g.saved(a)), dy!]), g.shape(b)) : null,
  ];
};

const gemm: Rule = (g, n, [dy], want) => {
  const [a, b, c] = n.inputs;
  const alpha = (n.attrs.alpha as { float: number } | undefined)?.float ?? 1;
  const beta = (n.attrs.beta as { float: number } | undefined)?.float ?? 1;
  const scaled = alpha === 1 ? dy! : g.op('Mul', [dy!, g.scalar(alpha)]);
  const tA = Boolean(n.attrs.transA);
  const tB = Boolean(n.attrs.transB);
  // dA' = dy B'^T, dB' = A'^T dy, where X' = X or X^T; then back through the transposes.
  const da = want[0] ? g.op('Gemm', tA ? [b, scaled] : [scaled, b], { transA: tA ? (tB ? 1 : 0) : 0, transB: tA ? 1 : (tB ? 0 : 1) }) : null;
  const db = want[1] ? g.op('Gemm', tB ? [scaled, a] : [a, scaled], { transA: tB ? 1 : (tA ? 0 : 1), transB: tB ? (tA ? 1 : 0) : 0 }) : null;
  const dc = want[2] && c ? g.unbroadcast(beta === 1 ? dy! : g.op('Mul', [dy!, g.scalar(beta)]), g.shape(c)) : null;
  return [da, db, dc];
};

const add: Rule = (g, n, [dy], want) => n.inputs.map((x, i) => (want[i] ? g.unbroadcast(dy!, g.shape(x)) : null));

const sub: Rule = (g, n, [dy], want) => [
  want[0] ? g.unbroadcast(dy!, g.shape(n.inputs[0])) : null,
  want[1] ? g.unbroadcast(g.op('Neg', [dy!]), g.shape(n.inputs[1])) : null,
];

/** How some patterns are differentiated (measured by whole training steps, scripts/ab-train-step.ts). */
export const ruleOptions = { fusedSwish: true, plainInstanceNorm: true, affineInstanceNorm: true, poolResize: true };

/**
 * swish y = x * s, s = sigmoid(x), where s is read by this Mul only: dx = dy (s + y (1 - s)) in one
 * product chain (4 elementwise passes instead of the Mul and Sigmoid rules' 5 and the Sum of x's two
 * adjoints); s then gets no adjoint and its Sigmoid is never visited. Null where the pattern does not hold.
 */
function swishGrad(g: GradContext, n: TapeNode, dy: string): string | null {
  if (!ruleOptions.fusedSwish) return null;
  const [a, b] = n.inputs;
  const isSigmoidOf = (s: string, x: string) => { const p = g.producer.get(s); return p?.op === 'Sigmoid' && p.inputs[0] === x && g.readers.get(s) === 1; };
  const s = isSigmoidOf(b, a) ? b : isSigmoidOf(a, b) ? a : null;
  if (!s) return null;
  const factor = g.op('Add', [s, g.op('Mul', [n.outputs[0], g.op('Sub', [g.scalar(1), s])])]);
  return g.op('Mul', [dy, factor]);
}

const mul: Rule = (g, n, [dy], want) => {
  const [a, b] = n.inputs;
  const swish = a !== b ? swishGrad(g, n, dy!) : null;
  if (swish) return g.producer.get(b)?.op === 'Sigmoid' ? [swish, null] : [null, swish];
  return [
    want[0] ? g.unbroadcast(g.op('Mul', [dy!, b]), g.shape(a)) : null,
    want[1] ? g.unbroadcast(g.op('Mul', [dy!, a]), g.shape(b)) : null,
  ];
};

const div: Rule = (g, n, [dy], want) => {
  const [a, b] = n.inputs;
  const da = want[0] || want[1] ? g.op('Div', [dy!, b]) : '';
  return [
    want[0] ? g.unbroadcast(da, g.shape(a)) : null,
    want[1] ? g.unbroadcast(g.op('Neg', [g.op('Mul', [da, n.outputs[0]])]), g.shape(b)) : null, // -dy a / b^2 = -(dy / b) y
  ];
};

const pow: Rule = (g, n, [dy], want) => {
  const p = g.t.constantOf(n.inputs[1]);
  if (want[1] || !p || p.length !== 1) throw new Error('Pow backward: only a constant scalar exponent is supported');
  const dx = p[0] === 2 ? g.op('Mul', [n.inputs[0], g.scalar(2)]) : g.op('Mul', [g.op('Pow', [n.inputs[0], g.scalar(p[0] - 1)]), g.scalar(p[0])]);
  return [g.op('Mul', [dy!, dx]), null];
};

const sigmoid: Rule = (g, n, [dy]) => {
  const y = n.outputs[0];
  return [g.op('Mul', [dy!, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])])];
};

const sqrt: Rule = (g, n, [dy]) => [g.op('Div', [g.op('Mul', [dy!, g.scalar(0.5)]), n.outputs[0]])];

const positive = (g: GradContext, x: string) => g.op('Greater', [x, g.scalar(0)]);

const relu: Rule = (g, n, [dy]) => [g.op('Where', [positive(g, n.inputs[0]), dy!, g.scalar(0)])];

const leakyRelu: Rule = (g, n, [dy]) => {
  const alpha = (n.attrs.alpha as { float: number } | undefined)?.float ?? 0.01;
  return [g.op('Where', [positive(g, n.inputs[0]), dy!, g.op('Mul', [dy!, g.scalar(alpha)])])];
};

const where: Rule = (g, n, [dy], want) => {
  const zero = g.scalar(0);
  return [null,
    want[1] ? g.unbroadcast(g.op('Where', [n.inputs[0], dy!, zero]), g.shape(n.inputs[1])) : null,
    want[2] ? g.unbroadcast(g.op('Where', [n.inputs[0], zero, dy!]), g.shape(n.inputs[2])) : null];
};

const softmax: Rule = (g, n, [dy]) => {
  const y = n.outputs[0];
  const axis = (n.attrs.axis as number | undefined) ?? -1;
  const s = g.op('ReduceSum', [g.op('Mul', [dy!, y]), g.ints([axis])], { keepdims: 1 });
  return [g.op('Mul', [y, g.op('Sub', [dy!, s])])];
};

/** The adjoint of a reduction over `axes` of x: dy (with the reduced axes kept) broadcast back to x. */
function unreduce(g: GradContext, n: TapeNode, dy: string, scale: number): string {
  const x = g.shape(n.inputs[0]);
  const axes = reduceAxes(g.t, n);
  const kept = g.reshape(dy, x.map((d, i) => (axes.includes(i) ? 1 : d)));
  return g.expand(scale === 1 ? kept : g.op('Mul', [kept, g.scalar(scale)]), x);
}

const reduceSum: Rule = (g, n, [dy]) => [unreduce(g, n, dy!, 1), null];

const reduceMean: Rule = (g, n, [dy]) => {
  const x = g.shape(n.inputs[0]);
  const count = reduceAxes(g.t, n).reduce((p, a) => p * x[a], 1);
  return [unreduce(g, n, dy!, 1 / count), null];
};

/** (x - mean) / sqrt(var + eps) over `axes`, and 1 / sqrt(var + eps): the normalisations' saved statistics, recomputed. */
function standardise(g: GradContext, x: string, axes: number[], eps: number): { xhat: string; rstd: string } {
  const mean = g.op('ReduceMean', [x], { axes, keepdims: 1 });
  const xc = g.op('Sub', [x, mean]);
  const variance = g.op('ReduceMean', [g.op('Mul', [xc, xc])], { axes, keepdims: 1 });
  const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
  return { xhat: g.op('Mul', [xc, rstd]), rstd };
}

/** dx of y = xhat * scale + bias with statistics over `axes`: rstd (gs - mean(gs) - xhat mean(gs xhat)). */
function normInputGrad(g: GradContext, gs: string, xhat: string, rstd: string, axes: number[]): string {
  const m1 = g.op('ReduceMean', [gs], { axes, keepdims: 1 });
  const m2 = g.op('ReduceMean', [g.op('Mul', [gs, xhat])], { axes, keepdims: 1 });
  return g.op('Mul', [rstd, g.op('Sub', [g.op('Sub', [gs, m1]), g.op('Mul', [xhat, m2])])]);
}

/** Whether `v` is a constant whose every element is `value`. */
function constantAll(g: GradContext, v: string | undefined, value: number): boolean {
  const c = v ? g.t.constantOf(v) : undefined;
  return !!c && c.every((x) => x === value);
}

/**
 * InstanceNormalization with a scale s that is not the unit constant (GroupNorm where each group is one
 * channel, its weight fed): with N elements per (b, c), xc = x - mean, S0 = sum(dy), S1 = sum(dy xc),
 *   dx = a dy + b xc + c,  a = s rstd,  b = -a rstd^2 S1 / N,  c = -a S0 / N   (a, b, c per (b, c)),
 *   ds = sum_b rstd S1,  dbias = sum_b S0.
 * Seven elementwise passes (xc, xc^2, dy xc, then four for dx) and four reductions, where scaling dy
 * and going through xhat took ten and five.
 */
function instanceNormAffineGrad(g: GradContext, n: TapeNode, dy: string, want: boolean[], axes: number[], eps: number): (string | null)[] {
  const [x, scale] = n.inputs;
  const shape = g.shape(x);
  const count = axes.reduce((p, a) => p * shape[a], 1);
  const keep = { axes, keepdims: 1 };
  const s0 = g.op('ReduceSum', [dy, g.ints(axes)], { keepdims: 1 });
  const overBatch = (v: string) => g.op('ReduceSum', [v, g.ints([0, ...axes])], { keepdims: 0 });
  const dbias = want[2] ? overBatch(s0) : null;
  if (!want[0] && !want[1]) return [null, null, dbias];
  const xc = g.op('Sub', [x, g.op('ReduceMean', [x], keep)]);
  const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [g.op('ReduceMean', [g.op('Mul', [xc, xc])], keep), g.scalar(eps)])])]); // [B, C, 1.., 1]
  const s1 = g.op('ReduceSum', [g.op('Mul', [dy, xc]), g.ints(axes)], { keepdims: 1 });
  let dx: string | null = null;
  if (want[0]) {
    const a = g.op('Mul', [rstd, g.reshape(scale, [shape[1], ...axes.map(() => 1)])]);
    const b = g.op('Mul', [g.op('Mul', [a, g.op('Mul', [rstd, rstd])]), g.op('Mul', [s1, g.scalar(-1 / count)])]);
    const c = g.op('Mul', [a, g.op('Mul', [s0, g.scalar(-1 / count)])]);
    dx = g.op('Add', [g.op('Add', [g.op('Mul', [dy, a]), g.op('Mul', [xc, b])]), c]);
  }
  return [dx, want[1] ? overBatch(g.op('Mul', [s1, rstd])) : null, dbias];
}

const instanceNorm: Rule = (g, n, [dy], want) => {
  const [x, scale, bias] = n.inputs;
  const shape = g.shape(x);
  const axes = [...shape.keys()].slice(2);
  const eps = (n.attrs.epsilon as { float: number } | undefined)?.float ?? 1e-5;
  const perChannel = [shape[1], ...axes.map(() => 1)];
  // With unit scale and zero bias (GroupNorm's form: the affine follows), the output is xhat itself and
  // dy needs no scaling: only 1/sqrt(var + eps) is recomputed.
  const plain = ruleOptions.plainInstanceNorm && constantAll(g, scale, 1) && constantAll(g, bias, 0);
  if (!plain && ruleOptions.affineInstanceNorm) return instanceNormAffineGrad(g, n, dy!, want, axes, eps);
  let xhat: string;
  let rstd: string;
  if (plain) {
    const xc = g.op('Sub', [x, g.op('ReduceMean', [x], { axes, keepdims: 1 })]);
    const variance = g.op('ReduceMean', [g.op('Mul', [xc, xc])], { axes, keepdims: 1 }); // (ReduceSumSquare profiled slower)
    rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
    xhat = n.outputs[0];
  } else {
    ({ xhat, rstd } = standardise(g, x, axes, eps));
  }
  const gs = plain ? dy! : g.op('Mul', [dy!, g.reshape(scale, perChannel)]);
  const dx = want[0] ? normInputGrad(g, gs, xhat, rstd, axes) : null;
  const dscale = want[1] ? g.op('ReduceSum', [g.op('Mul', [dy!, xhat]), g.ints([0, ...axes])], { keepdims: 0 }) : null;
  const dbias = want[2] ? g.op('ReduceSum', [dy!, g.ints([0, ...axes])], { keepdims: 0 }) : null;
  return [dx, dscale, dbias];
};

/**
 * Inference-mode BatchNormalization y = (x - mean) k + bias, k = scale / sqrt(var + eps) per channel, with
 * constant mean and variance (GroupNorm's affine, ../network/layers.onnx.ts): dx = dy k, dscale = sum(dy
 * (x - mean) / sqrt(var + eps)), dbias = sum(dy); with mean 0 and variance + eps == 1 the Sub and Div vanish.
 */
const batchNorm: Rule = (g, n, [dy], want) => {
  const [x, scale, , mean, variance] = n.inputs;
  if (want[3] || want[4] || n.attrs.training_mode) throw new Error('BatchNormalization backward: inference mode with constant mean and variance only');
  const shape = g.shape(x);
  const perChannel = [shape[1], ...shape.slice(2).map(() => 1)];
  const axes = [0, ...[...shape.keys()].slice(2)];
  const eps = (n.attrs.epsilon as { float: number } | undefined)?.float ?? 1e-5;
  const m = g.t.constantOf(mean);
  const v = g.t.constantOf(variance);
  const unit = !!m && !!v && m.every((q) => q === 0) && v.every((q) => Math.fround(q + eps) === 1);
  const rstd = unit ? '' : g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
  const k = unit ? scale : g.op('Mul', [scale, rstd]);
  const xn = unit ? x : g.op('Mul', [g.op('Sub', [x, g.reshape(mean, perChannel)]), g.reshape(rstd, perChannel)]);
  return [
    want[0] ? g.op('Mul', [dy!, g.reshape(k, perChannel)]) : null,
    want[1] ? g.op('ReduceSum', [g.op('Mul', [dy!, xn]), g.ints(axes)], { keepdims: 0 }) : null,
    want[2] ? g.op('ReduceSum', [dy!, g.ints(axes)], { keepdims: 0 }) : null,
    null, null,
  ];
};

const reshape: Rule = (g, n, [dy]) => [g.reshape(dy!, g.shape(n.inputs[0])), null];

const transpose: Rule = (g, n, [dy]) => {
  const perm = ints(n.attrs.perm) ?? [...g.shape(n.inputs[0]).keys()].reverse();
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return [g.op('Transpose', [dy!], { perm: inverse })];
};

const identity: Rule = (_g, _n, [dy]) => [dy];

const unary = (f: (g: GradContext, n: TapeNode, dy: string) => string): Rule => (g, n, [dy]) => [f(g, n, dy!)];

/** Nearest upsampling by integer factors (asymmetric, floor): each input pixel's adjoint sums its block. */
const resize: Rule = (g, n, [dy]) => {
  if (n.attrs.mode !== 'nearest' || n.attrs.coordinate_transformation_mode !== 'asymmetric') throw new Error('Resize backward: only nearest, asymmetric');
  const x = g.shape(n.inputs[0]);
  const y = g.shape(n.outputs[0]);
  const f = y.map((d, i) => d / x[i]);
  if (f.some((v) => !Number.isInteger(v)) || f[0] !== 1 || f[1] !== 1) throw new Error('Resize backward: integer spatial factors only');
  if (ruleOptions.poolResize && x.length === 4) {
    // The block sum as an average pool (onnxruntime's pooling kernel; a ReduceSum over the 6-D view's axes
    // 3 and 5 takes its slow strided path) times the block size, on the f*f times smaller result.
    const mean = g.op('AveragePool', [dy!], { kernel_shape: [f[2], f[3]], strides: [f[2], f[3]] });
    return [g.op('Mul', [mean, g.scalar(f[2] * f[3])])];
  }
  const blocks = g.reshape(dy!, [x[0], x[1], x[2], f[2], x[3], f[3]]);
  return [g.op('ReduceSum', [blocks, g.ints([3, 5])], { keepdims: 0 })];
};

/** MaxPool: each window's adjoint goes to its maximum (indices from MaxPool itself, scattered with add). */
const maxPool: Rule = (g, n, [dy]) => {
  const x = g.shape(n.inputs[0]);
  const [, idx] = g.t.opN('MaxPool', [n.inputs[0]], 2, n.attrs);
  const size = x.reduce((p, q) => p * q, 1);
  const zeros = g.expand(g.scalar(0), [size]);
  const flat = g.op('ScatterElements', [zeros, g.reshape(idx, [-1]), g.reshape(dy!, [-1])], { axis: 0, reduction: 'add' });
  return [g.reshape(flat, x)];
};

const pad: Rule = (g, n, [dy]) => {
  const x = g.shape(n.inputs[0]);
  const pads = g.t.constantOf(n.inputs[1])!;
  if ((n.attrs.mode ?? 'constant') !== 'constant' || pads.some((p) => p < 0)) throw new Error('Pad backward: constant, non-negative pads only');
  const starts = x.map((_, i) => pads[i]);
  return [g.op('Slice', [dy!, g.ints(starts), g.ints(starts.map((s, i) => s + x[i])), g.ints([...x.keys()])]), null, null];
};

const slice: Rule = (g, n, [dy]) => {
  const x = g.shape(n.inputs[0]);
  const starts = g.t.constantOf(n.inputs[1])!;
  const ends = g.t.constantOf(n.inputs[2])!;
  const axes = (n.inputs[3] ? g.t.constantOf(n.inputs[3])! : starts.map((_, i) => i)).map((a) => (a < 0 ? a + x.length : a));
  if (n.inputs[4] && g.t.constantOf(n.inputs[4])!.some((s) => s !== 1)) throw new Error('Slice backward: unit steps only');
  const pads = new Array(2 * x.length).fill(0);
  axes.forEach((a, i) => {
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + x[a] : v, 0), x[a]);
    pads[a] = clamp(starts[i]);
    pads[a + x.length] = x[a] - clamp(ends[i]);
  });
  return [g.op('Pad', [dy!, g.ints(pads)])];
};

const concat: Rule = (g, n, [dy], want) => {
  const rank = g.shape(n.inputs[0]).length;
  const axis = (n.attrs.axis as number) < 0 ? (n.attrs.axis as number) + rank : (n.attrs.axis as number);
  let offset = 0;
  return n.inputs.map((x, i) => {
    const len = g.shape(x)[axis];
    const out = want[i] ? g.op('Slice', [dy!, g.ints([offset]), g.ints([offset + len]), g.ints([axis])]) : null;
    offset += len;
    return out;
  });
};

/** Gather of rows (axis 0): each row's adjoint is added to the row it was read from (repeated rows sum). */
const gather: Rule = (g, n, [dy], want) => {
  if (((n.attrs.axis as number | undefined) ?? 0) !== 0) throw new Error('Gather backward: axis 0 only');
  const [data, indices] = n.inputs;
  const shape = g.shape(data);
  const zeros = g.expand(g.scalar(0), shape);
  const idx = g.op('Unsqueeze', [indices, g.ints([-1])]);
  const rows = g.reshape(dy!, [...g.shape(indices), ...shape.slice(1)]);
  return [want[0] ? g.op('ScatterND', [zeros, idx, rows], { reduction: 'add' }) : null, null];
};

const expand: Rule = (g, n, [dy]) => [g.unbroadcast(dy!, g.shape(n.inputs[0])), null];

const sumRule: Rule = (g, n, [dy], want) => n.inputs.map((x, i) => (want[i] ? g.unbroadcast(dy!, g.shape(x)) : null));

/**
 * A grouped convolution (the depthwise Convs of Winograd's input transform, ../network/winograd.onnx.ts):
 * the input gradient by ConvTranspose with the same kernel, strides, pads and groups (each group's
 * adjoint on its own channels). Only the input and bias gradients: the weight gradient of a grouped
 * convolution is refused (the transforms' kernels are constants; the network's own convs are ungrouped).
 */
function groupedConv(g: GradContext, n: TapeNode, dy: string, want: boolean[]): (string | null)[] {
  const group = n.attrs.group as number;
  if (want[1]) throw new Error(`Conv backward: no weight gradient for a grouped convolution (group ${group}; only constant kernels, such as Winograd's transforms, are supported)`);
  if ((ints(n.attrs.dilations) ?? []).some((d) => d !== 1)) throw new Error('Conv backward: dilations are not supported');
  const w = g.shape(n.inputs[1]);
  const c: ConvGeometry = { k: ints(n.attrs.kernel_shape) ?? w.slice(2), s: ints(n.attrs.strides) ?? [1, 1], p: ints(n.attrs.pads) ?? [0, 0, 0, 0], out: g.shape(n.outputs[0]), x: g.shape(n.inputs[0]), w };
  const outputPadding = [0, 1].map((i) => c.x[2 + i] - ((c.out[2 + i] - 1) * c.s[i] + c.k[i] - c.p[i] - c.p[i + 2]));
  const dx = want[0] ? g.op('ConvTranspose', [dy, n.inputs[1]], { kernel_shape: c.k, strides: c.s, pads: c.p, output_padding: outputPadding, group }) : null;
  return [dx, null, want[2] ? g.op('ReduceSum', [dy, g.ints([0, 2, 3])], { keepdims: 0 }) : null];
}

const convOrGrouped: Rule = (g, n, dy, want) => (((n.attrs.group as number | undefined) ?? 1) !== 1 ? groupedConv(g, n, dy[0]!, want) : conv(g, n, dy, want));

/**
 * ConvTranspose (Winograd's output transform): it is the adjoint of the Conv with the same kernel, so its
 * input gradient is that Conv (same kernel, strides, pads, groups; output_padding only adds rows the Conv
 * does not reach), its bias gradient a ReduceSum. Its weight gradient is refused (constant kernels only).
 */
const convTranspose: Rule = (g, n, [dy], want) => {
  if (want[1]) throw new Error('ConvTranspose backward: no weight gradient (only constant kernels, such as Winograd\'s output transform, are supported)');
  if ((ints(n.attrs.dilations) ?? []).some((d) => d !== 1) || n.attrs.auto_pad) throw new Error('ConvTranspose backward: dilations and auto_pad are not supported');
  const attrs: Record<string, number[] | number> = { kernel_shape: ints(n.attrs.kernel_shape) ?? g.shape(n.inputs[1]).slice(2), strides: ints(n.attrs.strides) ?? [1, 1], pads: ints(n.attrs.pads) ?? [0, 0, 0, 0] };
  if (n.attrs.group !== undefined) attrs.group = n.attrs.group as number;
  return [want[0] ? g.op('Conv', [dy!, n.inputs[1]], attrs) : null, null, want[2] ? g.op('ReduceSum', [dy!, g.ints([0, 2, 3])], { keepdims: 0 }) : null];
};

export const RULES: Record<string, Rule> = {
  Conv: convOrGrouped, ConvTranspose: convTranspose, MatMul: matmul, Gemm: gemm, Add: add, Sub: sub, Mul: mul, Div: div, Pow: pow, Sum: sumRule,
  Sigmoid: sigmoid, Sqrt: sqrt, Relu: relu, LeakyRelu: leakyRelu, Where: where, Softmax: softmax,
  ReduceSum: reduceSum, ReduceMean: reduceMean, InstanceNormalization: instanceNorm, BatchNormalization: batchNorm,
  Reshape: reshape, Transpose: transpose, Identity: identity, Cast: identity, Expand: expand,
  Squeeze: reshape, Unsqueeze: reshape, Resize: resize, Gather: gather, MaxPool: maxPool, Pad: pad, Slice: slice, Concat: concat,
  Neg: unary((g, _n, dy) => g.op('Neg', [dy])),
  Abs: unary((g, n, dy) => g.op('Mul', [dy, g.op('Sign', [n.inputs[0]])])),
  Exp: unary((g, n, dy) => g.op('Mul', [dy, n.outputs[0]])),
  Log: unary((g, n, dy) => g.op('Div', [dy, n.inputs[0]])),
  Reciprocal: unary((g, n, dy) => g.op('Neg', [g.op('Mul', [dy, g.op('Mul', [n.outputs[0], n.outputs[0]])])])),
};
