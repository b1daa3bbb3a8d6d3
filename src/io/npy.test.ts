import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { parseNpy, serializeNpy, serializeNpyStrings } from './npy.js';
import { parsePth } from './pth.js';
import { readNpy, readNpyStrings, writeNpy } from './files.js';
import type { HostTensor } from './dtypes.js';
import { skipUnless } from '../util/test-utils/shared.js';

const FORMATS = new URL('../../../shared/formats/', import.meta.url).pathname;
const noFormats = skipUnless(FORMATS, 'the PyTorch/NumPy format samples');
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A .npy v1.0 file as NumPy lays it out: header padded to 64 bytes, then `body`. */
function npy(header: string, body: Uint8Array): Uint8Array {
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  const h = header.padEnd(total - 11, ' ') + '\n';
  const out = new Uint8Array(total + body.length);
  out.set(latin1('\x93NUMPY\x01\x00'));
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(latin1(h), 10);
  out.set(body, total);
  return out;
}

test('sample_float32.npy is arange(12)/7 as float32, 3x4', { skip: noFormats }, () => {
  const a = readNpy(FORMATS + 'sample_float32.npy');
  assert.equal(a.kind, 'numeric');
  if (a.kind !== 'numeric') return;
  assert.equal(a.tensor.dtype, 'F32');
  assert.deepEqual(a.tensor.shape, [3, 4]);
  assert.deepEqual(Array.from(a.tensor.data as Float32Array), Array.from({ length: 12 }, (_, i) => Math.fround(i / 7)));
});

test('object and unicode string arrays (the global_vocabulary.npy layout)', { skip: noFormats }, () => {
  assert.deepEqual(readNpyStrings(FORMATS + 'sample_strings_object.npy'), ['▁cat', 'a photo of▁dog', 'é€漢', '']);
  assert.deepEqual(readNpyStrings(FORMATS + 'sample_strings_unicode.npy'), ['▁cat', 'dog']);
  assert.throws(() => readNpyStrings(FORMATS + 'sample_float32.npy'), /sample_float32\.npy: holds a numeric array \(<f4\), not strings/);
});

test('big-endian and Fortran-order arrays come out little-endian C order', () => {
  // np.save(np.asfortranarray(np.arange(6, dtype='>i4').reshape(2, 3)))
  const f = npy("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 5]));
  const a = parseNpy(f, 'f.npy');
  assert.ok(a.kind === 'numeric');
  assert.equal(a.tensor.dtype, 'I32');
  assert.deepEqual(Array.from(a.tensor.data as Int32Array), [0, 1, 2, 3, 4, 5]);
  const b = new Uint8Array(32);
  const dv = new DataView(b.buffer);
  [1.5, -2, 3, 4].forEach((x, i) => dv.setFloat64(i * 8, x, false));
  const g = parseNpy(npy("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 2), }", b));
  assert.ok(g.kind === 'numeric');
  assert.deepEqual(Array.from(g.tensor.data as Float64Array), [1.5, -2, 3, 4]);
  const u = parseNpy(npy("{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", Uint8Array.from([0xff, 0xff, 1, 0])));
  assert.ok(u.kind === 'numeric');
  assert.equal(u.tensor.dtype, 'I32');
  assert.deepEqual(Array.from(u.tensor.data as Int32Array), [65535, 1]);
});

test('numeric .npy write/read round trip for every dtype NumPy has', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-npy-'));
  try {
    const cases: HostTensor[] = [
      { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.25]) },
      { dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) },
      { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
      { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 40n), 7n]) },
      { dtype: 'I16', shape: [], data: new Int16Array([-3]) },
      { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
      { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    ];
    for (const t of cases) {
      const p = join(dir, `${t.dtype}.npy`);
      writeNpy(p, t);
      assert.equal(readFileSync(p).length % 64, (t.data.byteLength % 64), 'header padded to 64 bytes');
      const a = readNpy(p);
      assert.ok(a.kind === 'numeric');
      assert.equal(a.tensor.dtype, t.dtype);
      assert.deepEqual(a.tensor.shape, t.shape);
      assert.deepEqual(Array.from(a.tensor.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>));
    }
    assert.throws(() => serializeNpy({ dtype: 'BF16', shape: [1], data: new Uint16Array(1) }), /BF16 has no NumPy dtype/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pickled ndarray (protocol 2, _codecs.encode bytes) inside a .pth becomes a tensor', () => {
  // pickle.dumps(np.array([[0.5, 1], [2, 3]], dtype=np.float32), protocol=2), as NumPy 2 writes it
  const pkl = latin1(
    '\x80\x02cnumpy._core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02c_codecs\nencode\nq\x03X\x01\x00\x00\x00bq\x04X\x06\x00\x00\x00latin1q\x05\x86q\x06Rq\x07\x87q\x08Rq\t(K\x01K\x02K\x02\x86q\ncnumpy\ndtype\nq\x0bX\x02\x00\x00\x00f4q\x0c\x89\x88\x87q\rRq\x0e(K\x03X\x01\x00\x00\x00<q\x0fNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x10b\x89h\x03X\x11\x00\x00\x00\x00\x00\x00?\x00\x00\xc2\x80?\x00\x00\x00@\x00\x00@@q\x11h\x05\x86q\x12Rq\x13tq\x14b.',
  );
  const file = parsePth(zipSync({ 'a/data.pkl': [pkl, { level: 0 }] }), { what: 'np.pth' });
  const t = file.tensors.get('')!;
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual(Array.from(t.data as Float32Array), [0.5, 1, 2, 3]);
});

test('bad .npy input: malicious object pickle, truncation, unsupported dtype', { skip: noFormats }, () => {
  const obj = readFileSync(FORMATS + 'sample_strings_object.npy');
  const headerEnd = obj.indexOf(0x0a) + 1;
  const evil = new Uint8Array([...obj.subarray(0, headerEnd), ...latin1("\x80\x02cposix\nsystem\nX\x02\x00\x00\x00ls\x85R.")]);
  assert.throws(() => parseNpy(evil, 'vocab.npy'), /refusing to load vocab\.npy: pickle names global "posix\.system"/);
  assert.throws(() => parseNpy(obj.subarray(0, obj.length - 5), 'vocab.npy'), /vocab\.npy: pickle data truncated/);
  const f = readFileSync(FORMATS + 'sample_float32.npy');
  assert.throws(() => parseNpy(f.subarray(0, f.length - 4), 'f.npy'), /f\.npy: data has 44 bytes, shape \[3,4\] <f4 needs 48 \(truncated\?\)/);
  assert.throws(() => parseNpy(f.subarray(0, 50), 'f.npy'), /f\.npy: \.npy header runs past the end/);
  assert.throws(() => parseNpy(latin1('not numpy at all'), 'x.npy'), /x\.npy: not a \.npy file/);
  assert.throws(() => parseNpy(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'c.npy'), /c\.npy: NumPy dtype <c8 is not supported/);
});

test('serializeNpyStrings: a <U array of any code points (empty, accented, astral) reads back equal', () => {
  const values = ['dog', '', 'café', '🙂 smile', '▁cat'];
  const a = parseNpy(serializeNpyStrings(values));
  assert.equal(a.kind, 'strings');
  assert.equal(a.descr, '<U7');
  assert.deepEqual(a.kind === 'strings' ? a.values : null, values);
});
