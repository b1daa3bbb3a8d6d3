// LPIPS written out in float64 JS loops, straight from the definition (scaling layer, torchvision
// `features` convs / ReLUs / max pools, channel normalisation at the taps with eps 1e-10, squared
// differences, 1x1 heads, spatial mean, sum over taps): the independent yardstick of the tests of the
// ONNX forms (training's ../lpips.onnx.ts, the evaluations' ../../eval/lpips-alexnet.ts). Slow: small images only.
import { toFloat32, type HostTensor } from '../../io/dtypes.js';
import { backboneLayers, SCALE, SHIFT, tapChannels, type LpipsBackbone } from '../lpips.js';

interface Map3 { c: number; h: number; w: number; d: Float64Array }

function conv(x: Map3, wt: Float32Array, b: Float32Array, cout: number, k: number, stride: number, pad: number): Map3 {
  const h = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const w = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const d = new Float64Array(cout * h * w);
  for (let o = 0; o < cout; o++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    let s = b[o];
    for (let c = 0; c < x.c; c++) for (let u = 0; u < k; u++) {
      const y = i * stride - pad + u;
      if (y < 0 || y >= x.h) continue;
      for (let v = 0; v < k; v++) {
        const xx = j * stride - pad + v;
        if (xx < 0 || xx >= x.w) continue;
        s += wt[((o * x.c + c) * k + u) * k + v] * x.d[(c * x.h + y) * x.w + xx];
      }
    }
    d[(o * h + i) * w + j] = s;
  }
  return { c: cout, h, w, d };
}

function maxPool(x: Map3, k: number, stride: number): Map3 {
  const h = Math.floor((x.h - k) / stride) + 1;
  const w = Math.floor((x.w - k) / stride) + 1;
  const d = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    let m = -Infinity;
    for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) m = Math.max(m, x.d[(c * x.h + i * stride + u) * x.w + j * stride + v]);
    d[(c * h + i) * w + j] = m;
  }
  return { c: x.c, h, w, d };
}

/** Channel-normalised tap features of one CHW image in [-1, 1]. */
function taps(img: Float32Array, size: [number, number], backbone: LpipsBackbone, weights: ReadonlyMap<string, HostTensor>): Map3[] {
  const [hh, ww] = size;
  let x: Map3 = { c: 3, h: hh, w: ww, d: new Float64Array(3 * hh * ww) };
  for (let c = 0; c < 3; c++) for (let p = 0; p < hh * ww; p++) x.d[c * hh * ww + p] = (img[c * hh * ww + p] - SHIFT[c]) / SCALE[c];
  const out: Map3[] = [];
  for (const l of backboneLayers(backbone)) {
    if (l.kind === 'conv') x = conv(x, toFloat32(weights.get(`features.${l.index}.weight`)!), toFloat32(weights.get(`features.${l.index}.bias`)!), l.cout, l.k, l.stride, l.pad);
    else if (l.kind === 'maxpool') x = maxPool(x, l.k, l.stride);
    else {
      x = { ...x, d: x.d.map((v) => Math.max(v, 0)) };
      if (!l.tap) continue;
      const n = { ...x, d: new Float64Array(x.d.length) };
      const hw = x.h * x.w;
      for (let p = 0; p < hw; p++) {
        let s = 0;
        for (let c = 0; c < x.c; c++) s += x.d[c * hw + p] ** 2;
        const norm = Math.sqrt(s) + 1e-10;
        for (let c = 0; c < x.c; c++) n.d[c * hw + p] = x.d[c * hw + p] / norm;
      }
      out.push(n);
    }
  }
  return out;
}

/** LPIPS distance per image of NCHW batches x, y [n, 3, h, w] in [-1, 1]. */
export function lpipsReference(x: Float32Array, y: Float32Array, n: number, size: [number, number], backbone: LpipsBackbone,
  backboneWeights: ReadonlyMap<string, HostTensor>, heads: ReadonlyMap<string, HostTensor>): Float64Array {
  const per = 3 * size[0] * size[1];
  const out = new Float64Array(n);
  const chans = tapChannels(backbone);
  for (let i = 0; i < n; i++) {
    const a = taps(x.subarray(i * per, (i + 1) * per), size, backbone, backboneWeights);
    const b = taps(y.subarray(i * per, (i + 1) * per), size, backbone, backboneWeights);
    a.forEach((fa, k) => {
      const head = toFloat32(heads.get(`lin${k}.model.1.weight`)!);
      const hw = fa.h * fa.w;
      let s = 0;
      for (let p = 0; p < hw; p++) for (let c = 0; c < chans[k]; c++) s += head[c] * (fa.d[c * hw + p] - b[k].d[c * hw + p]) ** 2;
      out[i] += s / hw;
    });
  }
  return out;
}
