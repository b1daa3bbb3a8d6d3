// `npx tsx scripts/ab-winograd-conv.ts [--shapes 4x128x128x128,4x256x64x64] [--rounds 5] [--threads N] [--forward]`:
// one 3x3 stride-1 pad-1 convolution with a fed weight and bias, a scalar loss sum(y * r), and its gradients
// with respect to x, the weight and the bias through the project's backward (src/grad), emitted directly
// (Conv) and by Winograd F(4x4, 3x3) (src/network/winograd.onnx.ts); interleaved rounds, median wall and
// CPU time and their ratios, and the largest difference of each gradient from the direct form's (relative to
// its scale). `--forward`: the forward alone (no gradients). Winograd is timed in both layouts of its MatMul (`foldBatch`) and with V recomputed (`recompute`). Development tool: decides whether training
// graphs take Winograd (docs/architecture.md, "Rule forms").
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { Tape } from '../src/grad/tape.js';
import { gradients } from '../src/grad/backward.js';
import { OnnxEmitter } from '../src/network/onnx.js';
import { conv2dOnnx } from '../src/network/layers.onnx.js';
import { winogradConv3x3Onnx } from '../src/network/winograd.onnx.js';
import { trainSessionOptions } from '../src/train/onnx-session.js';
import { argValue as arg } from '../src/util/bench-args.js';
import { Rng } from '../src/network/rng.js';

function stepModel(shape: number[], cout: number, winograd: boolean, forward: boolean, foldBatch: boolean, recompute: boolean): Uint8Array {
  const [b, cin, h, w] = shape;
  const t = new Tape();
  const x = t.input('x', shape, { grad: true });
  const wShape = [cout, cin, 3, 3];
  const sd = new Map([['c.weight', { dtype: 'F32' as const, shape: wShape, data: new Float32Array(cout * cin * 9) }], ['c.bias', { dtype: 'F32' as const, shape: [cout], data: new Float32Array(cout) }]]);
  const e = new OnnxEmitter(t, sd, (name, s) => t.input(name, s, { grad: true }));
  const y = winograd ? winogradConv3x3Onnx(e, 'c', x, { foldBatch, recompute }) : conv2dOnnx(e, 'c', x, { pad: 1 });
  if (forward) return t.build('conv', [t.output('y', y)]);
  const r = t.input('r', [b, cout, h, w]);
  const loss = t.op('ReduceSum', [t.op('Mul', [y, r])], { keepdims: 0 });
  const grads = gradients(t, loss, ['x', 'c.weight', 'c.bias']);
  return t.build('conv_step', [t.output('loss', loss), ...grads.map((g, i) => t.output(`grad${i}`, g))]);
}

/** Direct Conv; Winograd; with the batch folded into the MatMul's columns; and V recomputed for the weight gradient (the training default). */
const VARIANTS = [[false, false, false], [true, false, false], [true, true, false], [true, true, true]] as const;

const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const shapes = (arg(args, 'shapes') ?? '4x128x128x128,4x256x64x64,4x256x32x32').split(',').map((s) => s.split('x').map(Number));
  const rounds = Number(arg(args, 'rounds') ?? 5);
  const threads = Number(arg(args, 'threads') ?? availableParallelism());
  const forward = args.includes('--forward');
  const rng = new Rng(1);
  for (const shape of shapes) {
    const [b, cin, h, w] = shape;
    const cout = cin;
    const rand = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * scale);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', rand(b * cin * h * w), shape),
      'c.weight': new ort.Tensor('float32', rand(cout * cin * 9, 1 / Math.sqrt(cin * 9)), [cout, cin, 3, 3]),
      'c.bias': new ort.Tensor('float32', rand(cout), [cout]),
    };
    if (!forward) feeds.r = new ort.Tensor('float32', rand(b * cout * h * w), [b, cout, h, w]);
    const sessions: ort.InferenceSession[] = [];
    for (const [winograd, fold, again] of VARIANTS) sessions.push(await ort.InferenceSession.create(stepModel(shape, cout, winograd, forward, fold, again), trainSessionOptions({ threads })));
    const outs: ort.InferenceSession.ReturnType[] = [];
    for (const s of sessions) outs.push(await s.run(feeds));
    const diffs = outs.slice(1).map((o) => Object.keys(outs[0]).map((k) => {
      const a = outs[0][k].data as Float32Array;
      const c = o[k].data as Float32Array;
      const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      return `${k} ${(a.reduce((m, v, i) => Math.max(m, Math.abs(v - c[i])), 0) / scale).toExponential(1)}`;
    }).join(' '));
    const wall = sessions.map(() => [] as number[]);
    const cpu = sessions.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < sessions.length; i++) {
        const j = (i + r) % sessions.length;
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        await sessions[j].run(feeds);
        const c = process.cpuUsage(c0);
        wall[j].push(performance.now() - t0);
        cpu[j].push((c.user + c.system) / 1000);
      }
    }
    const mw = wall.map(median);
    const mc = cpu.map(median);
    const each = VARIANTS.slice(1).map(([, fold, again], i) => `Winograd${fold ? ' (batch folded' + (again ? ', V recomputed)' : ')') : ''} ${mw[i + 1].toFixed(0)} ms (cpu ${mc[i + 1].toFixed(0)}): ${(mw[0] / mw[i + 1]).toFixed(2)}x wall, ${(mc[0] / mc[i + 1]).toFixed(2)}x cpu, difference/scale ${diffs[i]}`);
    console.log(`[${shape}] -> ${cout}, ${forward ? 'forward' : 'forward + gradients (x, weight, bias)'}, ${threads} threads, ${rounds} rounds: direct ${mw[0].toFixed(0)} ms (cpu ${mc[0].toFixed(0)}); ${each.join('; ')}`);
    for (const s of sessions) await s.release();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
