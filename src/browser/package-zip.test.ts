// The V2L package zip of the static page: split into the export's and the codebook's files, and each
// damaged, cut, incomplete or ambiguous archive refused naming what is wrong (the page shows the message;
// browser.test.ts loads a zip end to end in Chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync, type Zippable } from 'fflate';
import { unpackPackage, looksLikeZip, CODEBOOK_FILES } from './package-zip.js';
import { EXPORT_NEEDS } from './tokenizer.js';

const content = (name: string) => new TextEncoder().encode(`bytes of ${name} `.repeat(50));
const folder = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, content(n)]));
const EXPORT = [...EXPORT_NEEDS, 'a_further_model.onnx']; // a file the page does not need comes along
// Stored and deflated entries both (level 0 stores).
const zip = (tree: Zippable, level: 0 | 6 = 6) => zipSync(tree, { level });

test('a zip of the export and the codebook, each in its folder: both roles, the bytes as zipped', async () => {
  for (const level of [0, 6] as const) {
    const out = unpackPackage(zip({ pkg: { onnx: folder(EXPORT), codebook: folder(CODEBOOK_FILES) } }, level), 'pkg.zip');
    assert.deepEqual(out.tokenizer!.map((f) => f.name).sort(), [...EXPORT].sort());
    assert.deepEqual(out.codebook!.map((f) => f.name).sort(), [...CODEBOOK_FILES].sort());
    const manifest = out.codebook!.find((f) => f.name === 'manifest.json')!;
    assert.deepEqual(new Uint8Array(await manifest.file.arrayBuffer()), content('manifest.json'));
  }
});

test('a zip of the export alone, at its top: the tokenizer role only', () => {
  const out = unpackPackage(zip({ ...folder(EXPORT), '__MACOSX/': {}, '.DS_Store': content('x') }), 'export.zip');
  assert.equal(out.tokenizer!.length, EXPORT.length);
  assert.equal(out.codebook, undefined);
});

test('a cut, damaged, incomplete, ambiguous or unrelated zip is refused naming the reason', () => {
  const good = zip({ onnx: folder(EXPORT), codebook: folder(CODEBOOK_FILES) }, 0);
  assert.ok(looksLikeZip(good));
  assert.throws(() => unpackPackage(good.subarray(0, good.length >> 1), 'cut.zip'), /^Error: cut\.zip: cannot read the zip archive \(truncated or corrupt file\?\)/);
  const flipped = good.slice();
  const at = Buffer.from(flipped).indexOf('bytes of decoder.onnx');
  flipped[at + 3] ^= 0xff;
  assert.throws(() => unpackPackage(flipped, 'bad.zip'), /bad\.zip: .*"onnx\/decoder\.onnx" is damaged \(its CRC-32 does not match/);
  assert.throws(() => unpackPackage(zip({ onnx: folder(EXPORT.filter((f) => f !== 'decoder.onnx')) }), 'p.zip'), /p\.zip: the tokenizer export in its folder "onnx\/" lacks decoder\.onnx/);
  assert.throws(() => unpackPackage(zip({ ...folder(EXPORT), ...folder(CODEBOOK_FILES) }), 'flat.zip'), /flat\.zip: the top folder holds files of both .* two folders/);
  assert.throws(() => unpackPackage(zip({ a: folder(EXPORT), b: folder(EXPORT) }), 'two.zip'), /two\.zip: two tokenizer exports, in the folder "a\/" and the folder "b\/"/);
  assert.throws(() => unpackPackage(zip({ 'notes.txt': content('n') }), 'other.zip'), /other\.zip holds no tokenizer export .* it holds notes\.txt/);
});
