// `npm run bench -- train --engine onnx [--presets small,paper] [--rounds 3] [--steps N] [--micro-batch N]
// [--threads N] [--workers 1,2] [--spinning] [--reference <V2L-Tokenizer checkout>] [--python python3] [--peak GFLOPS]`:
// whole training steps (forward, backward, Adam) of each preset on onnxruntime (./onnx-runner.ts), and,
// with --reference (or V2L_REFERENCE), the PyTorch reference's own modules training the same loss in
// the same run (scripts/train_reference_bench.py; rounds interleaved, the other side idle meanwhile).
// One line per preset and engine: `train small onnx: 12.3 images/s ...`, with GFLOP/s beside the
// machine's estimated peak. Inputs are seeded random images and CLIP embeddings; stand-in codebooks.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { NetworkParams } from '../network/network-params.js';
import { GraphBuilder } from '../onnx/graph.js';
import { randn, SeededRng } from '../util/random.js';
import { decoderFlops, encoderFlops, searchFlops } from '../network/flops.js';
import { hasCrossAttention, type V2LConfig } from '../network/config.js';
import { estimatedPeak } from '../tokenizer/bench.js';
import { argValue as arg } from '../util/bench-args.js';
import { getPreset, getRecipe } from './presets.js';
import { Replica } from './replica.js';
import { graphBatch, OnnxRunner } from './onnx-runner.js';

/** FLOP of one training step per image: forward + backward (about twice the forward) + the search; the projector's pass over the codebook per step. */
function stepFlops(c: V2LConfig, size: number, k: number, batch: number): number {
  const forward = encoderFlops(c, size) + decoderFlops(c, size, k);
  return 3 * forward + searchFlops(c, size) + (2 * c.nLocal * c.embedDim * c.embedDim) / batch;
}

/** The reference's training step in a Python process, driven a round at a time. */
class ReferenceProcess {
  private constructor(private readonly p: ChildProcessWithoutNullStreams, private readonly lines: AsyncIterator<string>) {}

  static async start(python: string, checkout: string, c: V2LConfig, size: number, batch: number, k: number, threads: number): Promise<ReferenceProcess> {
    const script = fileURLToPath(new URL('../../scripts/train_reference_bench.py', import.meta.url));
    const cfg = { threads, ch: c.ch, ch_mult: c.chMult, num_res_blocks: c.numResBlocks, attn_resolutions: c.attnResolutions, resolution: c.resolution, z_channels: c.zChannels, embed_dim: c.embedDim, n_local: c.nLocal, batch, image_size: size, k_global: k };
    const p = spawn(python, [script, checkout, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const r = new ReferenceProcess(p, createInterface({ input: p.stdout })[Symbol.asyncIterator]());
    try {
      await r.next();
    } catch {
      throw new Error(`the reference did not start: ${err.trim().split('\n').slice(-3).join(' | ')}`);
    }
    return r;
  }

  /** The next JSON line (the reference's modules print notes of their own on stdout). */
  private async next(): Promise<Record<string, number>> {
    for (;;) {
      const line = await this.lines.next();
      if (line.done) throw new Error('the reference process ended');
      if (line.value.startsWith('{')) return JSON.parse(line.value) as Record<string, number>;
    }
  }

  async run(steps: number): Promise<number> {
    this.p.stdin.write(`${steps}\n`);
    return (await this.next()).seconds;
  }

  close(): void {
    this.p.stdin.write('quit\n');
    this.p.stdin.end();
  }
}

function line(name: string, engine: string, batch: number, secPerStep: number, flopsPerImage: number, peak: number, convRate: number, extra = ''): string {
  const ips = batch / secPerStep;
  const gf = (ips * flopsPerImage) / 1e9;
  // FLOP counted as the direct convolutions do them (Winograd's fewer multiplications count as done): the
  // figure compares engines on the same work, and can pass what one direct Conv reaches.
  return `train ${name} ${engine}: ${ips.toPrecision(3)} images/s (${secPerStep.toFixed(2)} s/step, batch ${batch}; ${gf.toFixed(0)} GFLOP/s as direct convolutions, ${((100 * gf) / peak).toFixed(0)} % of the ${peak.toFixed(0)} GFLOP/s peak, ${((100 * gf) / convRate).toFixed(0)} % of onnxruntime's Conv rate)${extra}`;
}

/**
 * What onnxruntime's own convolution reaches here now: a fed-weight 3x3 Conv at a `paper` shape
 * ([2, 256, 64, 64] x [256, 256, 3, 3]), best of 4, with `threads` intra-op threads. The estimated peak
 * above comes from /proc/cpuinfo, which cannot tell a core that runs 512-bit FMAs in two halves (AMD Zen 4)
 * from one that runs them whole: this is the ceiling measured instead.
 */
async function measuredConvRate(threads: number): Promise<number> {
  const [b, c, h] = [2, 256, 64];
  const g = new GraphBuilder();
  g.op('Conv', ['x', 'w'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'y');
  const model = g.build('conv', [{ name: 'x', type: 'float32', shape: [b, c, h, h] }, { name: 'w', type: 'float32', shape: [c, c, 3, 3] }], [{ name: 'y', type: 'float32', shape: [b, c, h, h] }]);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feeds = { x: new ort.Tensor('float32', randn(b * c * h * h, 3), [b, c, h, h]), w: new ort.Tensor('float32', randn(c * c * 9, 4), [c, c, 3, 3]) };
  let best = Infinity;
  try {
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await session.run(feeds);
      if (i > 0) best = Math.min(best, performance.now() - t);
    }
  } finally {
    await session.release();
  }
  return (2 * b * c * h * h * c * 9) / best / 1e6;
}

/** `--workers 1,2`: the lane counts to time side by side (default: as `v2l train`, one per thread). */
function laneCounts(args: string[], threads: number): number[] {
  const given = arg(args, 'workers');
  const list = given ? given.split(',').map(Number) : [threads];
  for (const w of list) if (!Number.isInteger(w) || w < 1) throw new Error(`--workers: positive integers separated by commas, got "${given}"`);
  return list;
}

export async function benchTrainOnnx(args: string[]): Promise<void> {
  const presets = (arg(args, 'presets') ?? 'small,paper').split(',');
  const rounds = Number(arg(args, 'rounds') ?? 3);
  const threads = Number(arg(args, 'threads') ?? availableParallelism());
  const lanes = laneCounts(args, threads);
  const checkout = arg(args, 'reference') ?? process.env.V2L_REFERENCE;
  const python = arg(args, 'python') ?? 'python3';
  const spinning = args.includes('--spinning'); // onnxruntime's idle threads spin (its default) instead of sleeping (ours)
  const peak = arg(args, 'peak') ? { gflops: Number(arg(args, 'peak')), how: '--peak' } : estimatedPeak();
  console.log(`onnxruntime ${threads} intra-op threads (${spinning ? 'spinning' : 'sleeping'} when idle), lanes (--workers) ${lanes.join(', ')}; peak ${peak.gflops.toFixed(0)} GFLOP/s (${peak.how}); load average before: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const convRate = await measuredConvRate(threads);
  console.log(`onnxruntime's own 3x3 Conv at a paper shape reaches ${convRate.toFixed(0)} GFLOP/s here now (${((100 * convRate) / peak.gflops).toFixed(0)} % of that peak): the practical ceiling`);
  if (!checkout) console.log('reference: skipped (pass --reference <V2L-Tokenizer checkout> or set V2L_REFERENCE; it needs Python with torch and einops)');
  for (const name of presets) {
    const p = getPreset(name);
    const recipe = getRecipe(p.recipe);
    const network = { ...p.network, ...recipe.network, nLocal: p.standInCodebookRows.local, nGlobal: p.standInCodebookRows.global };
    const loss = { ...p.loss, ...recipe.loss, discStart: Number.MAX_SAFE_INTEGER };
    const optim = { ...p.optim, warmupSteps: 0, totalSteps: 1_000_000 };
    const n = Number(arg(args, 'batch') ?? p.batchSize);
    const size = p.imageSize;
    const steps = Number(arg(args, 'steps') ?? (name === 'paper' ? 1 : 3));
    const micro = Number(arg(args, 'micro-batch') ?? p.microBatch); // the preset's, as `v2l train` runs it
    const u = new SeededRng(1);
    const images = Float32Array.from({ length: n * 3 * size * size }, () => 2 * u.uniform() - 1);
    const clip = randn(n * network.embedDim, 2);
    const runners = lanes.map((w) => new OnnxRunner(new Replica(new NetworkParams(network, { seed: 0 }), null, loss, optim), size, micro, { threads, spinning }, w));
    let ref: ReferenceProcess | null = null;
    try {
      let s = 1000; // past the recipes' warm-ups: the quantised step
      const tw = performance.now();
      for (const runner of runners) await runner.step(images, clip, n, s); // session creation, allocations
      s++;
      console.log(`  ${name}: onnx warm-up steps (graph emission, session creation, first run) ${((performance.now() - tw) / 1000).toFixed(1)} s`);
      ref = checkout ? await ReferenceProcess.start(python, checkout, network, size, n, loss.kGlobal, threads) : null;
      const tOnnx = runners.map(() => 0);
      let tRef = 0;
      for (let r = 0; r < rounds; r++) {
        const a = [];
        for (const [k, runner] of runners.entries()) {
          const t0 = performance.now();
          for (let i = 0; i < steps; i++) await runner.step(images, clip, n, s + i);
          a.push((performance.now() - t0) / 1000);
          tOnnx[k] += a[k];
        }
        s += steps;
        const b = ref ? await ref.run(steps) : NaN;
        tRef += b;
        console.log(`  ${name} round ${r + 1}/${rounds}: onnx ${a.map((x, k) => `${(x / steps).toFixed(2)} s/step (workers ${lanes[k]})`).join(', ')}${ref ? `, reference ${(b / steps).toFixed(2)} s/step` : ''} (load average ${loadavg()[0].toFixed(1)})`);
      }
      const flops = stepFlops(network, size, loss.kGlobal, n);
      const refSec = tRef / (rounds * steps);
      for (const [k, w] of lanes.entries()) {
        const onnxSec = tOnnx[k] / (rounds * steps);
        const graph = graphBatch(n, micro, w);
        console.log(line(name, 'onnx', n, onnxSec, flops, peak.gflops, convRate, `; workers ${w} (graphs of ${graph} images${w > 1 ? ', run at the same time' : ''}); ${hasCrossAttention(network) ? 'with' : 'without'} cross-attention`));
        if (ref) console.log(`train ${name}: onnx (workers ${w}) / reference = ${(refSec / onnxSec).toFixed(2)}x (${rounds} interleaved rounds of ${steps} steps)`);
      }
      if (ref) console.log(line(name, 'reference', n, refSec, flops, peak.gflops, convRate, `; PyTorch, ${threads} threads, its own modules (decoder with cross-attention)`));
    } finally {
      ref?.close();
      for (const runner of runners) await runner.close();
    }
  }
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}
