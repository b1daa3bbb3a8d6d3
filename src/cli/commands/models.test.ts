// `v2l models stand-in-clip --text-hidden`: the text tower gets its own width, so the local codebook's rows
// (text embeddings) can span more dimensions than the default 64-wide stand-in allows (docs/training.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStandInClip } from '../../models/clip/stand-in.js';
import { skipUnless } from '../../util/test-utils/shared.js';
import { standInShapes } from './models.js';

const merges = new URL('../../../../shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz', import.meta.url).pathname;

test('stand-in shapes: --text-hidden widens the text tower only; absent or equal, both towers --hidden wide', () => {
  assert.deepEqual(standInShapes({ hidden: 64, layers: 2 }), { hidden: 64, layers: 2 });
  assert.deepEqual(standInShapes({ hidden: 64, layers: 2, textHidden: 64 }), { hidden: 64, layers: 2 });
  assert.deepEqual(standInShapes({ hidden: 64, layers: 2, textHidden: 768 }), { hidden: 64, layers: 2, text: { hidden: 768, layers: 2, heads: 12 } });
  assert.deepEqual(standInShapes({ hidden: 64, layers: 1, textHidden: 100 }), { hidden: 64, layers: 1, text: { hidden: 100, layers: 1, heads: 4 } });
});

test('stand-in written with --text-hidden: config.json has the two widths', { skip: skipUnless(merges, "CLIP's BPE merges") }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-standin-text-'));
  try {
    writeStandInClip(dir, { seed: 1, mergesPath: merges, ...standInShapes({ hidden: 16, layers: 1, textHidden: 128 }) });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { text_config: { hidden_size: number; num_attention_heads: number }; vision_config: { hidden_size: number } };
    assert.equal(cfg.text_config.hidden_size, 128);
    assert.equal(cfg.text_config.num_attention_heads, 2);
    assert.equal(cfg.vision_config.hidden_size, 16);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
