import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { writeSafetensors } from '../io/files.js';
import { listCheckpoints, loadCheckpoint, modelWeights, resolveCheckpoint, saveCheckpoint } from './checkpoint.js';
import { MetricsLog, readMetrics } from './metrics.js';

const f32 = (...v: number[]): HostTensor => ({ dtype: 'F32', shape: [v.length], data: Float32Array.from(v) });

test('checkpoints round-trip model, optimiser and state; keep-last-K; latest; weights-only view', () => {
  const out = mkdtempSync(join(tmpdir(), 'v2l-ckpt-'));
  try {
    const model = new Map([['encoder.conv_in.weight', f32(1, 2, 3)]]);
    for (const step of [10, 20, 30, 40]) {
      saveCheckpoint(out, { step, extra: { seed: 3, optimizerSteps: { gen: step, disc: step } } }, model, new Map([['optimizer.gen.m/encoder.conv_in.weight', f32(step)]]), { ch: 32 }, 2);
    }
    assert.deepEqual(listCheckpoints(out).map((p) => p.slice(-24)), ['step-0000030.safetensors', 'step-0000040.safetensors']);
    assert.equal(readFileSync(join(out, 'checkpoints', 'latest'), 'utf8').trim(), 'step-0000040.safetensors');
    const path = resolveCheckpoint(out)!;
    const ck = loadCheckpoint(path);
    assert.equal(ck.step, 40);
    assert.deepEqual(ck.extra, { seed: 3, optimizerSteps: { gen: 40, disc: 40 } });
    assert.deepEqual(ck.config, { ch: 32 });
    assert.deepEqual(Array.from(ck.model.get('encoder.conv_in.weight')!.data as Float32Array), [1, 2, 3]);
    assert.deepEqual(Array.from(ck.optimizer.get('optimizer.gen.m/encoder.conv_in.weight')!.data as Float32Array), [40]);
    assert.deepEqual([...modelWeights(new Map([...ck.model, ...ck.optimizer])).keys()], ['encoder.conv_in.weight']);
    assert.equal(resolveCheckpoint(path), path);
    assert.throws(() => resolveCheckpoint(join(out, 'missing')), /does not exist/);
    // A plain weights file is not a training checkpoint.
    writeSafetensors(join(out, 'plain.safetensors'), model);
    assert.throws(() => loadCheckpoint(join(out, 'plain.safetensors')), /not a v2l training checkpoint/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('metrics: appended per step, truncated to a resumed step, a torn last line tolerated', () => {
  const out = mkdtempSync(join(tmpdir(), 'v2l-metrics-'));
  try {
    const m = new MetricsLog(join(out, 'metrics.jsonl'));
    for (let s = 1; s <= 5; s++) m.append({ step: s, loss: 1 / s });
    m.append({ step: 5, val_rec_loss: 0.3 });
    m.truncateAfter(3);
    assert.deepEqual(readMetrics(m.path).map((r) => r.step), [1, 2, 3]);
    appendFileSync(m.path, '{"step": 4, "lo');
    assert.equal(readMetrics(m.path).length, 3);
    assert.ok(existsSync(m.path));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
