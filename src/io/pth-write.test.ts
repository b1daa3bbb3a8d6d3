import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serializePth } from './pth-write.js';
import { parsePth, pthTensor } from './pth.js';
import type { HostTensor } from './dtypes.js';

test('torch.save-compatible writer round-trips through the restricted reader', () => {
  const sd = new Map<string, HostTensor>([
    ['encoder.conv_in.weight', { dtype: 'F32', shape: [2, 3, 1, 1], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
    ['count', { dtype: 'I64', shape: [], data: new BigInt64Array([7n]) }],
    ['half', { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
  ]);
  const f = parsePth(serializePth(sd, { wrapStateDict: true }));
  assert.equal(f.format, 'zip');
  assert.equal(f.unwrapped, 'state_dict');
  assert.deepEqual([...f.tensors.keys()], [...sd.keys()]);
  for (const [k, t] of sd) {
    const r = f.tensors.get(k)!;
    assert.equal(r.dtype, t.dtype, k);
    assert.deepEqual(r.shape, t.shape, k);
    assert.deepEqual(Array.from(r.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>), k);
  }
  const bare = pthTensor(parsePth(serializePth({ dtype: 'F32', shape: [3, 2], data: new Float32Array([0, 1, 2, 3, 4, 5]) })));
  assert.deepEqual(bare.shape, [3, 2]);
  assert.deepEqual(Array.from(bare.data as Float32Array), [0, 1, 2, 3, 4, 5]);
});
