// `npx tsx scripts/profile-train-step.ts [--presets small,paper] [--batch N] [--runs 3] [--top 25] [--threads N]`:
// onnxruntime's own per-node profile of the generator's training step graph (src/train/onnx-step.ts) of each
// preset, as `v2l train --engine onnx` runs it (the quantised step, no GAN), aggregated per op type and per
// node (with the node's input shapes). The first run (allocations) is not counted. Development tool: the
// figures are where a step's time goes, not a benchmark (see `npm run bench -- train`).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { NetworkParams } from '../src/network/network-params.js';
import { getPreset, getRecipe } from '../src/train/presets.js';
import { generatorStepGraph } from '../src/train/onnx-step.js';
import { trainSessionOptions } from '../src/train/onnx-session.js';
import { argValue as arg } from '../src/util/bench-args.js';
import { Rng } from '../src/network/rng.js';

interface ProfileEvent { cat: string; name: string; dur: number; args?: { op_name?: string; input_type_shape?: Record<string, number[]>[] } }

function randn(n: number, rng: Rng, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * scale;
  return out;
}

async function profilePreset(name: string, args: string[]): Promise<void> {
  const p = getPreset(name);
  const recipe = getRecipe(p.recipe);
  const network = { ...p.network, ...recipe.network, nLocal: p.standInCodebookRows.local, nGlobal: p.standInCodebookRows.global };
  const loss = { ...p.loss, ...recipe.loss, discStart: Number.MAX_SAFE_INTEGER };
  const batch = Number(arg(args, 'batch') ?? (p.microBatch > 0 ? p.microBatch : p.batchSize));
  const runs = Number(arg(args, 'runs') ?? 3);
  const top = Number(arg(args, 'top') ?? 25);
  const threads = Number(arg(args, 'threads') ?? availableParallelism());
  const net = new NetworkParams(network, { seed: 0 });
  const genNames = net.trainableNames().gen;
  const sd = net.stateDict();
  const graph = generatorStepGraph(network, sd, genNames, { batch, imageSize: p.imageSize, kGlobal: loss.kGlobal, recLoss: loss.recLoss, vqBeta: loss.vqBeta });
  const prefix = join(tmpdir(), `v2l-profile-${name}-${process.pid}`);
  const session = await ort.InferenceSession.create(graph.model, { ...trainSessionOptions({ threads }), enableProfiling: false });
  const profiled = await ort.InferenceSession.create(graph.model, { ...trainSessionOptions({ threads }), enableProfiling: true, profileFilePrefix: prefix });
  const rng = new Rng(1);
  const feeds: Record<string, ort.Tensor> = {};
  const size = p.imageSize;
  const shapeOf = (n: string): number[] => [...sd.get(n)!.shape];
  for (const input of session.inputNames) {
    const dims = input === 'image' ? [batch, 3, size, size]
      : input === 'clip' ? [batch, network.embedDim]
        : input === 'codebook' || input === 'projected_codebook' ? [network.nLocal, network.embedDim]
          : input === 'global_codebook' ? [network.nGlobal, network.embedDim]
            : ['vq_weight', 'quantized', 'gan_factor'].includes(input) ? []
              : shapeOf(input);
    const count = dims.reduce((a, b) => a * b, 1);
    const data = input === 'quantized' || input === 'vq_weight' ? Float32Array.of(1)
      : sd.has(input) ? (sd.get(input)!.data as Float32Array) : randn(count, rng);
    feeds[input] = new ort.Tensor('float32', data, dims);
  }
  await session.run(feeds);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds);
  const plain = (performance.now() - t0) / runs;
  await profiled.run(feeds);
  for (let i = 0; i < runs; i++) await profiled.run(feeds);
  await profiled.endProfiling(); // onnxruntime-node returns nothing: the file is <prefix>_<date>.json
  const file = readdirSync(dirname(prefix)).map((f) => join(dirname(prefix), f)).find((f) => f.startsWith(`${prefix}_`) && f.endsWith('.json'));
  if (!file) throw new Error(`no profile file ${prefix}_*.json`);
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  rmSync(file, { force: true });
  await session.release();
  await profiled.release();
  // Kernel events of every run; the first run is dropped (counted per node name: one event per run).
  const nodes = new Map<string, { op: string; us: number[]; shapes: string }>();
  for (const ev of events) {
    if (ev.cat !== 'Node' || !ev.name.endsWith('_kernel_time')) continue;
    const key = ev.name.slice(0, -'_kernel_time'.length);
    let n = nodes.get(key);
    if (!n) {
      n = { op: ev.args?.op_name ?? '?', us: [], shapes: (ev.args?.input_type_shape ?? []).map((s) => JSON.stringify(Object.values(s)[0])).join(' ') };
      nodes.set(key, n);
    }
    n.us.push(ev.dur);
  }
  const perNode = [...nodes].map(([k, n]) => ({ name: k, op: n.op, shapes: n.shapes, ms: n.us.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, n.us.length - 1) / 1000 }));
  const total = perNode.reduce((a, n) => a + n.ms, 0);
  const byOp = new Map<string, { ms: number; count: number }>();
  for (const n of perNode) {
    const o = byOp.get(n.op) ?? { ms: 0, count: 0 };
    o.ms += n.ms;
    o.count++;
    byOp.set(n.op, o);
  }
  console.log(`\n${name}: batch ${batch}, ${size} px, ${threads} threads; step ${plain.toFixed(0)} ms unprofiled, kernels ${total.toFixed(0)} ms profiled (mean of ${runs} runs after the first)`);
  console.log('| op | nodes | ms | % |\n|---|---|---|---|');
  for (const [op, o] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) console.log(`| ${op} | ${o.count} | ${o.ms.toFixed(1)} | ${((100 * o.ms) / total).toFixed(1)} |`);
  console.log(`\ntop ${top} nodes:`);
  for (const n of perNode.sort((a, b) => b.ms - a.ms).slice(0, top)) console.log(`  ${n.ms.toFixed(1).padStart(8)} ms  ${n.op.padEnd(22)} ${n.name}  ${n.shapes}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  for (const name of (arg(args, 'presets') ?? 'small').split(',')) await profilePreset(name, args);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
