// A LoRA adapter written here (./lora-gguf.ts) and applied by llama.cpp through node-llama-cpp, on the real
// stories260K model. Checked: (1) an adapter with B = 0 leaves the full next-token distribution unchanged;
// (2) an adapter on blk.0.attn_q and blk.0.attn_k (the paper's targets; rank 4, alpha 32, load scale 0.5)
// changes it, and the adapted model equals, within float32 noise, a copy of the base GGUF whose two
// weights were replaced by W + 0.5 * (32 / 4) * B A computed by hand here (./lora-gguf.ts mergeLora).
// So llama.cpp reads our file, with the shapes, orientation and scale factor documented there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { loraGgufBytes, mergeLora, type LoraTensor } from './lora-gguf.js';
import { seededUniform } from '../shots.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const MODEL = sharedPath('models/stories260K/stories260K.gguf');
const skip = skipUnless(MODEL, 'the stories260K model');

async function tensorLayout(path: string): Promise<Map<string, { offset: number; dims: number[] }>> {
  const info = await readGgufFileInfo(path);
  const align = Number((info.metadata.general as { alignment?: number }).alignment ?? 32);
  if (info.infoEndOffset === undefined) throw new Error(`${path}: no tensor-info end offset`);
  const dataStart = Math.ceil(info.infoEndOffset / align) * align;
  return new Map((info.tensorInfo ?? []).map((t) => [t.name, { offset: dataStart + Number(t.offset), dims: t.dimensions.map(Number) }]));
}

function readF32(path: string, offset: number, n: number): Float32Array {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n * 4);
    readSync(fd, b, 0, b.length, offset);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  } finally {
    closeSync(fd);
  }
}

function randomTensor(name: string, nIn: number, nOut: number, rank: number, seed: number, zeroB = false): LoraTensor {
  const r = seededUniform(seed);
  const a = Float32Array.from({ length: rank * nIn }, () => (r() - 0.5) * 0.5);
  const b = Float32Array.from({ length: nOut * rank }, () => (zeroB ? 0 : (r() - 0.5) * 0.5));
  return { name, nIn, nOut, rank, a, b };
}

async function distributions(modelPath: string, lora?: { path: string; scale: number }): Promise<number[][]> {
  const llm = await LlamaCppLLM.load(modelPath, { threads: 1, gpu: false, ...(lora ? { lora: [lora] } : {}) });
  try {
    const prompts = ['Once upon a time, there was a little', 'The cat sat on the'];
    const tops = await llm.topK(prompts, 512);
    return tops.map((t) => {
      const p = new Array<number>(512).fill(0);
      for (const e of t) p[e.id] = e.prob;
      return p;
    });
  } finally {
    await llm.dispose();
  }
}

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i]![j]!))));

test('LoRA GGUF: a zero adapter changes nothing; a non-zero one equals the hand-merged weights', { skip, timeout: 120_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-lora-'));
  try {
    const layout = await tensorLayout(MODEL);
    const targets = ['blk.0.attn_q.weight', 'blk.0.attn_k.weight'].map((name, i) => {
      const t = layout.get(name)!;
      assert.ok(t, `${name} in stories260K`);
      const [nIn, nOut] = t.dims as [number, number];
      return { name, nIn, nOut, offset: t.offset, seed: 7 + i };
    });
    const rank = 4;
    const alpha = 32;
    const scale = 0.5;

    const zeroPath = join(tmp, 'zero.gguf');
    writeFileSync(zeroPath, loraGgufBytes({ architecture: 'llama', alpha, tensors: targets.map((t) => randomTensor(t.name, t.nIn, t.nOut, rank, t.seed, true)) }));
    const tensors = targets.map((t) => randomTensor(t.name, t.nIn, t.nOut, rank, t.seed));
    const loraPath = join(tmp, 'lora.gguf');
    writeFileSync(loraPath, loraGgufBytes({ architecture: 'llama', alpha, tensors }));

    // The base model with W + scale * alpha / rank * B A written over the two weights.
    const merged = join(tmp, 'merged.gguf');
    copyFileSync(MODEL, merged);
    const fd = openSync(merged, 'r+');
    try {
      targets.forEach((t, i) => {
        const w = readF32(MODEL, t.offset, t.nIn * t.nOut);
        const m = mergeLora(w, tensors[i]!, (scale * alpha) / rank);
        writeSync(fd, Buffer.from(m.buffer), 0, m.byteLength, t.offset);
      });
    } finally {
      closeSync(fd);
    }

    const base = await distributions(MODEL);
    const zero = await distributions(MODEL, { path: zeroPath, scale });
    const adapted = await distributions(MODEL, { path: loraPath, scale });
    const hand = await distributions(merged);

    assert.ok(maxDiff(base, zero) < 1e-6, `zero adapter changed the distribution by ${maxDiff(base, zero)}`);
    const change = maxDiff(base, adapted);
    assert.ok(change > 1e-2, `the adapter should change the distribution (max change ${change})`);
    const err = maxDiff(adapted, hand);
    t.diagnostic(`zero adapter: max |dp| ${maxDiff(base, zero).toExponential(2)}; adapter: max change ${change.toExponential(2)}, vs hand-merged ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `adapter vs hand-merged weights differ by ${err} (change from base ${change})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('LoRA GGUF: a shape that does not fit the base model is refused at load', { skip, timeout: 60_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-lora-'));
  try {
    const bad = join(tmp, 'bad.gguf');
    writeFileSync(bad, loraGgufBytes({ architecture: 'llama', alpha: 8, tensors: [randomTensor('blk.0.attn_q.weight', 32, 64, 4, 1)] }));
    await assert.rejects(LlamaCppLLM.load(MODEL, { threads: 1, gpu: false, lora: [{ path: bad }] }), /cannot create|LoRA|lora/i);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
