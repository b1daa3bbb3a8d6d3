// Winograd F(4x4, 3x3) for 3x3, stride-1, pad-1 convolutions (Lavin & Gray 2016), in the page's inference
// models and in the training step graphs: each 4x4 output tile is A^T [ (G g G^T) . (B^T d B) ] A over its
// 6x6 input tile d, so the GEMM does 36 multiplications per tile and channel pair instead of 144 (4x
// fewer; F(2x2, 3x3) saves 2.25x and measured 1.4-1.8x slower on onnxruntime-web at the paper's shapes:
// README, "In the browser"). Written in standard ONNX ops that onnxruntime runs as whole-tensor kernels,
// none element by element:
// - input transform B^T d B: two depthwise Convs with fixed kernels, rows (6x1, stride 4) then columns
//   (1x6, stride 4) -> [B, Cin * 36, h, w] (channel c * 36 + t), which also take the tiles out of the
//   zero-padded image (pads 1 before, 4 after: enough for any side);
// - the 36 products: one batched MatMul by the transformed weights [36, Cout, Cin], between two
//   Transposes that only swap whole h*w planes ([B, Cin, 36, hw] <-> [B, 36, Cin, hw]; with `foldBatch`
//   [36, Cin, B * hw], the batch among the MatMul's columns);
// - output transform A^T m A and the tiles put back, with the bias: one depthwise ConvTranspose (4x4
//   kernels, stride 4), then a Slice to H x W (sides not a multiple of 4).
// Where: onnxruntime-web's wasm GEMM runs at about a quarter of the native rate (no FMA), so the browser's
// networks are bound by multiplications and the page's export takes Winograd for every layer of 32
// channels or more. Natively the forward alone gains little (1.2-1.3x at 128-256 channels, slower below),
// so Node's inference keeps the direct Conv; but in training the weight gradient becomes one MatMul with
// 4x fewer products (dm by the transformed input) and the input gradient goes back through the same
// transforms (src/grad: grouped Conv and ConvTranspose rules), so a training step's conv forward and
// backward together measured 1.3-2.1x faster at 128-256 channels on planes of 32 px or more, and slower
// on 16 px planes and at 32-64 channels: training graphs take it there only (../train/onnx-step.ts
// stepOptions; docs/architecture.md, "Rule forms"). There the transformed input (2.25x x's size) is
// recomputed from x for the weight gradient rather than held until the backward (`recompute`).
// Float32 error: the interpolation points 0, +-1, +-2 (the usual choice) amplify rounding, 2e-6 to 8e-6
// of the output's scale per convolution against 6e-7 for F(2x2, 3x3), and up to 1.1e-5 (input gradient)
// and 2.6e-5 (weight gradient) of their scale (winograd.onnx.test.ts bounds the convolution, its
// gradients and whole networks).
import type { OnnxEmitter, ParamTransform } from './onnx.js';

/** Output tile side m, input tile side m + 2, and the number of products per tile. */
const M = 4;
const ALPHA = M + 2;
const T = ALPHA * ALPHA;

/** Points 0, 1, -1, 2, -2 and infinity. */
const BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]];
const G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]];
const AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]];

/** kron(G, G) as [9, 36]: (g [.., 9] @ it)[r * 6 + s] = (G g G^T)[r][s]. */
function kernelTransform(): Float32Array {
  const k = new Float32Array(9 * T);
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let r = 0; r < ALPHA; r++) for (let s = 0; s < ALPHA; s++) k[(a * 3 + b) * T + r * ALPHA + s] = G[r][a] * G[s][b];
  return k;
}

/** A conv weight [Cout, Cin, 3, 3] as G g G^T, laid out [36, Cout, Cin] for the batched MatMul. */
function winogradParam(cout: number, cin: number): ParamTransform {
  return {
    suffix: '.winograd',
    shape: [T, cout, cin],
    data: (src) => {
      // In float64, rounded once: the weights carry no more error than the one float32 rounding.
      const out = new Float32Array(T * cout * cin);
      for (let p = 0; p < cout * cin; p++) for (let r = 0; r < ALPHA; r++) for (let s = 0; s < ALPHA; s++) {
        let acc = 0;
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) acc += G[r][a] * src[p * 9 + a * 3 + b] * G[s][b];
        out[(r * ALPHA + s) * cout * cin + p] = acc;
      }
      return out;
    },
    emit: (e, w) => e.op('Reshape', [e.op('Transpose', [e.op('MatMul', [e.op('Reshape', [w, e.ints([cout * cin, 9])]), e.floats('winograd.GxG', [9, T], kernelTransform())])], { perm: [1, 0] }), e.ints([T, cout, cin])]),
  };
}

/** The depthwise kernels of one B^T pass, for `groups` channels: output r of each group is row r of B^T. */
function inputKernels(groups: number): Float32Array {
  const k = new Float32Array(groups * ALPHA * ALPHA);
  for (let c = 0; c < groups; c++) for (let r = 0; r < ALPHA; r++) for (let i = 0; i < ALPHA; i++) k[(c * ALPHA + r) * ALPHA + i] = BT[r][i];
  return k;
}

/** The depthwise ConvTranspose kernels [cout * 36, 1, 4, 4]: channel c * 36 + r * 6 + s adds AT[.][r] x AT[.][s] to its tile. */
function outputKernels(cout: number): Float32Array {
  const k = new Float32Array(cout * T * M * M);
  for (let c = 0; c < cout; c++) for (let r = 0; r < ALPHA; r++) for (let s = 0; s < ALPHA; s++) for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) k[((c * T + r * ALPHA + s) * M + i) * M + j] = AT[i][r] * AT[j][s];
  return k;
}

/**
 * B^T d B of every tile of x [B, Cin, H, W], as the MatMul's operand: [B, 36, Cin, hw], or [36, Cin, B * hw]
 * with `foldBatch`; and as v [B, Cin * 36, h, w]. `copy` names the kernels apart (a recomputation that
 * onnxruntime must not merge with the forward's as a common subexpression).
 */
function inputTransform(e: OnnxEmitter, x: string, cin: number, foldBatch: boolean, copy = ''): { operand: string; v: string } {
  // Tile (ty, tx) reads padded rows 4ty .. 4ty + 5: pad 1 before, and 4 after so that ceil(H / 4) tiles fit.
  const rows = e.op('Conv', [x, e.floats(`winograd.BT.rows.${cin}${copy}`, [cin * ALPHA, 1, ALPHA, 1], inputKernels(cin))], { kernel_shape: [ALPHA, 1], strides: [M, 1], pads: [1, 0, M, 0], group: cin });
  const v = e.op('Conv', [rows, e.floats(`winograd.BT.cols.${cin}${copy}`, [cin * T, 1, 1, ALPHA], inputKernels(cin * ALPHA))], { kernel_shape: [1, ALPHA], strides: [1, M], pads: [0, 1, 0, M], group: cin * ALPHA }); // [B, Cin * 36, h, w]
  const vt = e.op('Transpose', [e.op('Reshape', [v, e.ints([0, cin, T, -1])])], { perm: foldBatch ? [2, 1, 0, 3] : [0, 2, 1, 3] }); // [B, 36, Cin, hw] or [36, Cin, B, hw]
  return { operand: foldBatch ? e.op('Reshape', [vt, e.ints([T, cin, -1])]) : vt, v };
}

/**
 * Conv2d `prefix` (3x3, stride 1, zero pad 1, with its bias if any) on x [B, Cin, H, W] by Winograd F(4x4, 3x3).
 * `foldBatch`: the batch joins the tiles in the MatMul ([36, Cin, B * hw]: one product per point, and in
 * training one weight-gradient product per point with no sum over the batch) instead of [B, 36, Cin, hw].
 * `recompute` (training tapes): the weight gradient reads the transformed input recomputed from x instead
 * of keeping it from the forward (2.25x x's size per convolution held until the backward).
 */
export function winogradConv3x3Onnx(e: OnnxEmitter, prefix: string, x: string, opts: { foldBatch?: boolean; recompute?: boolean } = {}): string {
  const [cout, cin] = e.tensor(`${prefix}.weight`).shape;
  const foldBatch = opts.foldBatch ?? false;
  const { operand, v } = inputTransform(e, x, cin, foldBatch);
  if (opts.recompute) e.g.recomputable?.(operand, () => inputTransform(e, x, cin, foldBatch, '.recomputed').operand);
  const perm = foldBatch ? [2, 1, 0, 3] : [0, 2, 1, 3];
  let m = e.op('MatMul', [e.param(`${prefix}.weight`, winogradParam(cout, cin)), operand]); // [B, 36, Cout, hw] or [36, Cout, B * hw]
  if (foldBatch) m = e.op('Reshape', [m, e.op('Concat', [e.ints([T, cout]), e.op('Shape', [x], { start: 0, end: 1 }), e.ints([-1])], { axis: 0 })]);
  const tileHw = e.op('Shape', [v], { start: 2, end: 4 });
  const mc = e.op('Reshape', [e.op('Transpose', [m], { perm }), e.op('Concat', [e.ints([0, cout * T]), tileHw], { axis: 0 })]); // [B, Cout * 36, h, w]
  const inputs = [mc, e.floats(`winograd.AT.${cout}`, [cout * T, 1, M, M], outputKernels(cout))];
  if (e.has(`${prefix}.bias`)) inputs.push(e.param(`${prefix}.bias`));
  const y = e.op('ConvTranspose', inputs, { kernel_shape: [M, M], strides: [M, M], group: cout }); // [B, Cout, 4h, 4w]
  // Static shapes (training tapes) whose sides are multiples of 4 need no Slice (a copy of the output).
  const sides = e.g.shapeOf?.(x).slice(2);
  if (sides && sides.every((d) => d % M === 0)) return y;
  return e.op('Slice', [y, e.ints([0, 0]), e.op('Shape', [x], { start: 2, end: 4 }), e.ints([2, 3])]);
}
