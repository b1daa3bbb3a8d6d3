// The full-size stand-in preset's options (14 px patches, a text tower of its own width) at small widths:
// the files load through the real CLIP loader and the config says the shapes. The vit-l-14 preset itself
// (428M parameters, 1.7 GB) is too big to write in a test; its numbers are checked against ViT-L/14's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAND_IN_PRESETS, writeStandInClip } from './stand-in.js';
import { loadClip } from './transformers-clip.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const merges = sharedPath('models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
const tmp = mkdtempSync(join(tmpdir(), 'v2l-standin-preset-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('vit-l-14 preset has CLIP ViT-L/14 shapes', () => {
  const p = STAND_IN_PRESETS['vit-l-14'];
  assert.deepEqual({ hidden: p.hidden, layers: p.layers, heads: p.heads, patch: p.patch, proj: p.projectionDim, text: p.text },
    { hidden: 1024, layers: 24, heads: 16, patch: 14, proj: 768, text: { hidden: 768, layers: 12, heads: 12 } });
});

test('stand-in with 14 px patches and its own text width loads and embeds', { skip: skipUnless(merges, "CLIP's BPE merges") }, async () => {
  const dir = join(tmp, 'clip');
  writeStandInClip(dir, { mergesPath: merges, hidden: 32, heads: 2, layers: 1, patch: 14, projectionDim: 768, text: { hidden: 48, layers: 1, heads: 3 } });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { vision_config: { patch_size: number; hidden_size: number }; text_config: { hidden_size: number; num_attention_heads: number } };
  assert.equal(cfg.vision_config.patch_size, 14);
  assert.equal(cfg.vision_config.hidden_size, 32);
  assert.equal(cfg.text_config.hidden_size, 48);
  assert.equal(cfg.text_config.num_attention_heads, 3);
  const clip = await loadClip(dir);
  try {
    assert.ok(clip.isStandIn);
    const img = { width: 64, height: 48, channels: 3 as const, data: Uint8Array.from({ length: 64 * 48 * 3 }, (_, i) => (i * 31) & 255) };
    const e = await clip.embedImages([img]);
    const t = await clip.embedTexts(['a photo of a dog']);
    assert.equal(e.length, 768);
    assert.equal(t.length, 768);
    assert.ok(e.every(Number.isFinite) && t.every(Number.isFinite));
  } finally {
    await clip.dispose();
  }
});
