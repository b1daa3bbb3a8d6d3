// Reference parity through the ONNX training graph inside the test suite (`npm run parity -- --engine onnx`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSafetensors } from '../io/files.js';
import { runParityOnnx } from './onnx-parity.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';

const PARITY = sharedPath('parity/v2l_reference_parity.safetensors');

test('the ONNX training graph reproduces every outputs/* and grads/* entry of the PyTorch reference', { skip: skipUnless(PARITY, 'the reference parity vectors') }, async () => {
  const file = readSafetensors(PARITY);
  const results = await runParityOnnx(file);
  const expected = [...file.tensors.keys()].filter((k) => k.startsWith('outputs/') || k.startsWith('grads/'));
  assert.equal(results.length, expected.length, 'one result per outputs/* and grads/* entry');
  const failed = results.filter((r) => !r.ok);
  assert.deepEqual(failed, [], failed.map((r) => `${r.name} error ${r.max_abs_error} > ${r.tolerance}${r.note ? ` (${r.note})` : ''}`).join('; '));
});
