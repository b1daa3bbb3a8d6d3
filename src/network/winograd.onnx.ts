// Winograd F(2x2, 3x3) for 3x3, stride-1, pad-1 convolutions of inference models (Lavin & Gray 2016):
// each 2x2 output tile is A^T [ (G g G^T) . (B^T d B) ] A over its 4x4 input tile d, so the GEMM does 16
// multiplications per tile and channel pair instead of 36 (2.25x fewer). Written in standard ONNX ops: the
// input transform by strided Slices and Add/Sub, the 16 products as one batched MatMul by the transformed
// weights [16, 1, Cout, Cin], the output transform by Add/Sub, the tiles put back by a Transpose. Why:
// onnxruntime-web's wasm GEMM runs at about a quarter of the native rate (no FMA), so the browser's
// decoder is bound by multiplications; natively the extra memory passes cost about what the saved
// multiplications gain at 128 channels (README, "In the browser"), so Node keeps the direct Conv.
import { channelParam, type OnnxEmitter, type ParamTransform } from './onnx.js';

const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];

/** kron(G, G) as [9, 16]: (g [.., 9] @ it)[r * 4 + s] = (G g G^T)[r][s]. */
function kernelTransform(): Float32Array {
  const k = new Float32Array(9 * 16);
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let r = 0; r < 4; r++) for (let s = 0; s < 4; s++) k[(a * 3 + b) * 16 + r * 4 + s] = G[r][a] * G[s][b];
  return k;
}

/** A conv weight [Cout, Cin, 3, 3] as G g G^T, laid out [16, 1, Cout, Cin] for the batched MatMul. */
function winogradParam(cout: number, cin: number): ParamTransform {
  const kt = kernelTransform();
  return {
    suffix: '.winograd',
    shape: [16, 1, cout, cin],
    data: (src) => {
      const out = new Float32Array(16 * cout * cin);
      for (let p = 0; p < cout * cin; p++) for (let t = 0; t < 16; t++) {
        let acc = 0;
        for (let i = 0; i < 9; i++) acc += src[p * 9 + i] * kt[i * 16 + t];
        out[t * cout * cin + p] = acc;
      }
      return out;
    },
    emit: (e, w) => e.op('Reshape', [e.op('Transpose', [e.op('MatMul', [e.op('Reshape', [w, e.ints([cout * cin, 9])]), e.floats('winograd.GxG', [9, 16], kt)])], { perm: [1, 0] }), e.ints([16, 1, cout, cin])]),
  };
}

/** B^T over 4 tensors along one axis: [d0 - d2, d1 + d2, d2 - d1, d1 - d3]. */
function inputTransform(e: OnnxEmitter, d: string[]): string[] {
  return [e.op('Sub', [d[0], d[2]]), e.op('Add', [d[1], d[2]]), e.op('Sub', [d[2], d[1]]), e.op('Sub', [d[1], d[3]])];
}

/** A^T over 4 tensors along one axis: [m0 + m1 + m2, m1 - m2 - m3]. */
function outputTransform(e: OnnxEmitter, m: string[]): string[] {
  return [e.op('Add', [e.op('Add', [m[0], m[1]]), m[2]]), e.op('Sub', [e.op('Sub', [m[1], m[2]]), m[3]])];
}

/**
 * Conv2d `prefix` (3x3, stride 1, zero pad 1, with its bias if any) on x [B, Cin, H, W] by Winograd
 * F(2x2, 3x3). Odd H or W get one more zero row/column and the result is cropped back to [B, Cout, H, W].
 */
export function winogradConv3x3Onnx(e: OnnxEmitter, prefix: string, x: string): string {
  const [cout, cin] = e.tensor(`${prefix}.weight`).shape;
  const hw = e.op('Shape', [x], { start: 2, end: 4 });
  // Pad 1 all round, plus 1 at the bottom/right where H/W is odd, so the tiles cover an even extent.
  const extra = e.op('Add', [e.op('Mod', [hw, e.ints([2, 2])]), e.ints([1, 1])]);
  const padded = e.op('Pad', [x, e.op('Concat', [e.ints([0, 0, 1, 1, 0, 0]), extra], { axis: 0 })]);
  // Tile row r of every 4x4 tile: padded rows r, r + 2, ..., h of them (the padded extent is 2h + 2).
  const strided = (t: string, axis: number, r: number) => e.op('Slice', [t, e.ints([r]), e.ints([r === 3 ? 2 ** 31 - 1 : r - 3]), e.ints([axis]), e.ints([2])]);
  const rows = inputTransform(e, [0, 1, 2, 3].map((r) => strided(padded, 2, r)));
  const v = rows.flatMap((t) => inputTransform(e, [0, 1, 2, 3].map((s) => strided(t, 3, s)))); // 16 x [B, Cin, h, w]
  const tileHw = e.op('Shape', [v[0]], { start: 2, end: 4 });
  const batch = e.op('Shape', [v[0]], { start: 0, end: 1 });
  const stacked = e.op('Concat', v.map((t) => e.op('Unsqueeze', [t, e.ints([0])])), { axis: 0 }); // [16, B, Cin, h, w]
  const m = e.op('MatMul', [e.param(`${prefix}.weight`, winogradParam(cout, cin)), e.op('Reshape', [stacked, e.ints([0, 0, 0, -1])])]); // [16, B, Cout, h*w]
  const mRows = e.g.opN('Split', [e.op('Reshape', [m, e.ints([4, 4, -1])])], 4, { axis: 0 }); // 4 x [1, 4, N]
  const u = e.op('Concat', outputTransform(e, mRows), { axis: 0 }); // [2, 4, N]
  const y = e.op('Concat', outputTransform(e, e.g.opN('Split', [u], 4, { axis: 1 })), { axis: 1 }); // [2, 2, N]: y[i][j] is output pixel (2ty + i, 2tx + j)
  const y6 = e.op('Reshape', [y, e.op('Concat', [e.ints([2, 2]), batch, e.ints([cout]), tileHw], { axis: 0 })]);
  const tiles = e.op('Transpose', [y6], { perm: [2, 3, 4, 0, 5, 1] }); // [B, Cout, h, 2, w, 2]
  const full = e.op('Reshape', [tiles, e.op('Concat', [batch, e.ints([cout]), e.op('Mul', [tileHw, e.ints([2, 2])])], { axis: 0 })]);
  const out = e.op('Slice', [full, e.ints([0, 0]), hw, e.ints([2, 3])]);
  return e.has(`${prefix}.bias`) ? e.op('Add', [out, e.param(`${prefix}.bias`, channelParam(cout))]) : out;
}
