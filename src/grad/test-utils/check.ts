// Checks a backward pass against float64 central finite differences: the forward is emitted into a tape,
// the loss is sum(y * R) for a fixed random R, the gradients run on onnxruntime (float32), and each
// checked element is compared with (L(x + h) - L(x - h)) / 2h evaluated by ./eval64.ts. Test-only.
import * as ort from 'onnxruntime-node';
import { Tape } from '../tape.js';
import { gradients } from '../backward.js';
import { randn } from '../../util/random.js';
import { evaluate64, type T64 } from './eval64.js';

export interface GradInput {
  name: string;
  shape: number[];
  /** Values (default: standard normal from the seed); `positive` takes their absolute values + 0.5. */
  values?: Float32Array;
  positive?: boolean;
  /** Declared without a gradient (e.g. a frozen operand). */
  noGrad?: boolean;
}

export interface GradReport {
  /** Largest |analytic - numeric| over the checked elements, relative to the largest |numeric| (or 1). */
  maxRelError: number;
  checked: number;
  grads: Map<string, Float32Array>;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Runs the check; `build` emits y from the declared inputs. Up to `perInput` elements per input are checked. */
export async function checkGradients(inputs: GradInput[], build: (t: Tape, x: Record<string, string>) => string, seed = 1, perInput = 24): Promise<GradReport> {
  const t = new Tape();
  const x: Record<string, string> = {};
  const values = new Map<string, Float32Array>();
  inputs.forEach((inp, i) => {
    x[inp.name] = t.input(inp.name, inp.shape, { grad: !inp.noGrad });
    const v = inp.values ?? randn(size(inp.shape), seed * 100 + i + 1);
    values.set(inp.name, inp.positive ? v.map((q) => Math.abs(q) + 0.5) : v);
  });
  const y = build(t, x);
  const r = t.input('R', t.shapeOf(y));
  values.set('R', randn(size(t.shapeOf(y)), seed * 100 + 99));
  const loss = t.op('ReduceSum', [t.op('Mul', [y, r])], { keepdims: 0 });
  const forwardNodes = t.nodes.length;
  const wrt = inputs.filter((i) => !i.noGrad).map((i) => i.name);
  const grads = gradients(t, loss, wrt);
  const outs = [t.output('loss', loss), ...grads.map((g, i) => t.output(`grad.${wrt[i]}`, g))];
  const session = await ort.InferenceSession.create(t.build('grad_check', outs));
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, v] of values) feeds[name] = new ort.Tensor('float32', v, t.shapeOf(name));
  const res = await session.run(feeds);
  await session.release();
  const f64 = new Map<string, T64>([...values].map(([k, v]) => [k, { shape: t.shapeOf(k), data: Float64Array.from(v) }]));
  const lossAt = () => evaluate64(t, f64, forwardNodes).get(loss)!.data[0];
  let maxErr = 0;
  let checked = 0;
  const out = new Map<string, Float32Array>();
  for (const name of wrt) {
    const g = res[`grad.${name}`].data as Float32Array;
    out.set(name, g);
    const v = f64.get(name)!.data;
    const step = Math.max(1, Math.floor(v.length / perInput));
    const numeric: number[] = [];
    const analytic: number[] = [];
    for (let i = 0; i < v.length; i += step) {
      const keep = v[i];
      const h = 1e-6 * Math.max(1, Math.abs(keep));
      v[i] = keep + h;
      const up = lossAt();
      v[i] = keep - h;
      const down = lossAt();
      v[i] = keep;
      numeric.push((up - down) / (2 * h));
      analytic.push(g[i]);
    }
    const scale = Math.max(1, ...numeric.map(Math.abs));
    numeric.forEach((nv, i) => { maxErr = Math.max(maxErr, Math.abs(nv - analytic[i]) / scale); });
    checked += numeric.length;
  }
  return { maxRelError: maxErr, checked, grads: out };
}
