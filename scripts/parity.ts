// npm run parity -- [file] [--engine onnx]
// Checks the network (the ONNX training graph of src/train/onnx-step.ts, emitted from the network's
// definition) against the PyTorch reference's parity vectors: one JSON line per checked tensor, then
// `parity: N/N within tolerance`; exits 0 only when all are.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/io/files.js';
import { parityContents, type ParityResult } from '../src/network/parity.js';
import { runParityOnnx } from '../src/train/onnx-parity.js';

const DEFAULT_FILE = fileURLToPath(new URL('../../shared/parity/v2l_reference_parity.safetensors', import.meta.url));

async function main(argv: string[]): Promise<number> {
  let engine = 'onnx';
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--engine') engine = argv[++i] ?? '';
    else if (a.startsWith('--engine=')) engine = a.slice('--engine='.length);
    else if (a === '--backend' || a.startsWith('--backend=')) {
      console.error('--backend: the tfjs backends are gone; the network runs on onnxruntime (--engine onnx)');
      return 2;
    } else if (a === '-h' || a === '--help') {
      console.log('usage: npm run parity -- [v2l_reference_parity.safetensors] [--engine onnx]');
      return 0;
    } else files.push(a);
  }
  const file = files[0] ?? DEFAULT_FILE;
  if (!existsSync(file)) {
    console.error(`parity file not found: ${file} (expected the reference vectors, e.g. ../shared/parity/v2l_reference_parity.safetensors)`);
    return 2;
  }
  if (engine !== 'onnx') {
    console.error(`--engine: the network runs on onnxruntime only (onnx), got "${engine}"`);
    return 2;
  }
  const parsed = readSafetensors(file);
  const held = parityContents(parsed);
  console.error(`${file}: ${held.outputs} outputs, ${held.grads} gradients, ${held.weights} weights${held.grads ? '' : ' (no gradients: outputs only are checked)'}`);
  if (!held.outputs && !held.grads) {
    console.error('parity: the file holds no outputs/* or grads/* entries to check');
    return 2;
  }
  const results = await runParityOnnx(parsed, (r: ParityResult) => console.log(JSON.stringify(r)));
  const passed = results.filter((r) => r.ok).length;
  console.error('engine: onnxruntime (the training graph)');
  console.log(`parity: ${passed}/${results.length} within tolerance`);
  return passed === results.length && results.length > 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: Error) => {
  console.error(`parity: ${e.message}`);
  process.exitCode = 1;
});
