// `npm run bench -- train --engine onnx ...`: see ./onnx-bench.ts. Otherwise (--engine tfjs, the default):
// `npm run bench -- train [--presets small,paper] [--workers 1,2] [--steps N] [--warmup N] [--micro-batch N]
// [--batch N] [--checkpoint-activations on|off] [--gan] [--lpips stand-in]`:
// training throughput (images/s) of whole steps (forward, backward, averaging, Adam) for each preset
// and worker count, on the active backend, and the main thread's peak memory (the wasm heap only grows, so
// its size after the steps is the high-water mark of that thread; workers have their own heaps). Inputs are seeded random images and CLIP embeddings (the step
// costs the same for any pixels); the stand-in codebook rows of the preset are used. The GAN terms are off
// (as before discStart) unless --gan is given.
import * as tf from '@tensorflow/tfjs-core';
import { cpus } from 'node:os';
import { backendInfo, initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { loadLpips, type LoadLpipsOptions } from './lpips-files.js';
import { LocalRunner, ParallelRunner, type StepRunner } from './parallel.js';
import { getPreset } from './presets.js';
import { Replica } from './replica.js';
import { defaultLpipsHeads } from './setup.js';
import { argValue as arg } from '../util/bench-args.js';
import { benchTrainOnnx } from './onnx-bench.js';

/** Peak memory of this thread: the wasm heap's size (it never shrinks), else tfjs' current tensor bytes. */
function peakMiB(): string {
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  const bytes = wasm?.HEAPU8 ? wasm.HEAPU8.byteLength : tf.memory().numBytes;
  return (bytes / 2 ** 20).toFixed(0);
}

export async function benchTrain(args: string[]): Promise<void> {
  const engine = arg(args, 'engine') ?? 'tfjs';
  if (engine === 'onnx') return benchTrainOnnx(args);
  if (engine !== 'tfjs') throw new Error(`--engine: expected tfjs or onnx, got "${engine}"`);
  const backend = await initBackend(arg(args, 'backend'));
  const presets = (arg(args, 'presets') ?? 'small,paper').split(',');
  const workerCounts = (arg(args, 'workers') ?? '1,2').split(',').map(Number);
  const gan = args.includes('--gan');
  const lpipsArg = arg(args, 'lpips');
  const info = backendInfo();
  console.log(`backend ${info.name} (simd ${info.simd}, threads ${info.threads}); ${cpus().length} cores; GAN ${gan ? 'on' : 'off'}; LPIPS ${lpipsArg ? `${lpipsArg} (vgg)` : 'off'}`);
  console.log('preset  px   batch  micro  ckpt  workers  steps  s/step  images/s  peak MiB (main thread)');
  const rows: { preset: string; workers: number; ips: number }[] = [];
  for (const name of presets) {
    const p = getPreset(name);
    // The paper preset's steps take minutes on two cores: one timed step, no warm-up, unless asked.
    const steps = Number(arg(args, 'steps') ?? (name === 'paper' ? 1 : 5));
    const warmup = Number(arg(args, 'warmup') ?? (name === 'paper' ? 0 : 1));
    const network = { ...p.network, nLocal: p.standInCodebookRows.local, nGlobal: p.standInCodebookRows.global };
    const loss = { ...p.loss, discStart: gan ? 0 : Number.MAX_SAFE_INTEGER };
    const optim = { ...p.optim, warmupSteps: 0, totalSteps: 1000 };
    const heads = defaultLpipsHeads('vgg');
    const lpipsOpts: LoadLpipsOptions | null = lpipsArg && heads ? { backbone: 'vgg', backboneWeights: lpipsArg, heads, seed: 0 } : null;
    p.microBatch = Number(arg(args, 'micro-batch') ?? p.microBatch);
    const ck = arg(args, 'checkpoint-activations');
    if (ck !== undefined && ck !== 'on' && ck !== 'off') throw new Error(`--checkpoint-activations: expected on or off, got "${ck}"`);
    const checkpointActivations = ck === undefined ? p.checkpointActivations : ck === 'on';
    const n = Number(arg(args, 'batch') ?? p.batchSize);
    const size = p.imageSize;
    const images = tf.tidy(() => tf.randomUniform([n, 3, size, size], -1, 1, 'float32', 1).dataSync() as Float32Array);
    const clip = tf.tidy(() => tf.randomNormal([n, network.embedDim], 0, 1, 'float32', 2).dataSync() as Float32Array);
    const head = (workers: number) => `${name.padEnd(7)} ${String(size).padEnd(4)} ${String(n).padEnd(6)} ${String(p.microBatch || '-').padEnd(6)} ${(checkpointActivations ? 'on' : 'off').padEnd(5)} ${String(workers).padEnd(8)}`;
    for (const workers of workerCounts) {
      const net = new V2LNetwork(network, { seed: 0, gradientCheckpointing: checkpointActivations });
      const lpips = lpipsOpts ? await loadLpips(lpipsOpts) : null;
      const replica = new Replica(net, lpips, loss, optim, p.microBatch);
      const runner: StepRunner = workers > 1
        ? await ParallelRunner.create(replica, {
          backend, network, seed: 0, loss, optim, lpips: lpipsOpts, imageSize: size, microBatch: p.microBatch, checkpointActivations,
          model: [...net.stateDict()], optimizer: [...replica.optimizerState().tensors], optimizerSteps: replica.optimizerState().steps,
        }, workers)
        : new LocalRunner(replica, size);
      try {
        // A step that fails (e.g. the wasm backend's 4 GiB heap exhausted: "Aborted()") is reported, not
        // fatal for the rows already printed.
        for (let s = 0; s < warmup; s++) await runner.step(images.slice(), clip.slice(), n, s); // kernel setup, allocations
        const t0 = performance.now();
        for (let s = warmup; s < warmup + steps; s++) await runner.step(images.slice(), clip.slice(), n, s);
        const sec = (performance.now() - t0) / 1000 / steps;
        rows.push({ preset: name, workers, ips: n / sec });
        console.log(`${head(workers)} ${String(steps).padEnd(6)} ${sec.toFixed(2).padEnd(7)} ${(n / sec).toPrecision(3).padEnd(9)} ${peakMiB()}`);
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        console.log(`${head(workers)} FAILED: ${/Aborted/.test(msg) ? 'wasm heap exhausted (4 GiB)' : msg.split('\n')[0]}`);
        if (/Aborted/.test(msg)) break; // the backend is unusable after a wasm abort
      } finally {
        await runner.close();
        try {
          replica.dispose();
          lpips?.dispose();
          net.dispose();
        } catch {
          // after a wasm abort the backend cannot free anything; the process ends soon anyway
        }
      }
    }
  }
  for (const name of presets) {
    const one = rows.find((r) => r.preset === name && r.workers === 1);
    for (const r of rows.filter((x) => x.preset === name && x.workers > 1)) {
      if (one) console.log(`${name}: ${r.workers} workers / 1 worker = ${(r.ips / one.ips).toFixed(2)}x`);
    }
  }
}
