import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { readSafetensors } from './files.js';
import { toFloat32 } from './dtypes.js';
import { skipUnless } from '../util/test-utils/shared.js';

const PARITY = new URL('../../../shared/parity/v2l_reference_parity.safetensors', import.meta.url).pathname;

test('safetensors round trip keeps dtypes, shapes, values and metadata', () => {
  const a = { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) };
  const b = { dtype: 'I64' as const, shape: [3], data: new BigInt64Array([1n, -2n, 3n]) };
  const c = { dtype: 'U8' as const, shape: [1], data: new Uint8Array([7]) };
  const bytes = serializeSafetensors([['a', a], ['b', b], ['c', c]], { k: 'v' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0, 'data is 8-byte aligned');
  const f = parseSafetensors(bytes);
  assert.deepEqual(f.metadata, { k: 'v' });
  assert.deepEqual([...f.tensors.keys()], ['a', 'b', 'c']);
  assert.deepEqual(Array.from(f.tensors.get('a')!.data as Float32Array), [1, 2, 3, 4, 5, -6.5]);
  assert.deepEqual(f.tensors.get('a')!.shape, [2, 3]);
  assert.deepEqual(Array.from(f.tensors.get('b')!.data as BigInt64Array), [1n, -2n, 3n]);
});

test('truncated safetensors is refused with a clear error', () => {
  const bytes = serializeSafetensors([['a', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]]);
  assert.throws(() => parseSafetensors(bytes.subarray(0, bytes.length - 3), 'x.safetensors'), /x\.safetensors: tensor "a" runs past the end/);
  assert.throws(() => parseSafetensors(new Uint8Array(4), 'y'), /too short/);
});

test('reads the reference parity file', { skip: skipUnless(PARITY, 'the reference parity vectors') }, () => {
  const f = readSafetensors(PARITY);
  const img = f.tensors.get('inputs/image')!;
  assert.deepEqual(img.shape, [2, 3, 32, 32]);
  assert.ok(JSON.parse(f.metadata.config));
  const v = toFloat32(img);
  assert.ok(v.every((x) => x >= -1 && x <= 1));
});
