// The generator step graph's ways of projecting the chosen codes give the same losses, codes and gradients:
// the projector on the gathered rows, on the whole codebook before the gather (Gather's backward), and,
// without the VQ loss's projector term, the fed projected codebook (no projector pass; its gradient zeros).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V2LConfig } from '../network/config.js';
import type { StepOutputs } from './onnx-session.js';
import { stepOptions } from './onnx-step.js';
import { tinyConfig } from './test-utils/fixtures.js';
import { tinyStep } from './test-utils/tiny-step.js';

async function stepWith(config: V2LConfig, vqBeta: number, projectCodes: typeof stepOptions.projectCodes): Promise<StepOutputs> {
  stepOptions.projectCodes = projectCodes;
  try {
    return await tinyStep(config, { vqBeta });
  } finally {
    stepOptions.projectCodes = 'auto';
  }
}

function assertSame(a: StepOutputs, b: StepOutputs, what: string): void {
  assert.deepEqual([...a.indices], [...b.indices], `${what}: codes`);
  for (const k of ['loss', 'rec_loss', 'vq_loss']) assert.ok(Math.abs(a.terms[k] - b.terms[k]) <= 1e-5 * Math.abs(a.terms[k]) + 1e-7, `${what}: ${k} ${a.terms[k]} vs ${b.terms[k]}`);
  const largest = Math.max(...[...a.grads.values()].map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  assert.deepEqual([...a.grads.keys()].sort(), [...b.grads.keys()].sort(), `${what}: parameters`);
  for (const [name, ga] of a.grads) {
    const gb = b.grads.get(name)!;
    let err = 0;
    for (let j = 0; j < ga.length; j++) err = Math.max(err, Math.abs(ga[j] - gb[j]));
    assert.ok(err <= 1e-5 * largest, `${what}: ${name} differs by ${err.toExponential(2)} (largest gradient ${largest.toExponential(2)})`);
  }
}

test('the projector on the whole codebook before the gather = on the gathered rows (with the projector term)', async () => {
  const c = tinyConfig(); // 64 codes, 2 x 8 x 8 = 128 positions: 'auto' projects the whole codebook
  const rows = await stepWith(c, 0.33, 'rows');
  assertSame(await stepWith(c, 0.33, 'auto'), rows, 'codebook vs rows');
  assert.ok(rows.grads.get('codebook_projection.weight')!.some((v) => v !== 0), 'the projector has a gradient');
});

test('without the projector term the fed projected codes give the same step, the projector\'s gradient zeros', async () => {
  const c = { ...tinyConfig(), crossAttention: false, cosineCodes: true }; // the robust recipe's network
  const fed = await stepWith(c, 0, 'auto');
  assertSame(fed, await stepWith(c, 0, 'rows'), 'fed vs rows');
  assert.ok(fed.grads.get('codebook_projection.weight')!.every((v) => v === 0));
});
