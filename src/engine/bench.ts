// `npm run bench -- engine [--backend wasm|cpu|tensorflow] [--quick]`: GFLOP/s of the operations
// training spends its time in, on the active backend. Where the project replaces a built-in kernel
// (wasm), the original and the replacement are timed in the same run and their ratio reported.
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, initBackend } from './backend.js';
import { fastPathsEnabled, setFastPaths } from './kernels/index.js';
import { randn } from './compare.js';
import { conv2dBackpropFilterIm2col } from './kernels/conv2d_backprop_filter.js';
import { conv2dBackpropInputDilated, conv2dBackpropInputSubPixel } from './kernels/conv2d_backprop_input.js';

export interface EngineBenchRow {
  name: string;
  ms: number;
  gflops: number;
}

export interface EngineBenchResult {
  backend: ReturnType<typeof backendInfo>;
  rows: EngineBenchRow[];
  /** slower / faster time of two ways to the same result, measured in the same run (wasm only). */
  ratios: Record<string, number>;
}

/** Median milliseconds of `f` (after one warm-up run), repeated for at least `minMs` and 3 runs. */
function timeMs(f: () => tf.Tensor, minMs: number): number {
  const once = (): number => {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    const dt = performance.now() - t0;
    r.dispose();
    return dt;
  };
  once();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < minMs && times.length < 50)) times.push(once());
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const rand = (shape: number[], seed: number): tf.Tensor => tf.tensor(randn(shape, seed), shape);

export async function benchEngine(args: string[] = []): Promise<EngineBenchResult> {
  const bi = args.indexOf('--backend');
  if (bi >= 0 && !args[bi + 1]) throw new Error('--backend needs a name: wasm, cpu or tensorflow');
  await initBackend(bi >= 0 ? args[bi + 1] : undefined);
  const quick = args.includes('--quick');
  const minMs = quick ? 100 : 1000;
  const info = backendInfo();
  const wasm = info.name === 'wasm';
  const rows: EngineBenchRow[] = [];
  const ratios: Record<string, number> = {};
  const wasOn = fastPathsEnabled();

  const row = (name: string, flops: number, f: () => tf.Tensor): number => {
    const ms = timeMs(f, minMs);
    rows.push({ name, ms, gflops: flops / ms / 1e6 });
    console.log(`${name.padEnd(48)} ${ms.toFixed(2).padStart(9)} ms ${(flops / ms / 1e6).toFixed(2).padStart(8)} GFLOP/s`);
    return ms;
  };
  /** Times `f` with the fast paths off and on; records the ratio. */
  const pair = (name: string, flops: number, f: () => tf.Tensor): void => {
    if (!wasm) {
      row(name, flops, f);
      return;
    }
    setFastPaths(false);
    const slow = row(`${name} [original kernel]`, flops, f);
    setFastPaths(true);
    const fast = row(`${name} [fast path]`, flops, f);
    ratios[`${name} (original / fast path)`] = slow / fast;
    console.log(`${''.padEnd(48)} speed-up ${(slow / fast).toFixed(1)}x`);
  };

  console.log(`backend ${info.name}, SIMD ${info.simd ?? 'n/a'}, threads ${info.threads ?? 'n/a'}${quick ? ' (quick)' : ''}`);
  const n = quick ? 2 : 8;
  const convs: { label: string; x: [number, number, number, number]; w: [number, number, number, number]; s: number }[] = [
    { label: '3x3 64->64 @32px s1', x: [n, 32, 32, 64], w: [3, 3, 64, 64], s: 1 },
    { label: '3x3 64->128 @32px s2', x: [n, 32, 32, 64], w: [3, 3, 64, 128], s: 2 },
  ];
  try {
    await tf.ready();
    tf.tidy(() => {
      for (const c of convs) {
        const x = rand(c.x, 1) as tf.Tensor4D;
        const w = rand(c.w, 2) as tf.Tensor4D;
        const y = tf.conv2d(x, w, c.s, 'same');
        const dy = rand(y.shape, 3) as tf.Tensor4D;
        const flops = 2 * y.size * c.w[0] * c.w[1] * c.w[2];
        row(`conv2d forward ${c.label}`, flops, () => tf.conv2d(x, w, c.s, 'same'));
        pair(`conv2d input gradient ${c.label}`, flops, () => tf.conv2dTranspose(dy, w, c.x, c.s, 'same'));
        if (wasm && c.s > 1) {
          const dilated = row(`conv2d input gradient ${c.label} [dilated form]`, flops, () => conv2dBackpropInputDilated(dy, w, c.x, c.s, 'same'));
          const sub = row(`conv2d input gradient ${c.label} [sub-pixel form]`, flops, () => conv2dBackpropInputSubPixel(dy, w, c.x, c.s, 'same'));
          ratios[`conv2d input gradient ${c.label} (dilated / sub-pixel)`] = dilated / sub;
          console.log(`${''.padEnd(48)} sub-pixel ${(dilated / sub).toFixed(1)}x faster than dilated`);
        }
        // Through the registry: the backend's own kernel, or the project's where the backend has none.
        const viaKernel = row(`conv2d filter gradient ${c.label}`, flops, () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: 'same', dataFormat: 'NHWC', filterShape: c.w }) as tf.Tensor,
        );
        if (wasm) {
          const im2col = row(`conv2d filter gradient ${c.label} [im2col + matMul]`, flops, () => conv2dBackpropFilterIm2col(x, dy, c.w, c.s, 'same'));
          ratios[`conv2d filter gradient ${c.label} (im2col / conv form)`] = im2col / viaKernel;
          console.log(`${''.padEnd(48)} conv form ${(im2col / viaKernel).toFixed(1)}x faster than im2col`);
        }
      }
      const [m, k, nn] = quick ? [256, 256, 256] : [1024, 512, 1024];
      const a = rand([m, k], 4);
      const b = rand([k, nn], 5);
      const bT = rand([nn, k], 6);
      const mmFlops = 2 * m * k * nn;
      row(`matMul ${m}x${k}x${nn} plain`, mmFlops, () => tf.matMul(a, b));
      pair(`matMul ${m}x${k}x${nn} transposeB`, mmFlops, () => tf.matMul(a, bT, false, true));
      const aT = rand([k, m], 11);
      pair(`matMul ${m}x${k}x${nn} transposeA`, mmFlops, () => tf.matMul(aT, b, true, false));
      // Nearest-neighbour upsampling x2 as the network does it: reshape + broadcastTo (a rank-6 Tile).
      const ux = rand([n, 32, 32, 128], 10);
      const upBytes = n * 64 * 64 * 128 * 4;
      const upMs = (() => {
        const once = (): number => {
          const t0 = performance.now();
          const r = tf.reshape(tf.broadcastTo(tf.reshape(ux, [n, 32, 1, 32, 1, 128]), [n, 32, 2, 32, 2, 128]), [n, 64, 64, 128]);
          r.dataSync();
          r.dispose();
          return performance.now() - t0;
        };
        const timeIt = (): number => {
          once();
          const v = [once(), once(), once()].sort((a, b) => a - b);
          return v[1];
        };
        if (!wasm) return { fast: timeIt(), slow: NaN };
        setFastPaths(false);
        const slow = timeIt();
        setFastPaths(true);
        return { fast: timeIt(), slow };
      })();
      const upName = `upsample x2 by broadcastTo [${n},32,32,128]`;
      if (wasm) {
        console.log(`${(upName + ' [original Tile]').padEnd(48)} ${upMs.slow.toFixed(2).padStart(9)} ms ${(upBytes / upMs.slow / 1e6).toFixed(2).padStart(8)} GB/s written`);
        ratios[`${upName} (original / fast path)`] = upMs.slow / upMs.fast;
      }
      console.log(`${(upName + (wasm ? ' [fast path]' : '')).padEnd(48)} ${upMs.fast.toFixed(2).padStart(9)} ms ${(upBytes / upMs.fast / 1e6).toFixed(2).padStart(8)} GB/s written`);
      if (wasm) console.log(`${''.padEnd(48)} speed-up ${(upMs.slow / upMs.fast).toFixed(1)}x`);
      const bb = quick ? 2 : 8;
      const a3 = rand([bb, 256, 64], 7);
      const b3 = rand([bb, 64, 256], 8);
      pair(`batched matMul ${bb}x256x64x256`, 2 * bb * 256 * 64 * 256, () => tf.matMul(a3, b3));
      const w2 = rand([64, 256], 9);
      pair(`batch x matrix ${bb}x256x64 . 64x256`, 2 * bb * 256 * 64 * 256, () => tf.matMul(a3, w2));
    });
  } finally {
    setFastPaths(wasOn);
  }
  return { backend: info, rows, ratios };
}
