// The browser side of `npm run bench -- browser` (bundled by ./bench.ts, not part of the build): opens the
// tokenizer export served beside it on onnxruntime-web through the portable engine (on the asyncify
// build the page uses, and with `builds` also on the plain wasm one, to compare), and times encode (encoder, local
// search, global search, each timed) and decode on the inputs the Node side times too.
import { LOCAL_SEARCH_INT8_WASM_FILE, OnnxEngine, ONNX_FILES } from '../tokenizer/onnx-engine.js';
import { downFactor, type V2LConfig } from '../network/config.js';
import { configureOrt, webRuntime, webThreads, webgpuAvailable, type OrtBuild } from './ort-web.js';
import { benchImages, benchClip, benchDecoderInputs } from './bench-inputs.js';
import { pageInt8Search } from './page-search.js';

interface BenchOptions { size: number; batch: number; k: number }

const engines = new Map<OrtBuild, OnnxEngine>();

const bytes = async (name: string) => new Uint8Array(await (await fetch(name)).arrayBuffer());

/** `floatSearch`: the local search in float32 only (as Node below 65,536 rows), not the page's int8 first pass. */
async function open(builds: OrtBuild[], floatSearch = false): Promise<{ threads: number; webgpu: boolean; config: V2LConfig }> {
  const { threads } = configureOrt(new URL('.', location.href).href, webThreads());
  const manifest = JSON.parse(new TextDecoder().decode(await bytes(ONNX_FILES.manifest))) as { config: V2LConfig; fingerprint: string };
  const projected = new Float32Array((await bytes(ONNX_FILES.projectedCodebook)).buffer);
  const globalRows = new Float32Array((await bytes('global_rows.f32')).buffer);
  const models = {
    encoder: await bytes(ONNX_FILES.encoder), decoder: await bytes(ONNX_FILES.decoder),
    localSearch: await bytes(ONNX_FILES.localSearch), globalSearch: await bytes(ONNX_FILES.globalSearch),
    // as the page's tokenizer (./tokenizer.ts)
    ...(floatSearch ? {} : { localSearchInt8: pageInt8Search(await bytes(LOCAL_SEARCH_INT8_WASM_FILE)) }),
  };
  for (const build of builds) engines.set(build, await OnnxEngine.open(webRuntime('wasm', build), manifest.config, manifest.fingerprint, models, projected, globalRows, { int8: true }));
  return { threads, webgpu: await webgpuAvailable(), config: manifest.config };
}

/** One timed encode of the batch: seconds (in all, and per part), and the ids (to compare with Node's). */
async function encode(build: OrtBuild, o: BenchOptions) {
  const engine = engines.get(build)!;
  const images = benchImages(o.batch, o.size);
  const clip = benchClip(o.batch, engine.config.embedDim);
  const t0 = performance.now();
  const { z, h, w } = await engine.encodeZ(images, o.batch, o.size, o.size);
  const t1 = performance.now();
  const localIds = await engine.nearestLocal(z, o.batch * h * w);
  const t2 = performance.now();
  const g = await engine.globalTokens(clip, o.batch, o.k);
  const t3 = performance.now();
  return { seconds: (t3 - t0) / 1000, parts: { encoder: (t1 - t0) / 1000, localSearch: (t2 - t1) / 1000, globalSearch: (t3 - t2) / 1000 }, local: Array.from(localIds), global: Array.from(g) };
}

async function decode(build: OrtBuild, o: BenchOptions, local: number[], global: number[]): Promise<{ seconds: number; sum: number }> {
  const engine = engines.get(build)!;
  const h = o.size / downFactor(engine.config);
  const t0 = performance.now();
  const out = await engine.decode(local, o.batch, h, h, engine.globalEmbeddings(global), o.k);
  return { seconds: (performance.now() - t0) / 1000, sum: out.reduce((s, v) => s + v, 0) };
}

/**
 * Runs the encoder or the decoder twice on a profiling session (onnxruntime-web prints its per-node
 * trace events to the console when the profile ends; the benchmark collects them).
 */
async function profile(model: 'encoder' | 'decoder', o: BenchOptions): Promise<void> {
  configureOrt(new URL('.', location.href).href, webThreads());
  const manifest = JSON.parse(new TextDecoder().decode(await bytes(ONNX_FILES.manifest))) as { config: V2LConfig };
  const rt = webRuntime('wasm', 'asyncify', { profiling: true });
  const session = await rt.createSession(await bytes(ONNX_FILES[model]));
  const dim = manifest.config.embedDim;
  const h = o.size / downFactor(manifest.config);
  const d = benchDecoderInputs(o.batch, dim, h, o.k);
  const feeds: Parameters<typeof session.run>[0] = model === 'encoder'
    ? { image: rt.tensor('float32', benchImages(o.batch, o.size), [o.batch, 3, o.size, o.size]) }
    : { zq: rt.tensor('float32', d.zq, [o.batch, dim, h, h]), global_embeddings: rt.tensor('float32', d.global, [o.batch, o.k, dim]) };
  for (let r = 0; r < 2; r++) await session.run(feeds);
  (session as unknown as { endProfiling(): void }).endProfiling();
  await session.release();
}

(globalThis as unknown as { v2lBench: unknown }).v2lBench = { open, encode, decode, profile };
document.body.dataset.ready = '1';
