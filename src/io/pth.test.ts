import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { parsePth, pthTensor } from './pth.js';
import { unpickle } from './pickle.js';
import { readPth, readPthTensor, readSafetensors } from './files.js';
import { toFloat32, type HostTensor } from './dtypes.js';
import { skipUnless } from '../util/test-utils/shared.js';

const FORMATS = new URL('../../../shared/formats/', import.meta.url).pathname;
const LPIPS = new URL('../../../shared/models/lpips/', import.meta.url).pathname;
const noFormats = skipUnless(FORMATS, 'the PyTorch/NumPy format samples');
const noLpips = skipUnless(LPIPS, 'the LPIPS heads');

const bytesOf = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('sample_checkpoint.pth (zip, torch 1.13): every state-dict entry matches the expected safetensors bit for bit', { skip: noFormats }, () => {
  const file = readPth(FORMATS + 'sample_checkpoint.pth');
  const expected = readSafetensors(FORMATS + 'sample_checkpoint_expected.safetensors');
  assert.equal(file.format, 'zip');
  assert.equal(file.unwrapped, 'state_dict');
  assert.deepEqual(file.topLevelKeys, ['state_dict', 'epoch', 'note']);
  assert.equal(file.extras.get('epoch'), Number(expected.metadata.epoch));
  assert.equal(file.extras.get('note'), expected.metadata.note);
  const want = [...expected.tensors.keys()].filter((k) => k.startsWith('state_dict/')).map((k) => k.slice('state_dict/'.length));
  assert.deepEqual([...file.tensors.keys()].sort(), want.sort());
  for (const key of want) {
    const got = file.tensors.get(key)!;
    const exp = expected.tensors.get(`state_dict/${key}`)!;
    assert.equal(got.dtype, exp.dtype, key);
    assert.deepEqual(got.shape, exp.shape, key);
    assert.ok(bytesOf(got).equals(bytesOf(exp)), `${key} values`);
  }
  // The transposed view really is the transpose of the storage it shares with rows_2_to_4.
  const t = toFloat32(file.tensors.get('view.transposed')!);
  const rows = toFloat32(file.tensors.get('view.rows_2_to_4')!);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 8; c++) assert.equal(rows[r * 8 + c], t[c * 6 + r + 2]);
});

test('sample_bare_tensor.pth: a bare torch.save(tensor) gives its single tensor', { skip: noFormats }, () => {
  const t = readPthTensor(FORMATS + 'sample_bare_tensor.pth');
  const exp = readSafetensors(FORMATS + 'sample_checkpoint_expected.safetensors').tensors.get('bare')!;
  assert.deepEqual(t.shape, [10, 6]);
  assert.ok(bytesOf(t).equals(bytesOf(exp)));
  assert.throws(() => pthTensor(readPth(FORMATS + 'sample_checkpoint.pth'), 'ck.pth'), /ck\.pth: expected a single tensor, found 8/);
});

test('LPIPS heads (legacy torch pickles, v0.0 and v0.1) load and match the JSON copy', { skip: noLpips }, () => {
  for (const version of ['v0.0', 'v0.1']) {
    for (const net of ['alex', 'vgg', 'squeeze']) {
      const file = readPth(`${LPIPS}${version}/${net}.pth`);
      assert.equal(file.format, 'legacy');
      const layers = net === 'squeeze' ? 7 : 5;
      assert.deepEqual([...file.tensors.keys()], Array.from({ length: layers }, (_, i) => `lin${i}.model.1.weight`));
      for (const t of file.tensors.values()) {
        assert.equal(t.dtype, 'F32');
        assert.equal(t.shape.length, 4);
        assert.ok(toFloat32(t).every((x) => x >= 0 && Number.isFinite(x)), 'LPIPS weights are non-negative');
      }
      if (version === 'v0.1') {
        const json = JSON.parse(readFileSync(`${LPIPS}v0.1_json/${net}.json`, 'utf8')) as Record<string, { shape: number[]; data: number[] }>;
        for (const [k, v] of Object.entries(json)) {
          const t = file.tensors.get(k)!;
          assert.deepEqual(t.shape, v.shape, k);
          assert.deepEqual(Array.from(toFloat32(t)), v.data.map((x) => Math.fround(x)), k);
        }
      }
    }
  }
});

test('malicious pickles are refused by name, nothing is run', () => {
  // protocol 2: GLOBAL 'os' 'system', ('ls',), REDUCE
  const osSystem = latin1('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.');
  assert.throws(() => unpickle(osSystem, 0, { what: 'evil.pth' }), /refusing to load evil\.pth: pickle names global "os\.system"/);
  // protocol 4: STACK_GLOBAL builtins.eval
  const evalP4 = latin1('\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x04eval\x93\x8c\x031+1\x85R.');
  assert.throws(() => unpickle(evalP4, 0, { what: 'x.npy' }), /refusing to load x\.npy: pickle names global "builtins\.eval"/);
  // protocol 0: INST and a Python 2 module name
  assert.throws(() => unpickle(latin1("(S'id'\nios\nsystem\n."), 0, { what: 'p0' }), /"os\.system"/);
  assert.throws(() => unpickle(latin1('c__builtin__\ngetattr\n.'), 0, { what: 'p0' }), /"builtins\.getattr"/);
  // torch.storage._load_from_bytes would run torch.load on nested bytes: refused too.
  assert.throws(() => unpickle(latin1('\x80\x02ctorch.storage\n_load_from_bytes\n.'), 0, { what: 't' }), /"torch\.storage\._load_from_bytes"/);
});

test('a zip .pth whose pickle names a forbidden global is refused with the file name', () => {
  const pkl = latin1('\x80\x02csubprocess\nPopen\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.');
  const zip = zipSync({ 'archive/data.pkl': [pkl, { level: 0 }], 'archive/version': [latin1('3\n'), { level: 0 }] });
  assert.throws(() => parsePth(zip, { what: 'model.pth' }), /refusing to load model\.pth: pickle names global "subprocess\.Popen"/);
});

test('zip .pth written here: archive prefix, storage views, big-endian byteorder, tied weights', () => {
  // {'w': tensor(storage '0', offset 1, size (2,2), stride (1,2)), 'tied': same tensor object via memo}
  const pkl = latin1(
    '\x80\x02}q\x00(X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x05tq\x07QK\x01K\x02K\x02\x86q\x08K\x01K\x02\x86q\x09\x89ccollections\nOrderedDict\n)Rq\x0atq\x0bRq\x0cX\x04\x00\x00\x00tiedq\x0dh\x0cu.',
  );
  const storage = new Uint8Array(20);
  const dv = new DataView(storage.buffer);
  for (let i = 0; i < 5; i++) dv.setFloat32(i * 4, i + 0.5, false); // big-endian
  const zip = zipSync({
    'weird name/data.pkl': [pkl, { level: 0 }],
    'weird name/data/0': [storage, { level: 0 }],
    'weird name/byteorder': [latin1('big'), { level: 0 }],
  });
  const file = parsePth(zip, { what: 'be.pth' });
  assert.equal(file.unwrapped, null);
  const w = file.tensors.get('w')!;
  assert.deepEqual(w.shape, [2, 2]);
  // storage [0.5 1.5 2.5 3.5 4.5], offset 1, stride (1,2): [[1.5, 3.5], [2.5, 4.5]]
  assert.deepEqual(Array.from(w.data as Float32Array), [1.5, 3.5, 2.5, 4.5]);
  assert.equal(file.tensors.get('tied'), w);
  // The same archive re-zipped with deflate (torch stores entries; other tools may compress them).
  const deflated = zipSync({
    'weird name/data.pkl': [pkl, { level: 6 }],
    'weird name/data/0': [storage, { level: 6 }],
    'weird name/byteorder': [latin1('big'), { level: 6 }],
  });
  assert.deepEqual(Array.from(parsePth(deflated, { what: 'd.pth' }).tensors.get('w')!.data as Float32Array), [1.5, 3.5, 2.5, 4.5]);
});

test('every torch storage type: dtype, element size and strided view', () => {
  const types: [string, string, number][] = [
    ['FloatStorage', 'F32', 4], ['DoubleStorage', 'F64', 8], ['HalfStorage', 'F16', 2], ['BFloat16Storage', 'BF16', 2],
    ['LongStorage', 'I64', 8], ['IntStorage', 'I32', 4], ['ShortStorage', 'I16', 2], ['CharStorage', 'I8', 1],
    ['ByteStorage', 'U8', 1], ['BoolStorage', 'BOOL', 1],
  ];
  for (const [storageType, dtype, size] of types) {
    // tensor(storage of 5 elements, offset 1, size (2, 2), stride (1, 2)) -> elements [[1, 3], [2, 4]]
    const pkl = latin1(
      `\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n${storageType}\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x05tQK\x01K\x02K\x02\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\n)RtR.`,
    );
    // Element i holds the byte pattern i+1 in its lowest byte (a distinct, valid value for every dtype).
    const storage = new Uint8Array(5 * size);
    for (let i = 0; i < 5; i++) storage[i * size] = i + 1;
    const t = pthTensor(parsePth(zipSync({ 'x/data.pkl': [pkl, { level: 0 }], 'x/data/0': [storage, { level: 0 }] }), { what: storageType }));
    assert.equal(t.dtype, dtype, storageType);
    assert.deepEqual(t.shape, [2, 2]);
    const got = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    assert.deepEqual(Array.from({ length: 4 }, (_, i) => got[i * size]), [2, 4, 3, 5], storageType);
  }
});

test('truncated or corrupt .pth files give clear errors', { skip: noFormats }, () => {
  const zip = readFileSync(FORMATS + 'sample_checkpoint.pth');
  assert.throws(() => parsePth(zip.subarray(0, zip.length - 40), { what: 'cut.pth' }), /cut\.pth: cannot read the zip archive \(truncated or corrupt file\?\)/);
  assert.throws(() => parsePth(zip.subarray(0, 100), { what: 'cut.pth' }), /cut\.pth: cannot read the zip archive/);
  assert.throws(() => parsePth(latin1('hello world'), { what: 'text.pth' }), /text\.pth: not a torch\.save file/);
  if (!noLpips) {
    const legacy = readFileSync(`${LPIPS}v0.1/alex.pth`);
    assert.throws(() => parsePth(legacy.subarray(0, legacy.length - 10), { what: 'lp.pth' }), /lp\.pth: storage "\d+" runs past the end of the file \(truncated\?\)/);
    assert.throws(() => parsePth(legacy.subarray(0, 600), { what: 'lp.pth' }), /lp\.pth: pickle data truncated/);
  }
});

test('a deeply nested pickle names the file instead of overflowing the stack', () => {
  const latin = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  // PROTO 2, 100,000 EMPTY_DICTs, then SETITEMs folding each into the one below under key 'a': {'a': {'a': ...}}.
  const n = 100_000;
  const parts: string[] = ['\x80\x02', '}'];
  for (let i = 1; i < n; i++) parts.push('X\x01\x00\x00\x00a}');
  for (let i = 1; i < n; i++) parts.push('s');
  parts.push('.');
  const zip = zipSync({ 'archive/data.pkl': [latin(parts.join('')), { level: 0 }], 'archive/version': [latin('3\n'), { level: 0 }] });
  assert.throws(() => parsePth(zip, { what: 'deep.pth' }), /^Error: deep\.pth: .*nested/);
});

test('argparse.Namespace (the reference\'s training checkpoints pickle their args) reads as plain values, nothing run', () => {
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  const str = (s: string) => [0x58, s.length, 0, 0, 0, ...enc(s)]; // BINUNICODE
  // {'args': Namespace(image_size=64, lr=<BINFLOAT 0.5>), 'epoch': 3} as protocol 2 writes it (NEWOBJ + BUILD).
  const bytes = Uint8Array.from([
    0x80, 2, 0x7d, 0x28, ...str('args'),
    0x63, ...enc('argparse\nNamespace\n'), 0x29, 0x81, // GLOBAL, EMPTY_TUPLE, NEWOBJ
    0x7d, 0x28, ...str('image_size'), 0x4b, 64, ...str('lr'), 0x47, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0, 0x75, 0x62, // dict, SETITEMS, BUILD
    ...str('epoch'), 0x4b, 3, 0x75, 0x2e,
  ]);
  const f = parsePth(zipSync({ 'archive/data.pkl': bytes, 'archive/version': new TextEncoder().encode('3\n') }));
  assert.equal(f.tensors.size, 0);
  assert.deepEqual(f.extras.get('args'), { image_size: 64, lr: 0.5 });
  assert.equal(f.extras.get('epoch'), 3);
});
