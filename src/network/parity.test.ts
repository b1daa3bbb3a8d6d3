// Reference parity inside the test suite (the same check as `npm run parity`), on the default backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSafetensors } from '../io/files.js';
import { initBackend } from '../engine/backend.js';
import { parityContents, runParity } from './parity.js';
import { skipUnless } from '../util/test-utils/shared.js';

const PARITY = new URL('../../../shared/parity/v2l_reference_parity.safetensors', import.meta.url).pathname;

for (const gradientCheckpointing of [false, true]) test(`network reproduces every outputs/* and grads/* entry of the PyTorch reference${gradientCheckpointing ? ' (gradient checkpointing on)' : ''}`, { skip: skipUnless(PARITY, 'the reference parity vectors') }, async () => {
  const backend = await initBackend();
  const file = readSafetensors(PARITY);
  const results = runParity(file, undefined, { gradientCheckpointing });
  const expected = [...file.tensors.keys()].filter((k) => k.startsWith('outputs/') || k.startsWith('grads/'));
  assert.equal(results.length, expected.length, 'one result per outputs/* and grads/* entry');
  const failed = results.filter((r) => !r.ok);
  assert.deepEqual(failed, [], `on ${backend}: ${failed.map((r) => `${r.name} error ${r.max_abs_error} > ${r.tolerance}${r.note ? ` (${r.note})` : ''}`).join('; ')}`);
});

test('a parity file with outputs only (no gradients, no discriminator) is checked for what it holds', { skip: skipUnless(PARITY, 'the reference parity vectors') }, async () => {
  await initBackend();
  const file = readSafetensors(PARITY);
  const tensors = new Map([...file.tensors].filter(([k]) => !k.startsWith('grads/') && !k.startsWith('weights/discriminator.') && !k.startsWith('outputs/disc_') && !/hinge|g_loss/.test(k)));
  const partial = { ...file, tensors };
  assert.equal(parityContents(partial).grads, 0);
  const results = runParity(partial);
  assert.equal(results.length, parityContents(partial).outputs);
  assert.deepEqual(results.filter((r) => !r.ok), []);
});
