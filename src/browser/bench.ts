// `npm run bench -- browser`: the tokenizer network in headless Chromium (onnxruntime-web, wasm with SIMD
// and threads: the page is served cross-origin isolated) against onnxruntime-node on the same machine in
// the same run, rounds interleaved, on the same export and the same inputs: encode (encoder + local and
// global codebook search, re-ranked) and decode, images/s, their ratio (goal: the browser within 3x of
// Node), the page's thread count and whether WebGPU was available; ids compared.
// Each part of encode is timed on both sides (encoder, local search, global search), to show where the
// browser loses. Options: --size (128), --batch (8), --reps (2), --local-rows (the paper's 32,000),
// --threads (Node's; default the cores), --compare-builds (also time onnxruntime-web's plain wasm build against
// the asyncify build the page runs on, WebGPU's and transformers.js'), --profile (instead of the timed rounds:
// onnxruntime's per-node profile of the encoder and the decoder, in the page and in Node, summed by operator),
// --page-direct (the page runs the direct-Conv graphs too, not Winograd's), --page-float-search (the page's local search
// in float32 only, as Node's at this size, not the page's int8 first pass: ./page-search.ts), --conv-rate (one 3x3 convolution on the wasm and the native kernels, GFLOP per CPU-second: conv-rate.ts),
// --net-rate (the whole encoder and decoder in CPU seconds, 1 thread each side: wasm Winograd and direct against Node's: conv-rate.ts).
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { NetworkParams } from '../network/network-params.js';
import { decoderModel, encoderModel } from '../network/v2l-model.onnx.js';
import { paperConfig, downFactor } from '../network/config.js';
import { toFloat32 } from '../io/dtypes.js';
import { OnnxEngine } from '../tokenizer/onnx-engine.js';
import { exportOnnx, nodeRuntime, onnxManifest, stateDictFingerprint, writeOnnxExport } from '../tokenizer/onnx-node.js';
import { startStaticServer } from '../serve/static.js';
import { chromiumPath } from '../serve/test-utils/fixture.js';
import { argNumber, hasFlag } from '../util/bench-args.js';
import { benchClip, benchImages, benchDecoderInputs } from './bench-inputs.js';
import { opTable, opTimes, traceEvents } from './op-profile.js';
import { convRate, netRate } from './conv-rate.js';
import { launchChromium } from './test-utils.js';
import { ORT_ASSETS, type OrtBuild } from './ort-web.js';

const PARTS = ['encoder', 'localSearch', 'globalSearch'] as const;
type Part = typeof PARTS[number];
type Encoded = { seconds: number; parts: Record<Part, number>; local: number[]; global: number[] };
type Api = {
  open(builds: OrtBuild[], floatSearch: boolean): Promise<{ threads: number; webgpu: boolean }>;
  encode(build: OrtBuild, o: unknown): Promise<Encoded>;
  decode(build: OrtBuild, o: unknown, l: number[], g: number[]): Promise<{ seconds: number }>;
  profile(model: 'encoder' | 'decoder', o: unknown): Promise<void>;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchBrowser(args: string[]): Promise<void> {
  const size = argNumber(args, 'size', 128, { integer: true });
  const batch = argNumber(args, 'batch', 8, { integer: true });
  const reps = argNumber(args, 'reps', 2, { integer: true });
  const builds: OrtBuild[] = hasFlag(args, 'compare-builds') ? ['asyncify', 'plain'] : ['asyncify'];
  const threads = argNumber(args, 'threads', availableParallelism(), { integer: true });
  if (hasFlag(args, 'conv-rate')) {
    await convRate(reps);
    return;
  }
  if (hasFlag(args, 'net-rate')) {
    await netRate(reps, batch, size);
    return;
  }
  const chromium = chromiumPath();
  if (!chromium) throw new Error('the browser benchmark needs Chromium (apt-get install -y chromium, or set V2L_CHROMIUM)');
  const config = { ...paperConfig(), nLocal: argNumber(args, 'local-rows', paperConfig().nLocal, { integer: true }) };
  const k = 5;
  console.log(`browser benchmark: paper network (random weights), ${size} px, batch ${batch}, local codebook ${config.nLocal} rows, global ${config.nGlobal}; ` +
    `${hasFlag(args, 'profile') ? 'per-operator profile, two runs each' : `${reps} interleaved rounds after a warm-up (median)`}; load average before: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'v2l-bench-browser-'));
  const root = join(dir, 'site');
  mkdirSync(root);
  let browser: Awaited<ReturnType<typeof launchChromium>> | null = null;
  let srv: Awaited<ReturnType<typeof startStaticServer>> | null = null;
  let node: OnnxEngine | null = null;
  try {
    let t0 = performance.now();
    const net = new NetworkParams(config, { seed: 1 });
    const sd = net.stateDict();
    const x = await exportOnnx(config, sd, {}, { wasmSearch: true });
    const fingerprint = stateDictFingerprint(config, sd);
    // The page's encoder and decoder do their 3x3 stride-1 convolutions by Winograd (fewer multiplications for
    // the wasm GEMM); Node keeps the direct Conv, faster natively (README, "In the browser"). --page-direct: the page too.
    const pageDirect = hasFlag(args, 'page-direct');
    writeOnnxExport(root, pageDirect ? x : { ...x, encoder: encoderModel(config, sd, { winograd: true }), decoder: decoderModel(config, sd, { winograd: true }) }, onnxManifest(config, fingerprint));
    console.log(`encoder and decoder graphs: page ${pageDirect ? 'direct Conv' : 'Winograd F(4x4, 3x3) for the 3x3 stride-1 convolutions'}, Node direct Conv`);
    const globalRows = toFloat32(sd.get('tok_embeddings_global.weight')!);
    writeFileSync(join(root, 'global_rows.f32'), new Uint8Array(globalRows.buffer, globalRows.byteOffset, globalRows.byteLength));
    console.log(`network built and exported in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The page: the engine bundled for the browser, onnxruntime-web's files beside it, served cross-origin isolated.
    await build({ entryPoints: [new URL('./bench-page.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'browser', outfile: join(root, 'bench.js'), logLevel: 'warning' });
    for (const f of Object.values(ORT_ASSETS).flatMap((a) => [a.mjs, a.wasm])) copyFileSync(new URL(`../../node_modules/onnxruntime-web/dist/${f}`, import.meta.url).pathname, join(root, f));
    writeFileSync(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>v2l browser bench</title><body><script type="module" src="bench.js"></script></body>');
    srv = await startStaticServer({ root, port: 0 });
    browser = await launchChromium(chromium);
    const page = await browser.newPage();
    page.setDefaultTimeout(1_800_000);
    await page.goto(srv.url);
    await page.waitForFunction(() => document.body?.dataset.ready === '1');
    if (hasFlag(args, 'profile')) {
      await profileBoth(page, x, dir, { size, batch, k, threads, config });
      return;
    }
    t0 = performance.now();
    const floatSearch = hasFlag(args, 'page-float-search');
    console.log(`local search: page ${floatSearch ? 'float32' : 'int8 first pass + exact re-ranking (./page-search.ts)'}, Node float32 (its int8 pass starts at 65,536 rows)`);
    const opened = await page.evaluate(([b, f]) => (globalThis as unknown as { v2lBench: Api }).v2lBench.open(b, f), [builds, floatSearch] as const);
    console.log(`page: onnxruntime-web wasm (${builds.map((b) => `${b} build`).join(', ')}), ${opened.threads} threads (cross-origin isolated: ${await page.evaluate(() => globalThis.crossOriginIsolated)}), ` +
      `WebGPU ${opened.webgpu ? 'available' : 'not available'}; sessions opened in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    node = await OnnxEngine.open(nodeRuntime({ threads }), config, fingerprint, x, x.projected, globalRows);
    const o = { size, batch, k };
    const images = benchImages(batch, size);
    const clip = benchClip(batch, config.embedDim);
    const nodeEncode = async (): Promise<Encoded> => {
      const t0 = performance.now();
      const { z, h, w } = await node!.encodeZ(images, batch, size, size);
      const t1 = performance.now();
      const localIds = await node!.nearestLocal(z, batch * h * w);
      const t2 = performance.now();
      const g = await node!.globalTokens(clip, batch, k);
      const t3 = performance.now();
      return { seconds: (t3 - t0) / 1000, parts: { encoder: (t1 - t0) / 1000, localSearch: (t2 - t1) / 1000, globalSearch: (t3 - t2) / 1000 }, local: Array.from(localIds), global: Array.from(g) };
    };
    const h = size / downFactor(config);
    const nodeDecode = async (local: number[], global: number[]) => {
      const s = performance.now();
      await node!.decode(local, batch, h, h, node!.globalEmbeddings(global), k);
      return { seconds: (performance.now() - s) / 1000 };
    };
    // Per side ('node', or a browser build): encode, its parts, decode (seconds per round after the warm-up).
    const times = new Map<string, Record<'encode' | 'decode' | Part, number[]>>();
    const record = (side: string, what: 'encode' | 'decode' | Part, s: number) => {
      if (!times.has(side)) times.set(side, { encode: [], decode: [], encoder: [], localSearch: [], globalSearch: [] });
      times.get(side)![what].push(s);
    };
    const differ = new Map<string, { local: number; global: number }>();
    for (let r = 0; r <= reps; r++) {
      const enc = new Map<string, Encoded>();
      for (const b of builds) enc.set(b, await page.evaluate(([b, opts]) => (globalThis as unknown as { v2lBench: Api }).v2lBench.encode(b, opts), [b, o] as const));
      const ne = await nodeEncode();
      enc.set('node', ne);
      const dec = new Map<string, number>();
      for (const b of builds) dec.set(b, (await page.evaluate(([b, opts, l, g]) => (globalThis as unknown as { v2lBench: Api }).v2lBench.decode(b, opts, l, g), [b, o, ne.local, ne.global] as const)).seconds);
      dec.set('node', (await nodeDecode(ne.local, ne.global)).seconds);
      for (const b of builds) {
        const e = enc.get(b)!;
        differ.set(b, { local: e.local.filter((v, i) => v !== ne.local[i]).length, global: e.global.filter((v, i) => v !== ne.global[i]).length });
      }
      if (r === 0) continue; // warm-up
      for (const [side, e] of enc) {
        record(side, 'encode', e.seconds);
        for (const p of PARTS) record(side, p, e.parts[p]);
        record(side, 'decode', dec.get(side)!);
      }
    }
    const rate = (side: string, what: 'encode' | 'decode') => batch / median(times.get(side)![what]);
    const f = (v: number) => v.toFixed(2);
    const label: Record<string, string> = { asyncify: 'onnxruntime-web wasm SIMD, asyncify build', plain: 'onnxruntime-web wasm SIMD, plain build' };
    const main = builds[0];
    for (const what of ['encode', 'decode'] as const) {
      for (const b of builds) console.log(`browser${b === main ? '' : ` (${b} build)`} ${what} ${f(rate(b, what))} images/s (Chromium headless, ${label[b]}, ${opened.threads} threads)`);
      console.log(`node ${what} ${f(rate('node', what))} images/s (onnxruntime-node CPU, ${threads} threads)`);
    }
    for (const b of builds) {
      console.log(`node / browser${b === main ? '' : ` (${b} build)`}: encode ${f(rate('node', 'encode') / rate(b, 'encode'))}x, decode ${f(rate('node', 'decode') / rate(b, 'decode'))}x (goal: within 3x); ` +
        `encode's parts, median seconds browser vs node: ${PARTS.map((p) => `${p} ${f(median(times.get(b)![p]))} vs ${f(median(times.get('node')![p]))} (${f(median(times.get(b)![p]) / median(times.get('node')![p]))}x)`).join(', ')}`);
    }
    console.log(`WebGPU ${opened.webgpu ? 'available' : 'not available'} in the page`);
    for (const [b, d] of differ) console.log(`ids (${b} build): ${d.local} of ${batch * h * h} local and ${d.global} of ${batch * k} global ids differ between the page and Node`);
    console.log(`load average after: ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  } finally {
    await browser?.close();
    await srv?.close();
    await node?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * --profile: the encoder and the decoder run twice each with onnxruntime's profiler on, in the page
 * (onnxruntime-web prints the trace to the console) and on onnxruntime-node (a trace file), same export,
 * inputs, batch and threads; the last run's kernel time summed by operator, side by side.
 */
async function profileBoth(page: import('playwright-core').Page, nodeModels: { encoder: Uint8Array; decoder: Uint8Array }, dir: string,
  o: { size: number; batch: number; k: number; threads: number; config: ReturnType<typeof paperConfig> }): Promise<void> {
  const ort = await import('onnxruntime-node');
  const lines: string[] = [];
  page.on('console', (m) => {
    if (m.text().includes('"cat"')) lines.push(m.text());
  });
  const h = o.size / downFactor(o.config);
  const d = benchDecoderInputs(o.batch, o.config.embedDim, h, o.k);
  for (const model of ['encoder', 'decoder'] as const) {
    lines.length = 0;
    let t0 = performance.now();
    await page.evaluate(([m, opts]) => (globalThis as unknown as { v2lBench: Api }).v2lBench.profile(m, opts), [model, { size: o.size, batch: o.batch, k: o.k }] as const);
    const webSeconds = (performance.now() - t0) / 1000;
    const web = opTimes(traceEvents(lines.join('\n')));
    const prefix = join(dir, `node-${model}`);
    const session = await ort.InferenceSession.create(nodeModels[model], { // Node's own graphs (direct Conv), not the page's
      executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: prefix,
    });
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = model === 'encoder'
      ? { image: new ort.Tensor('float32', benchImages(o.batch, o.size), [o.batch, 3, o.size, o.size]) }
      : { zq: new ort.Tensor('float32', d.zq, [o.batch, o.config.embedDim, h, h]), global_embeddings: new ort.Tensor('float32', d.global, [o.batch, o.k, o.config.embedDim]) };
    t0 = performance.now();
    for (let r = 0; r < 2; r++) await session.run(feeds);
    const nodeSeconds = (performance.now() - t0) / 1000;
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.startsWith(`node-${model}`) && f.endsWith('.json'));
    if (!file) throw new Error(`onnxruntime-node wrote no profile for the ${model}`);
    const node = opTimes(traceEvents(readFileSync(join(dir, file), 'utf8')));
    if (!web.size) throw new Error(`the page printed no profile for the ${model}`);
    console.log(`\n${model}, batch ${o.batch}, ${o.size} px: two runs in ${webSeconds.toFixed(1)} s in the page, ${nodeSeconds.toFixed(1)} s in Node; the second run's kernels by operator (nodes run):`);
    for (const l of opTable(web, node, ['browser', 'node'])) console.log(l);
  }
  console.log(`load average after: ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
}
