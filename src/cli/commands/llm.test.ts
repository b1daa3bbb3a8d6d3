// `v2l llm ...` end to end on the real LLaMA-2 vocabulary and stories260K (from ../shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../main.js';
import { skipUnless } from '../../util/test-utils/shared.js';

const shared = (p: string) => fileURLToPath(new URL(`../../../../shared/${p}`, import.meta.url));
const vocabPath = shared('models/llama2-tokenizer/ggml-vocab-llama-spm.gguf');
const modelPath = shared('models/stories260K/stories260K.gguf');
const skip = skipUnless([vocabPath, modelPath], 'the LLaMA-2 tokenizer and stories260K');

async function run(...args: string[]): Promise<unknown> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    await (await buildProgram()).exitOverride().parseAsync(['node', 'v2l', ...args]);
  } finally {
    console.log = log;
  }
  return JSON.parse(lines.join('\n'));
}

test('v2l llm vocab reports the LLaMA-2 vocabulary size', { skip }, async () => {
  const r = (await run('llm', 'vocab', '--model', vocabPath, '--sample', '3')) as { size: number; sample: unknown[]; bos: number };
  assert.equal(r.size, 32000);
  assert.equal(r.bos, 1);
  assert.equal(r.sample.length, 3);
});

test('v2l llm topk prints k tokens whose probabilities sum to at most 1', { skip }, async () => {
  const r = (await run('llm', 'topk', '--model', modelPath, '--prompt', 'Once upon a time', '--k', '5')) as { top: { token: string; prob: number }[] };
  assert.equal(r.top.length, 5);
  const sum = r.top.reduce((s, e) => s + e.prob, 0);
  assert.ok(sum <= 1 + 1e-6 && sum > 0);
  assert.equal(r.top[0]!.token, ',');
});

test('v2l llm generate stops at a stop string; v2l llm choose picks a candidate', { skip }, async () => {
  const g = (await run('llm', 'generate', '--model', modelPath, '--prompt', 'Once upon a time', '--stop', '.', '--max-tokens', '60')) as { text: string; stopReason: string };
  assert.equal(g.stopReason, 'stop');
  assert.ok(g.text.endsWith('.'));
  const c = (await run('llm', 'choose', '--model', modelPath, '--prompt', 'Lily had a little', '--candidate', ' dog', '--candidate', ' ball')) as { text: string };
  assert.ok([' dog', ' ball'].includes(c.text));
});
