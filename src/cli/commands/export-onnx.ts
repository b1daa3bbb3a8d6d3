// `v2l export-onnx`: the tokenizer network as ONNX models (encoder, decoder, the two codebook searches and
// the projected local codebook), emitted from the network definition and the checkpoint's weights, for
// any ONNX runtime. The same export V2LTokenizer caches under <cache>/onnx/<fingerprint>/.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readTokenizerWeights } from '../../tokenizer/weights.js';
import { loadCodebook } from '../../codebook/package.js';

export function register(program: Command): void {
  program.command('export-onnx')
    .description('write the tokenizer network as ONNX models (encoder, decoder, codebook searches) for any ONNX runtime')
    .requiredOption('--checkpoint <file>', 'weights: a v2l safetensors file (v2l train / import-official) or the official .pth')
    .option('--codebook <dir>', 'codebook package replacing the codebooks held by the checkpoint (needed when it holds none)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--winograd', "the encoder's and decoder's 3x3 stride-1 convolutions by Winograd F(4x4, 3x3): fewer multiplications, faster on onnxruntime-web (browser packages), not natively")
    .action(async (f: { checkpoint: string; codebook?: string; out: string; winograd?: boolean }) => {
      const t0 = performance.now();
      // onnxruntime (under onnx-engine) is loaded when the command runs, not when the CLI starts.
      const { exportOnnx, onnxManifest, stateDictFingerprint, writeOnnxExport } = await import('../../tokenizer/onnx-node.js');
      const { inferenceStateDict, ONNX_FILES, LOCAL_SEARCH_INT8_FILE, LOCAL_SEARCH_INT8_WASM_FILE } = await import('../../tokenizer/onnx-engine.js');
      const weights = readTokenizerWeights(f.checkpoint);
      const codebook = f.codebook ? loadCodebook(f.codebook) : null;
      const config = { ...weights.config };
      if (codebook) {
        if (codebook.dim !== config.embedDim) throw new Error(`codebook ${codebook.dir} has ${codebook.dim}-d embeddings, the network in ${f.checkpoint} expects ${config.embedDim}-d`);
        config.nLocal = codebook.local.length / codebook.dim;
        config.nGlobal = codebook.global.length / codebook.dim;
      } else {
        for (const k of ['tok_embeddings.weight', 'tok_embeddings_global.weight']) {
          if (!weights.stateDict.has(k)) throw new Error(`${f.checkpoint} holds no ${k}; pass a codebook package (--codebook <dir>)`);
        }
        config.nLocal = weights.stateDict.get('tok_embeddings.weight')!.shape[0];
        config.nGlobal = weights.stateDict.get('tok_embeddings_global.weight')!.shape[0];
      }
      const sd = inferenceStateDict(weights.stateDict, () => true, codebook ? { local: codebook.local, global: codebook.global, dim: codebook.dim } : undefined);
      const fingerprint = stateDictFingerprint(config, sd);
      // with the int8 search model for onnxruntime-web's wasm kernels (the page's local search)
      const x = await exportOnnx(config, sd, {}, { winograd: f.winograd ?? false, wasmSearch: true });
      const out = resolve(f.out);
      writeOnnxExport(out, x, { ...onnxManifest(config, fingerprint), imageSize: weights.imageSize ?? null, globalTokens: weights.globalTokens ?? null, winograd: f.winograd ?? false, checkpoint: resolve(f.checkpoint), codebook: codebook ? resolve(codebook.dir) : null });
      const files = [...Object.values(ONNX_FILES), LOCAL_SEARCH_INT8_FILE, LOCAL_SEARCH_INT8_WASM_FILE].map((name) => ({ name, bytes: statSync(join(out, name)).size }));
      console.log(JSON.stringify({ out, fingerprint, files, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) }));
    });
}
