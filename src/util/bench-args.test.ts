import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argNumber, argString, argValue, hasFlag } from './bench-args.js';

test('bench options: --name value, --name=value, defaults, flags, and named errors', () => {
  const args = ['--model', 'm.gguf', '--runs=3', '--quick'];
  assert.equal(argValue(args, 'model'), 'm.gguf');
  assert.equal(argValue(args, '--model'), 'm.gguf');
  assert.equal(argNumber(args, 'runs', 1, { integer: true }), 3);
  assert.equal(argString(args, 'images', 'photos/'), 'photos/');
  assert.equal(hasFlag(args, 'quick'), true);
  assert.throws(() => argValue(['--model'], 'model'), /--model needs a value/);
  assert.throws(() => argNumber(['--runs', 'x'], 'runs', 1), /--runs must be a positive number \(got "x"\)/);
});
