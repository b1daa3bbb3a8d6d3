// `npx tsx scripts/ab-train-step.ts --preset small [--recipe reference] [--batch N] [--rounds 6] [--threads N] A B ...`: interleaved
// A/B timing of the generator's training step graph (src/train/onnx-step.ts) under different backward-rule
// forms (src/grad/rules.ts' convOptions, `conv.inputGrad=conv`; ruleOptions `rule.<key>=false`; src/network/layers.onnx.ts'
// layerOptions `layer.channelInstanceNorm=false`) or session options (`session.enableMemPattern=false`);
// each variant is one `key=value[;key=value]` argument, `base` for the defaults. One session per variant, the
// same feeds; rounds alternate the variants, so the ratios hold on a loaded machine. Also checks that every
// variant's gradients equal the first's within float rounding. Development tool.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { NetworkParams } from '../src/network/network-params.js';
import { getPreset, getRecipe } from '../src/train/presets.js';
import { generatorStepGraph, stepOptions } from '../src/train/onnx-step.js';
import { trainSessionOptions } from '../src/train/onnx-session.js';
import { convOptions, ruleOptions } from '../src/grad/rules.js';
import { layerOptions } from '../src/network/layers.onnx.js';
import { argValue as arg } from '../src/util/bench-args.js';
import { Rng } from '../src/network/rng.js';

const FLAGS = new Set(['--preset', '--recipe', '--batch', '--rounds', '--threads']);

/** o[path[0]][path[1]]... = value (nested objects created on the way). */
function setPath(o: Record<string, unknown>, path: string[], value: string): void {
  let cur = o;
  for (const p of path.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[path[path.length - 1]] = value;
}

/** `over` merged into `base` object by object (a variant's config entries keep the defaults' others). */
function merged<T extends object>(base: T, over: Record<string, unknown>): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && b && typeof b === 'object' ? merged(b, v as Record<string, unknown>) : v;
  }
  return out as T;
}

function parseVariant(v: string): { conv: Record<string, string>; rule: Record<string, boolean>; layer: Record<string, boolean>; step: Record<string, string | boolean>; session: Record<string, unknown> } {
  const conv: Record<string, string> = {};
  const rule: Record<string, boolean> = {};
  const layer: Record<string, boolean> = {};
  const step: Record<string, string | boolean> = {};
  const session: Record<string, unknown> = {};
  if (v !== 'base') {
    for (const kv of v.split(';')) {
      const [k, val] = kv.split('=');
      const [scope, ...path] = k.split('.');
      const key = path[0];
      if (scope === 'conv') conv[key] = val;
      else if (scope === 'rule') rule[key] = val === 'true';
      else if (scope === 'layer') layer[key] = val === 'true';
      else if (scope === 'step') step[key] = val === 'true' ? true : val === 'false' ? false : val;
      else if (scope === 'session' && path[0] === 'extra') setPath(session, path, val); // config entries: session.extra.session.intra_op.allow_spinning=0
      else if (scope === 'session') session[key] = val === 'true' ? true : val === 'false' ? false : Number.isNaN(Number(val)) ? val : Number(val);
      else throw new Error(`variant ${v}: conv.<key>, rule.<key>, layer.<key>, step.<key> or session.<key>`);
    }
  }
  return { conv, rule, layer, step, session };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const variants = args.filter((a, i) => !a.startsWith('--') && !FLAGS.has(args[i - 1]));
  const name = arg(args, 'preset') ?? 'small';
  const p = getPreset(name);
  const recipe = getRecipe(arg(args, 'recipe') ?? p.recipe);
  const network = { ...p.network, ...recipe.network, nLocal: p.standInCodebookRows.local, nGlobal: p.standInCodebookRows.global };
  const loss = { ...p.loss, ...recipe.loss, discStart: Number.MAX_SAFE_INTEGER };
  const batch = Number(arg(args, 'batch') ?? (p.microBatch > 0 ? p.microBatch : p.batchSize));
  const rounds = Number(arg(args, 'rounds') ?? 6);
  const threads = Number(arg(args, 'threads') ?? availableParallelism());
  const net = new NetworkParams(network, { seed: 0 });
  const genNames = net.trainableNames().gen;
  const sd = net.stateDict();
  const defaults = { ...convOptions };
  const ruleDefaults = { ...ruleOptions };
  const layerDefaults = { ...layerOptions };
  const stepDefaults = { ...stepOptions };
  const sessions: ort.InferenceSession[] = [];
  for (const v of variants) {
    const { conv, rule, layer, step, session } = parseVariant(v);
    Object.assign(convOptions, defaults, conv);
    Object.assign(ruleOptions, ruleDefaults, rule);
    Object.assign(layerOptions, layerDefaults, layer);
    Object.assign(stepOptions, stepDefaults, step);
    const graph = generatorStepGraph(network, sd, genNames, { batch, imageSize: p.imageSize, kGlobal: loss.kGlobal, recLoss: loss.recLoss, vqBeta: loss.vqBeta });
    sessions.push(await ort.InferenceSession.create(graph.model, merged(trainSessionOptions({ threads }), session)));
  }
  Object.assign(convOptions, defaults);
  Object.assign(ruleOptions, ruleDefaults);
  Object.assign(layerOptions, layerDefaults);
  Object.assign(stepOptions, stepDefaults);
  const rng = new Rng(1);
  const size = p.imageSize;
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of sessions[0].inputNames) {
    const dims = input === 'image' ? [batch, 3, size, size] : input === 'clip' ? [batch, network.embedDim]
      : input === 'codebook' || input === 'projected_codebook' ? [network.nLocal, network.embedDim]
        : input === 'global_codebook' ? [network.nGlobal, network.embedDim]
          : ['vq_weight', 'quantized', 'gan_factor'].includes(input) ? [] : [...sd.get(input)!.shape];
    const count = dims.reduce((a, b) => a * b, 1);
    const data = ['vq_weight', 'quantized'].includes(input) ? Float32Array.of(1)
      : sd.has(input) ? (sd.get(input)!.data as Float32Array) : Float32Array.from({ length: count }, () => rng.uniform() * 2 - 1);
    feeds[input] = new ort.Tensor('float32', data, dims);
  }
  const first = await sessions[0].run(feeds);
  const largest = Object.keys(first).filter((k) => k.startsWith('grad.')).reduce((m, k) => (first[k].data as Float32Array).reduce((q, v) => Math.max(q, Math.abs(v)), m), 0);
  for (let i = 1; i < sessions.length; i++) {
    const r = await sessions[i].run(feeds);
    let worst = 0;
    let where = '';
    for (const k of Object.keys(first)) {
      if (!k.startsWith('grad.')) continue;
      const a = first[k].data as Float32Array;
      if (!r[k]) continue; // a parameter the variant's loss does not reach (no input, zero gradient)
      const b = r[k].data as Float32Array;
      // A conv bias before a GroupNorm has a zero gradient: rounding noise, measured against 1e-3 of the largest gradient.
      const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-3 * largest);
      for (let j = 0; j < a.length; j++) {
        const e = Math.abs(a[j] - b[j]) / scale;
        if (e > worst) [worst, where] = [e, k];
      }
    }
    const same = (first.indices.data as BigInt64Array).every((v, j) => v === (r.indices.data as BigInt64Array)[j]);
    console.log(`${variants[i]} vs ${variants[0]}: largest gradient difference ${worst.toExponential(2)} of the gradient's scale (${where}); codes ${same ? 'equal' : 'DIFFER'}`);
  }
  const times = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sessions.length; i++) {
      const j = (i + r) % sessions.length; // rotate the order
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await sessions[j].run(feeds);
      const c = process.cpuUsage(c0);
      times[j].push(performance.now() - t0);
      cpu[j].push((c.user + c.system) / 1000);
    }
  }
  const median = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
  const base = median(times[0]);
  const baseCpu = median(cpu[0]);
  console.log(`${name} batch ${batch}, ${threads} threads, ${rounds} rounds (median wall ms and ratio to ${variants[0]}; median CPU ms (all threads, spinning included) and ratio):`);
  variants.forEach((v, i) => console.log(`  ${v.padEnd(44)} wall ${median(times[i]).toFixed(0).padStart(6)} ms ${(base / median(times[i])).toFixed(2)}x  cpu ${median(cpu[i]).toFixed(0).padStart(6)} ms ${(baseCpu / median(cpu[i])).toFixed(2)}x  [${times[i].map((t) => t.toFixed(0)).join(' ')}]`));
  for (const s of sessions) await s.release();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
