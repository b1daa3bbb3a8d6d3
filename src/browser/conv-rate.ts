// `npm run bench -- browser --conv-rate`: why the browser's convolutions are slower, in one number per side.
// One 3x3 convolution of the decoder's shapes, on onnxruntime-web's wasm kernels (run in Node: the same
// wasm binary the page runs, 128-bit SIMD) and on onnxruntime-node's native ones (MLAS, AVX-512/AVX2 where the
// CPU has them), one thread each, timed in process CPU seconds (not wall time, so other processes on a
// busy machine change it little): GFLOP per CPU-second, interleaved rounds. The same convolution by Winograd
// F(4x4, 3x3) (the page's export, ../network/winograd.onnx.ts) is timed beside it on each side, as the speed-up
// over the direct Conv and its largest difference from it (the rate counts the direct Conv's multiplications).
import { GraphBuilder } from '../onnx/graph.js';
import { OnnxEmitter } from '../network/onnx.js';
import { winogradConv3x3Onnx } from '../network/winograd.onnx.js';
import { NetworkParams } from '../network/network-params.js';
import { decoderModel, encoderModel } from '../network/v2l-model.onnx.js';
import { paperConfig, downFactor } from '../network/config.js';
import { benchImages, benchDecoderInputs } from './bench-inputs.js';

const SHAPES = [[512, 16], [256, 64], [128, 128]] as const; // channels, side: the decoder's costliest convolution shapes

function convModel(c: number, side: number, winograd: boolean): Uint8Array {
  const g = new GraphBuilder();
  const w = Float32Array.from({ length: c * c * 9 }, (_, i) => Math.sin(i) * 0.05);
  if (winograd) {
    const e = new OnnxEmitter(g, new Map([['conv.weight', { dtype: 'F32', shape: [c, c, 3, 3], data: w }], ['conv.bias', { dtype: 'F32', shape: [c], data: new Float32Array(c) }]]));
    g.op('Identity', [winogradConv3x3Onnx(e, 'conv', 'x')], {}, 'y');
  } else {
    g.op('Conv', ['x', g.weight('w', [c, c, 3, 3], w), g.weight('b', [c], new Float32Array(c))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'y');
  }
  return g.build('conv', [{ name: 'x', type: 'float32', shape: [1, c, side, side] }], [{ name: 'y', type: 'float32', shape: [1, c, side, side] }]);
}

export async function convRate(reps: number): Promise<void> {
  const web = await import('onnxruntime-web');
  const node = await import('onnxruntime-node');
  web.env.wasm.numThreads = 1;
  console.log('one 3x3 convolution (batch 1, C -> C channels, side x side), 1 thread each side, GFLOP per CPU-second (median of the rounds):');
  for (const [c, side] of SHAPES) {
    const flop = 2 * c * c * 9 * side * side;
    const x = Float32Array.from({ length: c * side * side }, (_, i) => Math.cos(i));
    // Each side's session and input, as one run function; ' winograd' the same convolution by Winograd.
    const wx = new web.Tensor('float32', x, [1, c, side, side]);
    const nx = new node.Tensor('float32', x, [1, c, side, side]);
    const sides: Record<string, { run: () => Promise<Float32Array>; release: () => Promise<void> }> = {};
    for (const winograd of [false, true]) {
      const model = convModel(c, side, winograd);
      const w1 = await web.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      const n1 = await node.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 });
      const tag = winograd ? ' winograd' : '';
      sides[`onnxruntime-web wasm${tag}`] = { run: async () => (await w1.run({ x: wx })).y.data as Float32Array, release: () => w1.release() };
      sides[`onnxruntime-node${tag}`] = { run: async () => (await n1.run({ x: nx })).y.data as Float32Array, release: () => n1.release() };
    }
    const rates = new Map<string, number[]>();
    const runs = Math.max(1, Math.round(2e10 / flop)); // about 20 GFLOP a round
    for (let r = 0; r <= reps; r++) {
      for (const [name, s] of Object.entries(sides)) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < runs; i++) await s.run();
        const c1 = process.cpuUsage(c0);
        if (r > 0) rates.set(name, [...(rates.get(name) ?? []), (flop * runs) / ((c1.user + c1.system) / 1e6) / 1e9]);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const [w, n] = [med(rates.get('onnxruntime-web wasm')!), med(rates.get('onnxruntime-node')!)];
    console.log(`conv ${c} ch, ${side}x${side}: onnxruntime-web wasm ${w.toFixed(1)}, onnxruntime-node ${n.toFixed(1)} GFLOP per CPU-second (node / wasm ${(n / w).toFixed(2)}x)`);
    const direct = await sides['onnxruntime-node'].run();
    let diff = 0;
    for (const name of ['onnxruntime-web wasm winograd', 'onnxruntime-node winograd']) {
      const y = await sides[name].run();
      for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i] - direct[i]));
    }
    const [ww, nw] = [med(rates.get('onnxruntime-web wasm winograd')!), med(rates.get('onnxruntime-node winograd')!)];
    console.log(`  by Winograd F(4x4, 3x3): onnxruntime-web wasm ${(ww / w).toFixed(2)}x, onnxruntime-node ${(nw / n).toFixed(2)}x the direct Conv's speed; largest difference from it ${diff.toExponential(1)}`);
    for (const s of Object.values(sides)) await s.release();
  }
}

/**
 * `npm run bench -- browser --net-rate`: the paper network's encoder and decoder (random weights) in CPU
 * seconds per batch, one thread each side, interleaved rounds: the page's Winograd graphs and the direct
 * ones on onnxruntime-web's wasm kernels (run in Node), Node's direct graphs on onnxruntime-node. CPU time,
 * not wall time: the per-CPU ratio that a busy machine (other processes, spinning threads) changes little.
 */
export async function netRate(reps: number, batch: number, size: number): Promise<void> {
  const web = await import('onnxruntime-web');
  const node = await import('onnxruntime-node');
  web.env.wasm.numThreads = 1;
  const config = paperConfig();
  const sd = new NetworkParams(config, { seed: 1 }).stateDict();
  const h = size / downFactor(config);
  const k = 5;
  const d = benchDecoderInputs(batch, config.embedDim, h, k);
  const inputs = {
    encoder: { image: { data: benchImages(batch, size), dims: [batch, 3, size, size] } },
    decoder: { zq: { data: d.zq, dims: [batch, config.embedDim, h, h] }, global_embeddings: { data: d.global, dims: [batch, k, config.embedDim] } },
  };
  console.log(`paper network (random weights), batch ${batch}, ${size} px, 1 thread each side, CPU seconds per batch (median of ${reps} rounds after a warm-up):`);
  for (const model of ['encoder', 'decoder'] as const) {
    const emit = (winograd: boolean) => (model === 'encoder' ? encoderModel : decoderModel)(config, sd, { winograd });
    const feeds = inputs[model];
    const sides: Record<string, () => Promise<void>> = {};
    const release: (() => Promise<void>)[] = [];
    for (const [name, winograd] of [['onnxruntime-web wasm, Winograd F(4x4, 3x3)', true], ['onnxruntime-web wasm, direct Conv', false]] as const) {
      const s = await web.InferenceSession.create(emit(winograd), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      const f = Object.fromEntries(Object.entries(feeds).map(([n, v]) => [n, new web.Tensor('float32', v.data, v.dims)]));
      sides[name] = async () => void (await s.run(f));
      release.push(() => s.release());
    }
    const n1 = await node.InferenceSession.create(emit(false), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 });
    const nf = Object.fromEntries(Object.entries(feeds).map(([n, v]) => [n, new node.Tensor('float32', v.data, v.dims)]));
    sides['onnxruntime-node, direct Conv'] = async () => void (await n1.run(nf));
    release.push(() => n1.release());
    const seconds = new Map<string, number[]>();
    for (let r = 0; r <= reps; r++) {
      for (const [name, run] of Object.entries(sides)) {
        const c0 = process.cpuUsage();
        await run();
        const c1 = process.cpuUsage(c0);
        if (r > 0) seconds.set(name, [...(seconds.get(name) ?? []), (c1.user + c1.system) / 1e6]);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const nodeS = med(seconds.get('onnxruntime-node, direct Conv')!);
    for (const [name, xs] of seconds) console.log(`${model}: ${name} ${med(xs).toFixed(2)} CPU-s (${(med(xs) / nodeS).toFixed(2)}x Node's)`);
    for (const f of release) await f();
  }
}
