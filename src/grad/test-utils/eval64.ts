// A float64 interpreter of the forward ops the tape records, for the backward rules' finite-difference
// checks (onnxruntime runs Conv and most ops in float32 only). Plain loops over small shapes; test-only.
import type { Attr } from '../../onnx/graph.js';
import type { Tape, TapeNode } from '../tape.js';

export interface T64 { shape: number[]; data: Float64Array }

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const stridesOf = (s: number[]) => s.map((_, i) => size(s.slice(i + 1)));
const ints = (v: Attr | undefined, d: number[]) => (Array.isArray(v) ? v : d);
const float = (v: Attr | undefined, d: number) => (v && typeof v === 'object' && 'float' in v ? v.float : d);

function broadcastShape(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
}

/** out[i] = f(a[i'], b[i'']) with numpy broadcasting. */
function binary(a: T64, b: T64, f: (x: number, y: number) => number): T64 {
  const shape = broadcastShape(a.shape, b.shape);
  const offsets = (t: T64) => {
    const st = stridesOf(t.shape);
    return shape.map((d, i) => {
      const j = i - (shape.length - t.shape.length);
      return j < 0 || t.shape[j] === 1 ? 0 : st[j];
    });
  };
  const oa = offsets(a);
  const ob = offsets(b);
  const out = new Float64Array(size(shape));
  const os = stridesOf(shape);
  for (let i = 0; i < out.length; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(i / os[d]) % shape[d];
      ia += c * oa[d];
      ib += c * ob[d];
    }
    out[i] = f(a.data[ia], b.data[ib]);
  }
  return { shape, data: out };
}

const map = (a: T64, f: (x: number) => number): T64 => ({ shape: a.shape, data: a.data.map(f) });

/** Generic gather: out[coords] = x[index(coords)]. */
function gatherBy(shape: number[], x: T64, index: (c: number[]) => number): T64 {
  const out = new Float64Array(size(shape));
  const os = stridesOf(shape);
  for (let i = 0; i < out.length; i++) {
    const c = shape.map((d, k) => Math.floor(i / os[k]) % d);
    const j = index(c);
    out[i] = j < 0 ? 0 : x.data[j];
  }
  return { shape, data: out };
}

function conv(x: T64, w: T64, b: T64 | undefined, a: Record<string, Attr>): T64 {
  const [n, , h, wd] = x.shape;
  const [m, c, kh, kw] = w.shape; // c: input channels per group
  const groups = (a.group as number | undefined) ?? 1;
  const [sh, sw] = ints(a.strides, [1, 1]);
  const [pt, pl, pb, pr] = ints(a.pads, [0, 0, 0, 0]);
  const oh = Math.floor((h + pt + pb - kh) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - kw) / sw) + 1;
  const out = new Float64Array(n * m * oh * ow);
  for (let bi = 0; bi < n; bi++) for (let o = 0; o < m; o++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
    let s = b ? b.data[o] : 0;
    const c0 = Math.floor(o / (m / groups)) * c; // the group's first input channel
    for (let ci = 0; ci < c; ci++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const iy = y * sh - pt + i;
      const ix = xx * sw - pl + j;
      if (iy >= 0 && iy < h && ix >= 0 && ix < wd) s += x.data[((bi * c * groups + c0 + ci) * h + iy) * wd + ix] * w.data[((o * c + ci) * kh + i) * kw + j];
    }
    out[((bi * m + o) * oh + y) * ow + xx] = s;
  }
  return { shape: [n, m, oh, ow], data: out };
}

/** ConvTranspose: each input element adds w times itself to its window (w [C, M/group, kh, kw]), cropped by pads. */
function convTranspose(x: T64, w: T64, b: T64 | undefined, a: Record<string, Attr>): T64 {
  const [n, c, h, wd] = x.shape;
  const [, mg, kh, kw] = w.shape;
  const groups = (a.group as number | undefined) ?? 1;
  const [sh, sw] = ints(a.strides, [1, 1]);
  const [pt, pl, pb, pr] = ints(a.pads, [0, 0, 0, 0]);
  const [oph, opw] = ints(a.output_padding, [0, 0]);
  const m = mg * groups;
  const oh = sh * (h - 1) + oph + kh - pt - pb;
  const ow = sw * (wd - 1) + opw + kw - pl - pr;
  const out = new Float64Array(n * m * oh * ow);
  for (let bi = 0; bi < n; bi++) for (let o = 0; o < m; o++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) out[((bi * m + o) * oh + y) * ow + xx] = b ? b.data[o] : 0;
  for (let bi = 0; bi < n; bi++) for (let ci = 0; ci < c; ci++) for (let y = 0; y < h; y++) for (let xx = 0; xx < wd; xx++) {
    const v = x.data[((bi * c + ci) * h + y) * wd + xx];
    const g = Math.floor(ci / (c / groups));
    for (let q = 0; q < mg; q++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const oy = y * sh - pt + i;
      const ox = xx * sw - pl + j;
      if (oy >= 0 && oy < oh && ox >= 0 && ox < ow) out[((bi * m + g * mg + q) * oh + oy) * ow + ox] += v * w.data[((ci * mg + q) * kh + i) * kw + j];
    }
  }
  return { shape: [n, m, oh, ow], data: out };
}

function maxPool(x: T64, a: Record<string, Attr>): T64 {
  const [n, c, h, w] = x.shape;
  const [kh, kw] = ints(a.kernel_shape, [1, 1]);
  const [sh, sw] = ints(a.strides, [1, 1]);
  const [pt, pl, pb, pr] = ints(a.pads, [0, 0, 0, 0]);
  const oh = Math.floor((h + pt + pb - kh) / sh) + 1;
  const ow = Math.floor((w + pl + pr - kw) / sw) + 1;
  return gatherBy([n, c, oh, ow], x, ([b, ch, y, xx]) => {
    let best = -1;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const iy = y * sh - pt + i;
      const ix = xx * sw - pl + j;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      const k = ((b * c + ch) * h + iy) * w + ix;
      if (best < 0 || x.data[k] > x.data[best]) best = k;
    }
    return best;
  });
}

function matmul(a: T64, b: T64): T64 {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const out = new Float64Array(size(shape));
  const bs = size(batch);
  const off = (t: T64, i: number) => {
    const tb = t.shape.slice(0, -2);
    const st = stridesOf(tb);
    const cs = stridesOf(batch);
    let o = 0;
    batch.forEach((d, q) => {
      const j = q - (batch.length - tb.length);
      if (j >= 0 && tb[j] !== 1) o += (Math.floor(i / cs[q]) % d) * st[j];
    });
    return o * size(t.shape.slice(-2));
  };
  for (let i = 0; i < bs; i++) {
    const oa = off(a, i);
    const ob = off(b, i);
    for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a.data[oa + r * k + q] * b.data[ob + q * n + c];
      out[i * m * n + r * n + c] = s;
    }
  }
  return { shape, data: out };
}

function transpose(x: T64, perm: number[]): T64 {
  const shape = perm.map((p) => x.shape[p]);
  const st = stridesOf(x.shape);
  return gatherBy(shape, x, (c) => c.reduce((o, v, i) => o + v * st[perm[i]], 0));
}

function reduce(x: T64, axes: number[], keep: boolean, mean: boolean): T64 {
  const full = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float64Array(size(full));
  const xs = stridesOf(x.shape);
  const fs = stridesOf(full);
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    for (let d = 0; d < x.shape.length; d++) if (!axes.includes(d)) o += (Math.floor(i / xs[d]) % x.shape[d]) * fs[d];
    out[o] += x.data[i];
  }
  const count = axes.reduce((p, a) => p * x.shape[a], 1);
  if (mean) for (let i = 0; i < out.length; i++) out[i] /= count;
  return { shape: keep ? full : x.shape.filter((_, i) => !axes.includes(i)), data: out };
}

function softmax(x: T64, axis: number): T64 {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const mx = reduce(map(x, (v) => v), [ax], true, false); // only for shape
  const e = map(x, Math.exp);
  const s = reduce(e, [ax], true, false);
  void mx;
  return binary(e, s, (p, q) => p / q);
}

function instanceNorm(x: T64, scale: T64, bias: T64, eps: number): T64 {
  const axes = x.shape.map((_, i) => i).slice(2);
  const mean = reduce(x, axes, true, true);
  const xc = binary(x, mean, (p, q) => p - q);
  const v = reduce(map(xc, (p) => p * p), axes, true, true);
  const per = [x.shape[1], ...axes.map(() => 1)];
  const y = binary(xc, v, (p, q) => p / Math.sqrt(q + eps));
  return binary(binary(y, { shape: per, data: scale.data }, (p, q) => p * q), { shape: per, data: bias.data }, (p, q) => p + q);
}

function slice(x: T64, starts: number[], ends: number[], axes: number[], steps: number[]): T64 {
  const shape = [...x.shape];
  const st = x.shape.map(() => 0);
  const sp = x.shape.map(() => 1);
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + x.shape.length : a0;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + x.shape[a] : v, 0), x.shape[a]);
    st[a] = clamp(starts[i]);
    sp[a] = steps[i];
    shape[a] = Math.max(0, Math.ceil((clamp(ends[i]) - st[a]) / steps[i]));
  });
  const xs = stridesOf(x.shape);
  return gatherBy(shape, x, (c) => c.reduce((o, v, i) => o + (st[i] + v * sp[i]) * xs[i], 0));
}

function pad(x: T64, pads: number[]): T64 {
  const r = x.shape.length;
  const shape = x.shape.map((d, i) => d + pads[i] + pads[i + r]);
  const xs = stridesOf(x.shape);
  return gatherBy(shape, x, (c) => {
    let o = 0;
    for (let i = 0; i < r; i++) {
      const v = c[i] - pads[i];
      if (v < 0 || v >= x.shape[i]) return -1;
      o += v * xs[i];
    }
    return o;
  });
}

function concat(xs: T64[], axis: number): T64 {
  const a = axis < 0 ? axis + xs[0].shape.length : axis;
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((s, t) => s + t.shape[a], 0);
  const outer = size(shape.slice(0, a));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const t of xs) {
      const inner = size(t.shape.slice(a));
      for (let i = 0; i < inner; i++) out.push(t.data[o * inner + i]);
    }
  }
  return { shape, data: Float64Array.from(out) };
}

function reshape(x: T64, target: number[]): T64 {
  const out = target.map((d, i) => (d === 0 ? x.shape[i] : d));
  const known = out.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
  return { shape: out.map((d) => (d === -1 ? x.data.length / known : d)), data: x.data };
}

function resizeNearest(x: T64, scales: number[]): T64 {
  const shape = x.shape.map((d, i) => Math.floor(d * scales[i]));
  const xs = stridesOf(x.shape);
  return gatherBy(shape, x, (c) => c.reduce((o, v, i) => o + Math.floor(v / scales[i]) * xs[i], 0));
}

function node(n: TapeNode, v: (i: number) => T64, ints64: (i: number) => number[], hasInput: (i: number) => boolean): T64 {
  const a = n.attrs;
  switch (n.op) {
    case 'Conv': return conv(v(0), v(1), hasInput(2) ? v(2) : undefined, a);
    case 'ConvTranspose': return convTranspose(v(0), v(1), hasInput(2) ? v(2) : undefined, a);
    case 'MatMul': return matmul(v(0), v(1));
    case 'Gemm': {
      const t2 = (x: T64, on: unknown) => (on ? transpose(x, [1, 0]) : x);
      const y = binary(matmul(t2(v(0), a.transA), t2(v(1), a.transB)), { shape: [], data: Float64Array.of(float(a.alpha, 1)) }, (p, q) => p * q);
      return hasInput(2) ? binary(y, v(2), (p, q) => p + float(a.beta, 1) * q) : y;
    }
    case 'Add': return binary(v(0), v(1), (p, q) => p + q);
    case 'Sub': return binary(v(0), v(1), (p, q) => p - q);
    case 'Mul': return binary(v(0), v(1), (p, q) => p * q);
    case 'Div': return binary(v(0), v(1), (p, q) => p / q);
    case 'Pow': return binary(v(0), v(1), (p, q) => p ** q);
    case 'Sum': return n.inputs.slice(1).reduce((acc, _, i) => binary(acc, v(i + 1), (p, q) => p + q), v(0));
    case 'Sigmoid': return map(v(0), (p) => 1 / (1 + Math.exp(-p)));
    case 'Sqrt': return map(v(0), Math.sqrt);
    case 'Relu': return map(v(0), (p) => Math.max(p, 0));
    case 'LeakyRelu': { const al = float(a.alpha, 0.01); return map(v(0), (p) => (p > 0 ? p : al * p)); }
    case 'Abs': return map(v(0), Math.abs);
    case 'Neg': return map(v(0), (p) => -p);
    case 'Exp': return map(v(0), Math.exp);
    case 'Log': return map(v(0), Math.log);
    case 'Reciprocal': return map(v(0), (p) => 1 / p);
    case 'Identity': case 'Cast': return v(0);
    case 'Softmax': return softmax(v(0), (a.axis as number | undefined) ?? -1);
    case 'ReduceSum': case 'ReduceMean': {
      const x = v(0);
      const raw = hasInput(1) ? ints64(1) : ints(a.axes, x.shape.map((_, i) => i));
      const axes = raw.map((q) => (q < 0 ? q + x.shape.length : q));
      return reduce(x, axes, ((a.keepdims as number | undefined) ?? 1) === 1, n.op === 'ReduceMean');
    }
    case 'InstanceNormalization': return instanceNorm(v(0), v(1), v(2), float(a.epsilon, 1e-5));
    case 'BatchNormalization': { // inference mode: (x - mean) / sqrt(var + eps) * scale + bias per channel
      const per = [v(0).shape[1], ...v(0).shape.slice(2).map(() => 1)];
      const at = (i: number) => ({ shape: per, data: v(i).data });
      const eps = float(a.epsilon, 1e-5);
      const xn = binary(binary(v(0), at(3), (p, q) => p - q), at(4), (p, q) => p / Math.sqrt(q + eps));
      return binary(binary(xn, at(1), (p, q) => p * q), at(2), (p, q) => p + q);
    }
    case 'Reshape': return reshape(v(0), ints64(1));
    case 'Transpose': return transpose(v(0), ints(a.perm, v(0).shape.map((_, i) => i).reverse()));
    case 'Expand': return binary(v(0), { shape: ints64(1), data: new Float64Array(size(ints64(1))).fill(0) }, (p) => p);
    case 'Resize': return resizeNearest(v(0), [...v(2).data]);
    case 'MaxPool': return maxPool(v(0), a);
    case 'Pad': return pad(v(0), ints64(1));
    case 'Slice': {
      const st = ints64(1);
      return slice(v(0), st, ints64(2), hasInput(3) ? ints64(3) : st.map((_, i) => i), hasInput(4) ? ints64(4) : st.map(() => 1));
    }
    case 'Concat': return concat(n.inputs.map((_, i) => v(i)), a.axis as number);
    case 'Gather': { // axis 0, constant indices
      if (((a.axis as number | undefined) ?? 0) !== 0) throw new Error('eval64: Gather on axis 0 only');
      const x = v(0);
      const idx = ints64(1);
      const row = size(x.shape.slice(1));
      return gatherBy([idx.length, ...x.shape.slice(1)], x, (c) => idx[c[0]] * row + (c.length > 1 ? c.slice(1).reduce((acc, q, k) => acc + q * size(x.shape.slice(k + 2)), 0) : 0));
    }
    default: throw new Error(`eval64: no ${n.op}`);
  }
}

/** Runs the tape's first `count` nodes in float64 from `feeds` (constants from the tape); returns every value. */
export function evaluate64(t: Tape, feeds: Map<string, T64>, count = t.nodes.length): Map<string, T64> {
  const env = new Map(feeds);
  const get = (name: string): T64 => {
    const x = env.get(name);
    if (x) return x;
    const c = t.constantOf(name);
    if (!c) throw new Error(`eval64: no value for ${name}`);
    return { shape: t.shapeOf(name), data: Float64Array.from(c) };
  };
  for (const n of t.nodes.slice(0, count)) {
    const out = node(n, (i) => get(n.inputs[i]), (i) => t.constantOf(n.inputs[i])!, (i) => Boolean(n.inputs[i]));
    env.set(n.outputs[0], out);
  }
  return env;
}
