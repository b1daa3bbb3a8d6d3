// Loading a V2LTokenizer from paths (Node edge): the weights file, a codebook package folder, a CLIP
// folder, and the onnxruntime engine. The tokenizer itself (./tokenizer.ts) takes loaded parts: a
// ClipModel (the interface), a Codebook, the weights in memory. onnxruntime-node (./onnx-node.ts) is
// imported when the engine is built, not when `v2l/tokenizer` is.
import { join } from 'node:path';
import { loadCodebook } from '../codebook/package.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import { cacheRoot } from '../models/hub.js';
import { readTokenizerWeights } from './weights.js';
import { inferenceStateDict } from './onnx-engine.js';
import { V2LTokenizer, type LoadTokenizerOptions } from './tokenizer.js';

/** Reads every file `opts` names, then builds the tokenizer (every mismatch is reported before any image work). */
export async function loadTokenizer(opts: LoadTokenizerOptions): Promise<V2LTokenizer> {
  const engineName = (opts as { engine?: string }).engine;
  if (engineName !== undefined && engineName !== 'onnx') {
    throw new Error(`the tokenizer runs on onnxruntime only (engine 'onnx'); '${engineName}' is not an inference engine (tfjs inference was removed: the ONNX engine gives the same ids)`);
  }
  const weights = readTokenizerWeights(opts.checkpoint, { config: opts.config });
  const codebook = typeof opts.codebook === 'string' ? loadCodebook(opts.codebook, { vocabulary: opts.vocabulary }) : opts.codebook ?? null;
  const clip = typeof opts.clip === 'string' ? await loadClip(opts.clip, { towers: { vision: true, text: false } }) : opts.clip ?? null;
  try {
    return await V2LTokenizer.create({
      ...opts,
      weights,
      codebook,
      clip,
      engine: async (config, sd, has, books) => {
        const { createOnnxEngine } = await import('./onnx-node.js');
        return createOnnxEngine(config, inferenceStateDict(sd, has, books), {
          device: opts.device, threads: opts.threads, cacheDir: opts.onnxCache === undefined ? join(cacheRoot(), 'onnx') : opts.onnxCache,
          excludedLocal: books?.excludedLocal, // special tokens without text: never a local id
        });
      },
    });
  } catch (e) {
    // A CLIP loaded here is ours to free when the tokenizer cannot be built.
    if (typeof opts.clip === 'string') await clip?.dispose();
    throw e;
  }
}
