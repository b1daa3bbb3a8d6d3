// `npm run bench -- browser`: the tokenizer network in headless Chromium (onnxruntime-web, wasm with SIMD
// and threads: the page is served cross-origin isolated) against onnxruntime-node on the same machine in
// the same run, rounds interleaved, on the same export and the same inputs: encode (encoder + local and
// global codebook search, re-ranked) and decode, images/s, their ratio (goal: the browser within 3x of
// Node), the page's thread count and whether WebGPU was available; ids compared.
// Options: --size (128), --batch (8), --reps (2), --local-rows (the paper's 32,000), --threads (Node's; default the cores).
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { paperConfig, downFactor } from '../network/config.js';
import { toFloat32 } from '../io/dtypes.js';
import { OnnxEngine } from '../tokenizer/onnx-engine.js';
import { exportOnnx, nodeRuntime, onnxManifest, stateDictFingerprint, writeOnnxExport } from '../tokenizer/onnx-node.js';
import { startStaticServer } from '../serve/static.js';
import { chromiumPath } from '../serve/test-utils/fixture.js';
import { argNumber } from '../util/bench-args.js';
import { benchClip, benchImages } from './bench-inputs.js';
import { launchChromium } from './test-utils.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchBrowser(args: string[]): Promise<void> {
  const size = argNumber(args, 'size', 128, { integer: true });
  const batch = argNumber(args, 'batch', 8, { integer: true });
  const reps = argNumber(args, 'reps', 2, { integer: true });
  const threads = argNumber(args, 'threads', availableParallelism(), { integer: true });
  const chromium = chromiumPath();
  if (!chromium) throw new Error('the browser benchmark needs Chromium (apt-get install -y chromium, or set V2L_CHROMIUM)');
  const config = { ...paperConfig(), nLocal: argNumber(args, 'local-rows', paperConfig().nLocal, { integer: true }) };
  const k = 5;
  console.log(`browser benchmark: paper network (random weights), ${size} px, batch ${batch}, local codebook ${config.nLocal} rows, global ${config.nGlobal}; ` +
    `${reps} interleaved rounds after a warm-up (median); load average before: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'v2l-bench-browser-'));
  const root = join(dir, 'site');
  mkdirSync(root);
  let browser: Awaited<ReturnType<typeof launchChromium>> | null = null;
  let srv: Awaited<ReturnType<typeof startStaticServer>> | null = null;
  let node: OnnxEngine | null = null;
  try {
    let t0 = performance.now();
    await initBackend();
    const net = new V2LNetwork(config, { seed: 1 });
    const sd = net.stateDict();
    net.dispose();
    const x = await exportOnnx(config, sd);
    const fingerprint = stateDictFingerprint(config, sd);
    writeOnnxExport(root, x, onnxManifest(config, fingerprint));
    const globalRows = toFloat32(sd.get('tok_embeddings_global.weight')!);
    writeFileSync(join(root, 'global_rows.f32'), new Uint8Array(globalRows.buffer, globalRows.byteOffset, globalRows.byteLength));
    console.log(`network built and exported in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The page: the engine bundled for the browser, onnxruntime-web's files beside it, served cross-origin isolated.
    await build({ entryPoints: [new URL('./bench-page.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'browser', outfile: join(root, 'bench.js'), logLevel: 'warning' });
    for (const f of ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm']) copyFileSync(new URL(`../../node_modules/onnxruntime-web/dist/${f}`, import.meta.url).pathname, join(root, f));
    writeFileSync(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>v2l browser bench</title><body><script type="module" src="bench.js"></script></body>');
    srv = await startStaticServer({ root, port: 0 });
    browser = await launchChromium(chromium);
    const page = await browser.newPage();
    page.setDefaultTimeout(600_000);
    await page.goto(srv.url);
    await page.waitForFunction(() => document.body?.dataset.ready === '1');
    t0 = performance.now();
    type Api = { open(): Promise<{ threads: number; webgpu: boolean }>; encode(o: unknown): Promise<{ seconds: number; local: number[]; global: number[] }>; decode(o: unknown, l: number[], g: number[]): Promise<{ seconds: number }> };
    const opened = await page.evaluate(() => (globalThis as unknown as { v2lBench: Api }).v2lBench.open());
    console.log(`page: onnxruntime-web wasm, ${opened.threads} threads (cross-origin isolated: ${await page.evaluate(() => globalThis.crossOriginIsolated)}), WebGPU ${opened.webgpu ? 'available' : 'not available'}; sessions opened in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    node = await OnnxEngine.open(nodeRuntime({ threads }), config, fingerprint, x, x.projected, globalRows);
    const o = { size, batch, k };
    const images = benchImages(batch, size);
    const clip = benchClip(batch, config.embedDim);
    const nodeEncode = async () => {
      const s = performance.now();
      const { localIds } = await node!.encode(images, batch, size, size);
      const g = await node!.globalTokens(clip, batch, k);
      return { seconds: (performance.now() - s) / 1000, local: Array.from(localIds), global: Array.from(g) };
    };
    const h = size / downFactor(config);
    const nodeDecode = async (local: number[], global: number[]) => {
      const s = performance.now();
      await node!.decode(local, batch, h, h, node!.globalEmbeddings(global), k);
      return { seconds: (performance.now() - s) / 1000 };
    };
    const times = { be: [] as number[], ne: [] as number[], bd: [] as number[], nd: [] as number[] };
    let differ = { local: 0, global: 0 };
    for (let r = 0; r <= reps; r++) {
      const be = await page.evaluate((opts) => (globalThis as unknown as { v2lBench: Api }).v2lBench.encode(opts), o);
      const ne = await nodeEncode();
      const bd = await page.evaluate(([opts, l, g]) => (globalThis as unknown as { v2lBench: Api }).v2lBench.decode(opts, l as number[], g as number[]), [o, ne.local, ne.global] as const);
      const nd = await nodeDecode(ne.local, ne.global);
      differ = { local: be.local.filter((v, i) => v !== ne.local[i]).length, global: be.global.filter((v, i) => v !== ne.global[i]).length };
      if (r === 0) continue; // warm-up
      times.be.push(be.seconds);
      times.ne.push(ne.seconds);
      times.bd.push(bd.seconds);
      times.nd.push(nd.seconds);
    }
    const rate = (xs: number[]) => batch / median(xs);
    const [be, ne, bd, nd] = [rate(times.be), rate(times.ne), rate(times.bd), rate(times.nd)];
    const f = (v: number) => v.toFixed(2);
    console.log(`browser encode ${f(be)} images/s (Chromium headless, onnxruntime-web wasm SIMD, ${opened.threads} threads)`);
    console.log(`node encode ${f(ne)} images/s (onnxruntime-node CPU, ${threads} threads)`);
    console.log(`browser decode ${f(bd)} images/s`);
    console.log(`node decode ${f(nd)} images/s`);
    console.log(`node / browser: encode ${f(ne / be)}x, decode ${f(nd / bd)}x (goal: within 3x); WebGPU ${opened.webgpu ? 'available' : 'not available'} in the page`);
    console.log(`ids: ${differ.local} of ${batch * h * h} local and ${differ.global} of ${batch * k} global ids differ between the page and Node; load average after: ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  } finally {
    await browser?.close();
    await srv?.close();
    await node?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
