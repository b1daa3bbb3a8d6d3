import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCodebook, readManifest, writeCodebook, excludedLocalRows, type CodebookContents } from './package.js';
import { readSafetensors } from '../io/files.js';
import { EmbeddingCache } from '../models/clip/embedding-cache.js';
import { interpretEmbedding } from './interpret.js';

function contents(): CodebookContents {
  const dim = 4;
  const local = Float32Array.from({ length: 3 * dim }, (_, i) => Math.sin(i));
  const global = Float32Array.from({ length: 2 * dim }, (_, i) => Math.cos(i));
  return {
    manifest: {
      source: 'built',
      llm: { id: 'tiny.gguf', vocabHash: 'a'.repeat(64), vocabSize: 3 },
      clip: { id: 'clip-x', fingerprint: 'f'.repeat(64), dim, isStandIn: true },
      rendering: { tokenStyle: 'sentencepiece', candidateStyle: 'detokenized' },
      expansion: { prefix: 'a photo of', m: 1, excludedContinuations: [0] },
      templates: { name: 'single', count: 1, hash: 'h' },
      filter: { similarity: 'cosine', k: 5, threshold: 100, topN: null, imageCount: 7 },
      counts: { vocabulary: 3, candidates: 5, global: 2 },
    },
    local, localTexts: ['unknown', 'dog', 's'], global,
    globalEntries: [{ text: 'dog', ids: [1], count: 120 }, { text: 'dogs', ids: [1, 2], count: 101 }],
  };
}

test('a package round-trips with the reference key names and refuses another LLM or CLIP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-cb-'));
  try {
    const c = contents();
    writeCodebook(dir, c);
    assert.deepEqual([...readSafetensors(join(dir, 'local.safetensors')).tensors.keys()], ['tok_embeddings.weight']);
    assert.deepEqual([...readSafetensors(join(dir, 'global.safetensors')).tensors.keys()], ['tok_embeddings_global.weight']);
    const m = readManifest(dir);
    assert.equal(m.format, 'v2l-codebook');
    assert.equal(m.version, 1);
    assert.match(m.files['local.safetensors'], /^[0-9a-f]{64}$/);
    const ok = loadCodebook(dir, { vocabulary: { hash: 'a'.repeat(64), size: 3 }, clip: { id: 'clip-x', fingerprint: 'f'.repeat(64), dim: 4 } });
    assert.deepEqual(ok.local, c.local);
    assert.deepEqual(ok.global, c.global);
    assert.deepEqual(ok.globalEntries, c.globalEntries);
    assert.throws(() => loadCodebook(dir, { vocabulary: { hash: 'b'.repeat(64), size: 3 }, llmId: 'other.gguf' }),
      /built for LLM vocabulary aaaaaaaaaaaa \("tiny.gguf"\), the LLM in use \("other.gguf"\) has vocabulary bbbbbbbbbbbb/);
    assert.throws(() => loadCodebook(dir, { vocabulary: { hash: 'a'.repeat(64), size: 32000 } }), /3 local rows for LLM "tiny.gguf", the LLM in use has 32000 tokens/);
    assert.throws(() => loadCodebook(dir, { clip: { id: 'clip-y', fingerprint: 'e'.repeat(64), dim: 4 } }), /built with CLIP "clip-x" \(fingerprint ffffffffffff\), the CLIP in use is "clip-y"/);
    assert.throws(() => loadCodebook(dir, { clip: { id: 'clip-y', fingerprint: 'f'.repeat(64), dim: 512 } }), /4-d \("clip-x"\), the CLIP in use \("clip-y"\) gives 512-d/);
    // Damaged packages name the file.
    const gj = readFileSync(join(dir, 'global.json'), 'utf8');
    writeFileSync(join(dir, 'global.json'), JSON.stringify({ entries: [{ text: 'dog' }] }));
    assert.throws(() => loadCodebook(dir), /global.json has 1 entries for 2 rows/);
    writeFileSync(join(dir, 'global.json'), gj);
    rmSync(join(dir, 'local.json'));
    assert.throws(() => loadCodebook(dir), /local.json is missing/);
    rmSync(join(dir, 'manifest.json'));
    assert.throws(() => loadCodebook(dir), /manifest.json is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('excluded local rows: absent means none; written rows come back; rows outside the vocabulary or unsorted are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-cb-'));
  try {
    const c = contents();
    writeCodebook(dir, c);
    assert.deepEqual(excludedLocalRows(loadCodebook(dir).manifest), []);
    writeCodebook(dir, { ...c, manifest: { ...c.manifest, localSearch: { excludedRows: [0] } } });
    assert.deepEqual(excludedLocalRows(loadCodebook(dir).manifest), [0]);
    for (const [rows, msg] of [[[2, 1], /entry 1 is 1/], [[3], /in \[0, 3\), entry 0 is 3/], [[0, 1, 2], /excludes all 3 local rows/]] as const) {
      writeCodebook(dir, { ...c, manifest: { ...c.manifest, localSearch: { excludedRows: [...rows] } } });
      assert.throws(() => loadCodebook(dir), msg);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('embedding cache: shards persist across instances, keyed by content; wrong width refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-cache-'));
  try {
    const a = new EmbeddingCache(dir, 'text-x', 3);
    a.put(['k1', 'k2'], Float32Array.from([1, 2, 3, 4, 5, 6]));
    a.put(['k3'], Float32Array.from([7, 8, 9]));
    const b = new EmbeddingCache(dir, 'text-x', 3, 1);
    assert.equal(b.size, 3);
    assert.deepEqual(Array.from(b.get('k2')!), [4, 5, 6]);
    assert.deepEqual(Array.from(b.get('k3')!), [7, 8, 9]);
    assert.deepEqual(Array.from(b.get('k1')!), [1, 2, 3]);
    assert.equal(b.get('nope'), undefined);
    b.put(['k4'], Float32Array.from([0, 0, 1]));
    assert.equal(new EmbeddingCache(dir, 'text-x', 3).size, 4, 'a new shard gets a new name');
    assert.equal(new EmbeddingCache(dir, 'text-other', 3).size, 0, 'namespaces do not mix');
    assert.throws(() => new EmbeddingCache(dir, 'text-x', 5), /width 3, this CLIP has 5/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('interpretation ranks global entries by the quantizer distance |z|^2 + |e|^2 - 2 z.e', () => {
  const dim = 2;
  // Entry 1 has the best cosine but a large norm; the quantizer distance prefers entry 0.
  const global = Float32Array.from([0.6, 0.1, 3, 0, 0, 1]);
  const entries = [{ text: 'a' }, { text: 'b' }, { text: 'c' }];
  const z = Float32Array.from([1, 0]);
  const r = interpretEmbedding(z, { global, globalEntries: entries, dim }, 3);
  assert.deepEqual(r.map((x) => x.entry.text), ['a', 'c', 'b']);
  assert.ok(Math.abs(r[0].distance - (1 + 0.37 - 1.2)) < 1e-6);
  assert.ok(Math.abs(r[2].cosine - 1) < 1e-6);
  assert.throws(() => interpretEmbedding(Float32Array.from([1, 0, 0]), { global, globalEntries: entries, dim }), /3 values, the codebook is 2-d/);
});

test('the top folder of an import finds its codebook/; a folder without one says exactly that', () => {
  const top = mkdtempSync(join(tmpdir(), 'v2l-cb-top-'));
  try {
    writeCodebook(join(top, 'codebook'), contents());
    writeFileSync(join(top, 'manifest.json'), JSON.stringify({ format: 'v2l-import/1' }));
    assert.equal(loadCodebook(top).dir, join(top, 'codebook'));
    assert.equal(readManifest(top).format, 'v2l-codebook');
    const empty = join(top, 'empty');
    mkdirSync(empty);
    assert.throws(() => readManifest(empty), /no codebook package here .* nor in .*empty\/codebook; give the folder written by `v2l codebook build`/);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
