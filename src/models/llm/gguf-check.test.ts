// Damaged GGUF files get a clear message before node-llama-cpp sees them: a 100-byte cut (the header
// cut), a cut inside the tensor data, a file that is not GGUF; whole models and vocab-only files pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkGgufFile } from './gguf-check.js';
import { readVocabulary } from './gguf-vocabulary.js';
import { loadLLM } from './load.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const VOCAB_ONLY = sharedPath('models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const skip = skipUnless([STORIES, VOCAB_ONLY], 'stories260K and the LLaMA-2 vocab-only GGUF');

test('GGUF check: cut files and non-GGUF files are refused by name, whole ones pass', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-gguf-'));
  try {
    const bytes = readFileSync(STORIES);
    const cut100 = join(dir, 'cut100.gguf');
    writeFileSync(cut100, bytes.subarray(0, 100));
    await assert.rejects(checkGgufFile(cut100), /cut100\.gguf is cut short: 100 bytes, but its GGUF header alone takes \d+/);
    await assert.rejects(loadLLM(cut100), /is cut short: 100 bytes/, 'the loader says so, not "reading \'architecture\'"');
    await assert.rejects(readVocabulary(cut100), /is cut short: 100 bytes/, 'no garbage vocabulary from a cut header');
    const cutData = join(dir, 'cut-data.gguf');
    writeFileSync(cutData, bytes.subarray(0, 500_000));
    await assert.rejects(checkGgufFile(cutData), new RegExp(`cut short: 500000 bytes, but its tensors end at byte ${bytes.length}`));
    const text = join(dir, 'text.gguf');
    writeFileSync(text, 'hello, not a model\n');
    await assert.rejects(checkGgufFile(text), /is not a GGUF file \(it does not start with "GGUF"; 19 bytes\)/);
    await assert.rejects(checkGgufFile(join(dir, 'absent.gguf')), /LLM model file not found/);
    await checkGgufFile(STORIES);
    await checkGgufFile(VOCAB_ONLY);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
