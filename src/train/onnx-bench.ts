// `npm run bench -- train --engine onnx [--presets small,paper] [--rounds 3] [--steps N] [--micro-batch N]
// [--threads N] [--spinning] [--reference <V2L-Tokenizer checkout>] [--python python3] [--peak GFLOPS]`:
// whole training steps (forward, backward, Adam) of each preset on onnxruntime (./onnx-runner.ts), and,
// with --reference (or V2L_REFERENCE), the PyTorch reference's own modules training the same loss in
// the same run (scripts/train_reference_bench.py; rounds interleaved, the other side idle meanwhile).
// One line per preset and engine: `train small onnx: 12.3 images/s ...`, with GFLOP/s beside the
// machine's estimated peak. Inputs are seeded random images and CLIP embeddings; stand-in codebooks.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NetworkParams } from '../network/network-params.js';
import { randn, SeededRng } from '../util/random.js';
import { decoderFlops, encoderFlops, searchFlops } from '../network/flops.js';
import { hasCrossAttention, type V2LConfig } from '../network/config.js';
import { estimatedPeak } from '../tokenizer/bench.js';
import { argValue as arg } from '../util/bench-args.js';
import { getPreset, getRecipe } from './presets.js';
import { Replica } from './replica.js';
import { OnnxRunner } from './onnx-runner.js';

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

function line(name: string, engine: string, batch: number, secPerStep: number, flopsPerImage: number, peak: number, extra = ''): string {
  const ips = batch / secPerStep;
  const gf = (ips * flopsPerImage) / 1e9;
  return `train ${name} ${engine}: ${ips.toPrecision(3)} images/s (${secPerStep.toFixed(2)} s/step, batch ${batch}; ${gf.toFixed(0)} GFLOP/s, ${((100 * gf) / peak).toFixed(0)} % of the ${peak.toFixed(0)} GFLOP/s peak)${extra}`;
}

export async function benchTrainOnnx(args: string[]): Promise<void> {
  const presets = (arg(args, 'presets') ?? 'small,paper').split(',');
  const rounds = Number(arg(args, 'rounds') ?? 3);
  const threads = Number(arg(args, 'threads') ?? availableParallelism());
  const checkout = arg(args, 'reference') ?? process.env.V2L_REFERENCE;
  const python = arg(args, 'python') ?? 'python3';
  const spinning = args.includes('--spinning'); // onnxruntime's idle threads spin (its default) instead of sleeping (ours)
  const peak = arg(args, 'peak') ? { gflops: Number(arg(args, 'peak')), how: '--peak' } : estimatedPeak();
  console.log(`onnxruntime ${threads} intra-op threads (${spinning ? 'spinning' : 'sleeping'} when idle); peak ${peak.gflops.toFixed(0)} GFLOP/s (${peak.how}); load average before: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
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
    const micro = Number(arg(args, 'micro-batch') ?? p.microBatch); // the preset's (paper: 1, as `v2l train` runs it)
    const u = new SeededRng(1);
    const images = Float32Array.from({ length: n * 3 * size * size }, () => 2 * u.uniform() - 1);
    const clip = randn(n * network.embedDim, 2);
    const net = new NetworkParams(network, { seed: 0 });
    const replica = new Replica(net, null, loss, optim);
    const runner = new OnnxRunner(replica, size, micro, { threads, spinning });
    let ref: ReferenceProcess | null = null;
    try {
      let s = 1000; // past the recipes' warm-ups: the quantised step
      const tw = performance.now();
      await runner.step(images, clip, n, s++); // session creation, allocations
      console.log(`  ${name}: onnx warm-up step (graph emission, session creation, first run) ${((performance.now() - tw) / 1000).toFixed(1)} s`);
      ref = checkout ? await ReferenceProcess.start(python, checkout, network, size, n, loss.kGlobal, threads) : null;
      let tOnnx = 0;
      let tRef = 0;
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) await runner.step(images, clip, n, s++);
        const a = (performance.now() - t0) / 1000;
        const b = ref ? await ref.run(steps) : NaN;
        tOnnx += a;
        tRef += b;
        console.log(`  ${name} round ${r + 1}/${rounds}: onnx ${(a / steps).toFixed(2)} s/step${ref ? `, reference ${(b / steps).toFixed(2)} s/step` : ''} (load average ${loadavg()[0].toFixed(1)})`);
      }
      const flops = stepFlops(network, size, loss.kGlobal, n);
      const onnxSec = tOnnx / (rounds * steps);
      console.log(line(name, 'onnx', n, onnxSec, flops, peak.gflops, `${micro ? `, micro-batch ${micro}` : ''}; ${hasCrossAttention(network) ? 'with' : 'without'} cross-attention`));
      if (ref) {
        const refSec = tRef / (rounds * steps);
        console.log(line(name, 'reference', n, refSec, flops, peak.gflops, `; PyTorch, ${threads} threads, its own modules (decoder with cross-attention)`));
        console.log(`train ${name}: onnx / reference = ${(refSec / onnxSec).toFixed(2)}x (${rounds} interleaved rounds of ${steps} steps)`);
      }
    } finally {
      ref?.close();
      await runner.close();
    }
  }
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}
