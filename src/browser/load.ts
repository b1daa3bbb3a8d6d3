// Loading the user's models in the browser, in the order that lets each check name what is wrong before
// anything heavy runs: the codebook (small), the LLM's vocabulary from the GGUF header (checked against
// the codebook), CLIP (its fingerprint checked against the codebook's manifest), the tokenizer export
// (checked against both), then the LLM itself. Progress is reported at each step.
import type { Api } from '../../web/api.js';
import { parseCodebookFiles, checkManifest } from '../codebook/manifest.js';
import { configureOrt, webRuntime, webThreads, webgpuAvailable, type WebDevice } from './ort-web.js';
import { BrowserClip, clipPath } from './clip.js';
import { BrowserTokenizer } from './tokenizer.js';
import { WllamaLLM, ggufVocabulary } from './wllama-llm.js';
import { localApi, localTexts } from './local-api.js';
import { JobQueue } from './queue.js';
import { browserTasks, datasetOf } from './tasks.js';
import { InputError } from './image.js';
import type { Role, StoredFile } from './store.js';

export interface LoadedModels {
  api: Api;
  tokenizer: BrowserTokenizer;
  llm: WllamaLLM | null;
  threads: number;
  webgpu: boolean;
  device: WebDevice;
  runtimeText: string;
  seconds: number;
}

export interface LoadOptions {
  /** Base URL of the page's files (onnxruntime-web's and wllama's wasm). */
  assetsUrl: string;
  device?: WebDevice;
  onProgress?: (what: string, done?: number, total?: number) => void;
}

async function bytesOf(files: readonly StoredFile[], path: (name: string) => string = (n) => n): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const f of files) out.set(path(f.name), new Uint8Array(await f.file.arrayBuffer()));
  return out;
}

export async function loadBrowserModels(files: Record<Role, StoredFile[]>, opts: LoadOptions): Promise<LoadedModels> {
  const t0 = performance.now();
  const say = opts.onProgress ?? (() => undefined);
  const webgpu = await webgpuAvailable();
  const device: WebDevice = opts.device === 'webgpu' && webgpu ? 'webgpu' : 'wasm';
  const { threads } = configureOrt(opts.assetsUrl, webThreads());
  say('Reading the codebook…', 0, 4);
  let codebook;
  try {
    codebook = parseCodebookFiles(await bytesOf(files.codebook), 'package');
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const gguf = files.llm.find((f) => f.name.toLowerCase().endsWith('.gguf')) ?? files.llm[0];
  let vocabulary = null;
  if (gguf) {
    say(`Reading the vocabulary of ${gguf.name}…`, 1, 4);
    vocabulary = await ggufVocabulary(gguf.file, gguf.name);
    try {
      checkManifest(codebook.manifest, { vocabulary: { hash: vocabulary.hash, size: vocabulary.size }, llmId: gguf.name }, 'package');
    } catch (e) {
      throw new InputError(`the LLM ${gguf.name} does not match the codebook: ${(e as Error).message}`);
    }
  }
  say('Loading CLIP…', 2, 4);
  const clip = await BrowserClip.load(await bytesOf(files.clip, clipPath), { onProgress: (w) => say(w, 2, 4) });
  try {
    checkManifest(codebook.manifest, { clip: { id: clip.id, fingerprint: clip.fingerprint, dim: clip.dim } }, 'package');
  } catch (e) {
    await clip.dispose();
    throw new InputError(`the CLIP chosen does not match the codebook: ${(e as Error).message}`);
  }
  say('Loading the tokenizer network…', 3, 4);
  let tokenizer: BrowserTokenizer;
  try {
    tokenizer = await BrowserTokenizer.load(await bytesOf(files.tokenizer), codebook, clip, webRuntime(device));
  } catch (e) {
    await clip.dispose();
    throw e;
  }
  let llm: WllamaLLM | null = null;
  if (gguf) {
    say(`Loading the LLM ${gguf.name}…`, 3, 4);
    try {
      llm = await WllamaLLM.load(gguf.file, gguf.name, { assetsUrl: opts.assetsUrl });
    } catch (e) {
      await tokenizer.dispose();
      throw e;
    }
  }
  const dataset = files.fewshot?.length ? datasetOf(files.fewshot.map((f) => ({ path: f.name, file: f.file }))) : null;
  if (files.fewshot?.length && !dataset) throw new InputError('the labelled images chosen have no class folders with images (choose a folder holding <class>/<image> files)');
  const queue = new JobQueue();
  const texts = localTexts(codebook, vocabulary);
  const tasks = llm ? browserTasks({ tokenizer, llm, dataset, queue, text: (id) => texts[id] ?? `#${id}` }) : null;
  const api = localApi({ tokenizer, vocabulary, llm, fewshot: tasks?.fewshot ?? null, fewshotInfo: tasks?.fewshotInfo ?? null, restore: tasks?.restore ?? null, queue });
  const runtimeText = `Runs here: onnxruntime-web ${device} (${threads} thread${threads === 1 ? '' : 's'}${globalThis.crossOriginIsolated ? ', cross-origin isolated' : ', not cross-origin isolated: 1 thread'}); ` +
    `WebGPU ${webgpu ? 'available' : 'not available'}${llm ? `; LLM on wllama (${llm.threads} thread${llm.threads === 1 ? '' : 's'}, context ${llm.contextSize})` : ''}.`;
  return { api, tokenizer, llm, threads, webgpu, device, runtimeText, seconds: (performance.now() - t0) / 1000 };
}
