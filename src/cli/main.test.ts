// The CLI is the entry point that chooses the tensor backend: a bad --backend is reported as coming
// from --backend (not from V2L_BACKEND), before any work.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram } from './main.js';
import { chooseBackend } from '../engine/backend.js';

after(() => chooseBackend(undefined));

test('--backend bogus is refused naming --backend, before the command runs', async () => {
  const env = process.env.V2L_BACKEND;
  await assert.rejects(
    buildProgram().exitOverride().parseAsync(['node', 'v2l', '--backend', 'bogus', 'tokenize', '--checkpoint', 'none.safetensors', 'x.jpg']),
    /unknown tensor backend 'bogus' \(from --backend\); choose one of: wasm, cpu, tensorflow/,
  );
  assert.equal(process.env.V2L_BACKEND, env, 'the flag is not passed through the environment');
});
