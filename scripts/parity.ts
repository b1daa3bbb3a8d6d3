// npm run parity -- [file] [--backend wasm|cpu] [--engine tfjs|onnx]
// Checks the network (tfjs, or with --engine onnx the ONNX training graph of src/train/onnx-step.ts) against the PyTorch reference's parity vectors: one JSON line per checked tensor,
// then `parity: N/N within tolerance`; exits 0 only when all are.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/io/files.js';
import { parityContents, runParity, type ParityResult } from '../src/network/parity.js';
import { runParityOnnx } from '../src/train/onnx-parity.js';
import { initBackend } from '../src/engine/backend.js';

const DEFAULT_FILE = fileURLToPath(new URL('../../shared/parity/v2l_reference_parity.safetensors', import.meta.url));

async function main(argv: string[]): Promise<number> {
  let backend = 'wasm';
  let engine = 'tfjs';
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') backend = argv[++i] ?? '';
    else if (a.startsWith('--backend=')) backend = a.slice('--backend='.length);
    else if (a === '--engine') engine = argv[++i] ?? '';
    else if (a.startsWith('--engine=')) engine = a.slice('--engine='.length);
    else if (a === '-h' || a === '--help') {
      console.log('usage: npm run parity -- [v2l_reference_parity.safetensors] [--backend wasm|cpu] [--engine tfjs|onnx]');
      return 0;
    } else files.push(a);
  }
  const file = files[0] ?? DEFAULT_FILE;
  if (!existsSync(file)) {
    console.error(`parity file not found: ${file} (expected the reference vectors, e.g. ../shared/parity/v2l_reference_parity.safetensors)`);
    return 2;
  }
  if (engine !== 'tfjs' && engine !== 'onnx') {
    console.error(`--engine: expected tfjs or onnx, got "${engine}"`);
    return 2;
  }
  const active = engine === 'onnx' ? 'onnxruntime (the training graph)' : await initBackend(backend);
  const parsed = readSafetensors(file);
  const held = parityContents(parsed);
  console.error(`${file}: ${held.outputs} outputs, ${held.grads} gradients, ${held.weights} weights${held.grads ? '' : ' (no gradients: outputs only are checked)'}`);
  if (!held.outputs && !held.grads) {
    console.error('parity: the file holds no outputs/* or grads/* entries to check');
    return 2;
  }
  const print = (r: ParityResult) => console.log(JSON.stringify(r));
  const results = engine === 'onnx' ? await runParityOnnx(parsed, print) : runParity(parsed, print);
  const passed = results.filter((r) => r.ok).length;
  console.error(engine === 'onnx' ? `engine: ${active}` : `backend: ${active}`);
  console.log(`parity: ${passed}/${results.length} within tolerance`);
  return passed === results.length && results.length > 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: Error) => {
  console.error(`parity: ${e.message}`);
  process.exitCode = 1;
});
